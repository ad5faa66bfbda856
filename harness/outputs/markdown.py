"""Markdown summaries: short enough for a PR comment, exact enough to act on (the verdict and regressions first)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.files import write_atomically
from harness.formatting import LISTED, listing, num, p_value, pct, usd
from harness.outputs import output
from harness.records import ABComparison, BaselineComparison, Change, RunManifest, TrialFacts


@output("summary", filename="summary.md", description="the Markdown summary (for a PR comment or a CI step summary)")
def write_summary(run: Any, path: Path) -> Path:
    return write_atomically(path, run_summary(run.manifest, run.facts()))


def verdict_heading(manifest: RunManifest) -> str:
    """'sentiment: ✅ all thresholds and gates met': the verdict as a Markdown heading's text."""
    verdict = manifest.verdict
    mark = "⚠️" if verdict.status != "completed" else "✅" if verdict.passed else "❌"
    return f"{manifest.suite.name}: {mark} {verdict.headline()}"


def verdict_lines(manifest: RunManifest, facts: Iterable[TrialFacts]) -> list[str]:
    """What failed the run, then what the thresholds allowed: a Markdown list item each."""
    verdict = manifest.verdict
    return [f"- ❌ {problem}" for problem in verdict.problems()] + \
        [f"- ➖ allowed: {line}" for line in verdict.allowed(facts)]


def run_summary(manifest: RunManifest, facts: Iterable[TrialFacts] = ()) -> str:
    """The verdict (what failed, what was allowed), any baseline comparison, the headline table, the A/B verdicts."""
    lines = [f"## {verdict_heading(manifest)}", ""]
    told = verdict_lines(manifest, facts)
    lines += [*told, ""] if told else []
    if manifest.baseline:
        lines += comparison_summary(manifest.baseline, "baseline", "this run", heading="###") + [""]
    lines += ["| prompt | model | pass rate [95% CI] | errors | p50 ms | cost |", "|---|---|---|---|---|---|"]
    for v in manifest.variants or []:
        low, high = v.pass_rate_ci
        lines.append(f"| `{v.prompt_id}` | `{v.model_id}` | {pct(v.pass_rate)} [{pct(low)}–{pct(high)}] "
                     f"| {v.errors} | {num(v.latency_p50_ms)} | {usd(v.cost_usd)} |")
        if v.repeats:
            r = v.repeats
            flaky = ", ".join(f"`{c}`" for c in r.flaky[:LISTED]) or "none"
            lines.append(f"| | ↳ {r.k} repeats | pass@{r.k} {pct(r.pass_at_k)} · pass^{r.k} "
                         f"{pct(r.pass_hat_k)} | flaky: {flaky} | | |")
    if manifest.ab:
        lines += ["", "### A/B", ""]
        lines += [f"- {m.verdict}" for m in manifest.ab.metrics]
        if len(manifest.variants or []) > 2:  # which pair each difference is of
            lines += ["", *ab_pairs(manifest.ab)]
    return "\n".join(lines) + "\n"


def ab_pairs(ab: ABComparison) -> list[str]:
    """Every paired difference of the A/B comparison, each naming its pair."""
    lines = ["| metric | A | B | B − A [95% CI] | p (Holm) | n |", "|---|---|---|---|---|---|"]
    for metric in ab.metrics:
        for d in metric.pairs:
            lines.append(f"| {d.metric} | `{d.a}` | `{d.b}` | {d.delta:+.3f} [{d.ci[0]:+.3f}, {d.ci[1]:+.3f}] "
                         f"| {p_value(d.p_adjusted if d.p_adjusted is not None else d.p_value)} | {d.n} |")
    return lines


def comparison_summary(comparison: BaselineComparison, base: str, candidate: str, *, heading: str = "##") -> list[str]:
    """Regressions first, then gates, metric deltas with intervals, improvements, and what was added or removed."""
    status = "✅ gates passed" if comparison.passed else "❌ gate failed"
    lines = [f"{heading} {candidate} vs {base}: {status}", "",
             f"{comparison.matched} trials matched · {len(comparison.regressions)} regressions · "
             f"{len(comparison.improvements)} improvements · {len(comparison.new)} new · "
             f"{len(comparison.removed)} removed · {len(comparison.errored)} errored", ""]
    lines += [f"- {line}" for line in comparison.explain()] + [""]
    if comparison.regressions:
        lines += ["**Regressions**", ""] + change_lines(comparison.regressions) + [""]
    for gate in comparison.gates:
        lines.append(f"- {'✅' if gate.passed else '❌'} {gate.describe()}")
    if comparison.deltas:
        lines += ["", "| variant | metric | base | candidate | Δ [95% CI] | p (Holm) | n |",
                  "|---|---|---|---|---|---|---|"]
        for d in comparison.deltas:
            lines.append(f"| `{d.variant.prompt_id}` × `{d.variant.model_id}` | {d.metric} "
                         f"| {num(d.mean_a, 3)} | {num(d.mean_b, 3)} | {d.delta:+.3f} "
                         f"[{d.ci[0]:+.3f}, {d.ci[1]:+.3f}] | {p_value(d.p_adjusted)} | {d.n} |")
    if comparison.improvements:
        lines += ["", "**Improvements**", ""] + change_lines(comparison.improvements)
    for kind in ("new", "removed", "errored"):
        trials = getattr(comparison, kind)
        if trials:
            lines += ["", f"**{kind.capitalize()}**: {listing([f'`{t}`' for t in trials])}"]
    return lines


def change_lines(changes: list[Change]) -> list[str]:
    """A Markdown list item per change (the first LISTED), with its reasons."""
    rows = [f"- `{c.case_id}` (`{c.prompt_id}` × `{c.model_id}`"
            + (f", repeat {c.repeat}" if c.repeat else "") + f"): {'; '.join(c.reasons)}"
            for c in changes[:LISTED]]
    if len(changes) > LISTED:
        rows.append(f"- … and {len(changes) - LISTED} more")
    return rows
