"""The pull-request comment: what a reviewer needs of a run, in GitHub's Markdown, short enough to read.

The verdict first (what failed, what the thresholds allowed), then a row per variant with its pass rate and
interval, its change against the baseline with the paired test's interval and p, errors, latency, tokens and
cost; then what regressed and improved (and whether it is significant, and which gate decided), the run's
tokens and cost, and its slowest cases. Long lists fold into <details>. A hidden marker names the suite, so
harness.outputs.github updates its own comment instead of adding another on every push.
"""

from __future__ import annotations

from pathlib import Path

from harness.files import write_atomically
from harness.formatting import num, p_value, pct, usd
from harness.outputs import output
from harness.outputs.markdown import change_lines, verdict_heading, verdict_lines
from harness.records import BaselineComparison, RunManifest, TrialFacts, VariantMetrics
from harness.results import Run

SLOWEST = 5


def marker(suite_name: str) -> str:
    """The hidden line that tells this suite's comment apart from any other comment on the pull request."""
    return f"<!-- harness:pr-comment suite={suite_name.replace('--', '-')} -->"


@output("pr-comment", description="the pull-request comment (harness comment posts it)")
def write_comment(run: Run, path: Path) -> Path:
    return write_atomically(path, pr_comment(run))


def pr_comment(run: Run, *, details_url: str | None = None) -> str:
    """The comment's Markdown; ``details_url`` (the workflow run, whose artifacts hold the report) is linked."""
    manifest = run.manifest
    facts = run.facts()
    lines = [marker(manifest.suite.name), f"### {verdict_heading(manifest)}", ""]
    told = verdict_lines(manifest, facts)
    lines += [*told, ""] if told else []
    lines += _variants(manifest) + [""]
    if manifest.baseline:
        lines += _baseline(manifest.baseline) + [""]
    lines += [_usage(manifest), ""]
    lines += _slowest(facts)
    trials = manifest.counts.completed if manifest.counts else 0
    footer = f"harness {manifest.harness_version or ''}".strip() + f" · {trials} trials"
    if details_url:
        footer += f" · [the full report]({details_url}) (artifact of this workflow run)"
    return "\n".join([*lines, f"<sub>{footer}</sub>"]) + "\n"


def _variants(manifest: RunManifest) -> list[str]:
    deltas = {(d.variant.prompt_id, d.variant.model_id): d for d in (manifest.baseline.deltas if manifest.baseline
                                                                       else []) if d.metric == "pass_rate"}
    alpha = manifest.baseline.alpha if manifest.baseline else 0.05
    lines = ["| variant | pass rate [95% CI] | vs baseline [95% CI] | errors | p50 / p95 ms | tokens in / out | cost |",
             "|---|---|---|---|---|---|---|"]
    for v in manifest.variants or []:
        d = deltas.get((v.prompt_id, v.model_id))
        change = "–" if d is None else (f"{d.delta * 100:+.1f} pts [{d.ci[0] * 100:+.1f}, {d.ci[1] * 100:+.1f}] "
                                        f"p={p_value(d.p_adjusted if d.p_adjusted is not None else d.p_value)}"
                                        + {1: " ▲ significant", -1: " ▼ significant", 0: ""}[d.direction(alpha)])
        lines.append(f"| `{v.prompt_id}` × `{v.model_id}` | {_rate(v)} | {change} | {v.errors} "
                     f"| {num(v.latency_p50_ms)} / {num(v.latency_p95_ms)} | {num(v.prompt_tokens)} / "
                     f"{num(v.completion_tokens)} | {usd(v.cost_usd)} |")
    return lines


def _rate(v: VariantMetrics) -> str:
    low, high = v.pass_rate_ci
    return f"**{pct(v.pass_rate)}** [{pct(low)}–{pct(high)}]"


def _baseline(comparison: BaselineComparison) -> list[str]:
    lines = [f"**Against the baseline** `{comparison.source}`: {comparison.matched} trials matched · "
             f"{len(comparison.regressions)} regressions · {len(comparison.improvements)} improvements", ""]
    lines += [f"- {line}" for line in comparison.explain()]
    for title, changes in (("Regressions", comparison.regressions), ("Improvements", comparison.improvements)):
        if changes:
            lines += ["", f"<details><summary>{title} ({len(changes)})</summary>", "", *change_lines(changes), "",
                      "</details>"]
    return lines


def _usage(manifest: RunManifest) -> str:
    variants = manifest.variants or []
    costs = [v.cost_usd for v in variants if v.cost_usd is not None]
    text = (f"**Tokens and cost**: {num(sum(v.prompt_tokens for v in variants))} prompt · "
            f"{num(sum(v.completion_tokens for v in variants))} completion tokens · "
            f"{usd(sum(costs)) if costs else 'cost unknown'}")
    judges = [v.judge for v in variants if v.judge]
    if judges:
        judge_costs = [j.judge_cost_usd for j in judges if j.judge_cost_usd is not None]
        text += (f" · judge: {num(sum(j.judge_calls for j in judges))} calls, "
                 f"{num(sum(j.judge_prompt_tokens + j.judge_completion_tokens for j in judges))} tokens, "
                 f"{usd(sum(judge_costs)) if judge_costs else 'cost unknown'}")
    cached = manifest.counts.cached if manifest.counts else 0
    return text + (f" · {cached} answers from the cache" if cached else "")


def _slowest(facts: list[TrialFacts]) -> list[str]:
    answered = sorted((f for f in facts if not f.error), key=lambda f: f.latency_ms, reverse=True)[:SLOWEST]
    if not answered:
        return []
    rows = [f"| `{f.case_id}`{f' (repeat {f.repeat})' if f.repeat else ''} | `{f.prompt_id}` × `{f.model_id}` "
            f"| {num(f.latency_ms)}{' (cached)' if f.cached else ''} |" for f in answered]
    return [f"<details><summary>Slowest cases ({min(SLOWEST, len(answered))} of {len(facts)})</summary>", "",
            "| case | variant | latency ms |", "|---|---|---|", *rows, "", "</details>", ""]
