"""What ``harness run`` shows in a terminal: a progress bar while running, then a summary table.

rich turns colours off by itself when stdout is not a terminal or NO_COLOR is set, and the
progress bar is only drawn on a terminal, so CI logs stay plain.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.formatting import LISTED, listing, num, p_value, pct, usd
from harness.history import PastRun
from harness.metrics import NOTHING_PASSED
from harness.outputs import output
from harness.records import (
    TRANSFORM_FAILED,
    BaselineComparison,
    Change,
    Counts,
    ScorerMetrics,
    TrialResult,
    VariantMetrics,
)
from harness.results import Run
from harness.spec import ModelSpec, Suite

if TYPE_CHECKING:
    from harness.importers.common import Imported


class RunConsole:
    """An Observer of a run (see harness.run) that draws its progress."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.out = _console()
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[tally]}"), TimeElapsedColumn(),
                                  console=self.console, disable=not self.console.is_terminal, transient=True)
        self._task: Any = None
        self._tally = {"pass": 0, "fail": 0, "error": 0}

    def __enter__(self) -> RunConsole:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def planned(self, suite: Suite, models: Sequence[ModelSpec], models_reason: str, trials: int) -> None:
        names = ", ".join(m.id for m in models)
        self.console.print(f"[bold]{escape(suite.name)}[/]: {trials} trials · model: {escape(names)} "
                           f"({escape(models_reason)})", soft_wrap=True)
        self._task = self._progress.add_task("running", total=trials, tally="")

    def notice(self, message: str) -> None:
        self.console.print(f"[yellow]{escape(message)}[/]")

    def finished(self, result: TrialResult) -> None:
        outcome = "error" if result.response.error else ("pass" if result.passed else "fail")
        self._tally[outcome] += 1
        tally = f"[green]{self._tally['pass']} pass[/] [red]{self._tally['fail']} fail[/]"
        if self._tally["error"]:
            tally += f" [yellow]{self._tally['error']} error[/]"
        self._progress.update(self._task, advance=1, tally=tally)


def _console() -> Console:
    """stdout; in a pipe or CI log rich would squeeze tables to 80 columns, so allow 120 unless COLUMNS says."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=120)
    return console


def print_history(runs: list[PastRun]) -> None:
    out = _console()
    if not runs:
        out.print("no runs of this suite yet")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("run", "result", "variant", "pass rate", "n", "commit"):
        table.add_column(header, justify="right" if header in ("pass rate", "n") else "left",
                         no_wrap=header == "run")
    for run in runs:
        manifest = run.manifest
        verdict = "✓ passed" if manifest.passed else "✗ failed"
        result = verdict if manifest.status == "completed" else manifest.status
        for i, v in enumerate(manifest.variants or []):
            first = i == 0
            table.add_row(run.directory.name if first else "", result if first else "",
                          escape(f"{v.prompt_id} × {v.model_id}"), pct(v.pass_rate),
                          str(v.scored), (manifest.environment.git_commit or "")[:8] if first else "")
    out.print(table)


def print_plugins(entries: list[tuple[str, Any]]) -> None:
    """What ``harness plugins`` shows: each scorer, provider and output, and the package it comes from."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("kind", "name", "from"):
        table.add_column(header)
    for kind, entry in entries:
        table.add_row(kind.rstrip("s"), escape(entry.name), escape(str(entry.origin)))
    out = _console()
    out.print(table)
    out.print("Any other model string goes to litellm (provider/model, e.g. openai/gpt-4o-mini).")


def print_import(imported: Imported, path: Path, check: str) -> None:
    """What ``harness import`` shows: prompts, cases, assertions translated of all, each kind left untranslated."""
    tally = imported.tally
    table = Table(box=box.SIMPLE, pad_edge=False, show_header=False, title=f"{imported.tool} -> harness",
                  title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("prompts", str(imported.prompts))
    table.add_row("cases", str(imported.cases))
    table.add_row("assertions translated", f"{sum(tally.translated.values())} / {sum(tally.total.values())}")
    for kind, count in tally.untranslated.most_common():
        table.add_row(f"  untranslated: {escape(kind)}", str(count))
    for kind, count in tally.other.most_common():
        table.add_row(f"  also left out: {escape(kind)}", str(count))
    out = _console()
    out.print(table)
    out.print(f"suite:   {escape(str(path))}", highlight=False)
    out.print(escape(check), highlight=False)


def _scorer_columns(variants: list[VariantMetrics]) -> list[tuple[str, Any]]:
    """A column per scorer (mean), or accuracy and macro-F1 for a classification scorer, and the judge's
    agreement with human labels; then one per named metric (the mean of its scorers' scores) and derived metric.
    Weight-0 scorers (reported, not voting), and metrics of only such, stay in run.json and the report."""
    columns: list[tuple[str, Any]] = []
    names = dict.fromkeys(name for v in variants for name, s in v.scorers.items() if s.weight > 0)
    for name in names:
        if any(_scorer(v, name).accuracy is not None for v in variants):
            columns.append((f"{name} acc · F1", lambda v, n=name: _accuracy(_scorer(v, n))))
        else:
            columns.append((name, lambda v, n=name: num(_scorer(v, n).mean, 3)))
        if any(_scorer(v, name).agreement is not None for v in variants):
            columns.append((f"{name} vs humans", lambda v, n=name: _agreement(_scorer(v, n))))
    for name in dict.fromkeys(name for v in variants for name, m in v.named_metrics.items()
                              if any(scorer in names for scorer in m.scorers)):
        columns.append((f"{name} (metric)", lambda v, n=name: num(v.named_metrics[n].mean, 3)
                        if n in v.named_metrics else "–"))
    for name in dict.fromkeys(name for v in variants for name in v.derived):
        columns.append((name, lambda v, n=name: num(v.derived[n].value, 3) if n in v.derived else "–"))
    return columns


_NO_SCORES = ScorerMetrics(n=0, pass_rate=0.0, pass_rate_ci=(0.0, 1.0))


def _scorer(variant: VariantMetrics, name: str) -> ScorerMetrics:
    return variant.scorers.get(name, _NO_SCORES)


def _accuracy(scorer: ScorerMetrics) -> str:
    return "–" if scorer.accuracy is None else f"{pct(scorer.accuracy)} · {num(scorer.macro_f1, 3)}"


def _agreement(scorer: ScorerMetrics) -> str:
    return "–" if scorer.agreement is None else f"{pct(scorer.agreement)} κ {num(scorer.kappa, 2)}"


@output("console", description="the summary table in the terminal")
def print_summary(run: Run, path: Path | None = None) -> None:
    """The run's table, counts, errors, missed thresholds and gates (``path`` is unused: it prints)."""
    out = _console()
    manifest = run.manifest
    table = Table(title=f"{escape(manifest.suite.name)} · {manifest.status}", title_justify="left")
    scorer_columns = _scorer_columns(run.metrics)
    for header in ["prompt", "model", "pass [95% CI]", *(h for h, _ in scorer_columns), "err",
                   "p50 ms", "cost"]:
        table.add_column(header, justify="left" if header in ("prompt", "model") else "right")
    for v in run.metrics:
        low, high = v.pass_rate_ci
        rate = "–" if v.pass_rate is None else f"{v.pass_rate:.1%} [{low * 100:.0f}–{high:.0%}]"
        table.add_row(escape(v.prompt_id), escape(v.model_id), rate, *(cell(v) for _, cell in scorer_columns),
                      str(v.errors), num(v.latency_p50_ms), usd(v.cost_usd))
    out.print(table)
    counts = manifest.counts or Counts()
    out.print(f"{counts.cached}/{counts.completed} trials from cache · {counts.describe_errors()}")
    if any(check.bound == NOTHING_PASSED for check in manifest.thresholds):
        out.print("no thresholds set: the run passes unless every trial fails (add thresholds: to the suite)")
    errors = Counter(f.error for f in run.facts() if f.error)
    errors.update(f"{TRANSFORM_FAILED}: {f.transform_error}" for f in run.facts() if f.transform_error is not None)
    errors.update(f"{s.name}: {s.error}" for f in run.facts() for s in f.scores if s.error)
    for error, count in errors.most_common(3):
        out.print(f"[yellow]{count} × {escape(error)}[/]")
    for v in run.metrics:
        for name, derived in v.derived.items():
            if derived.error:
                out.print(f"[yellow]derived metric {escape(name)} has no value for {escape(v.prompt_id)} × "
                          f"{escape(v.model_id)}: {escape(derived.error)}[/]")
    print_verdict(out, run)
    out.print(f"results: {run.directory}/results.jsonl\nreport:  {run.directory}/report.html")


def print_verdict(out: Console, run: Run) -> None:
    """The verdict, as every output tells it: what the thresholds allowed, the baseline's story, what failed.
    Each line whole (the terminal wraps it), so a CI log can be searched for it."""
    verdict = run.manifest.verdict
    lines = [f"[yellow]allowed[/]: {escape(line)}" for line in verdict.allowed(run.facts())]
    baseline = run.manifest.baseline
    if baseline:
        lines.append(f"vs baseline {escape(baseline.source or '')}: {baseline.matched} matched · "
                     f"{len(baseline.regressions)} regressions · {len(baseline.improvements)} improvements")
        lines += [f"  {escape(line)}" for line in baseline.explain()]
    lines += [f"[red]{escape(problem)}[/]" for problem in verdict.problems()]
    mark = "[green]✓ passed[/]" if verdict.passed else "[red]✗ failed[/]"
    lines.append(f"verdict: {mark}: {escape(verdict.headline())}")
    for line in lines:
        out.print(line, soft_wrap=True)


def print_comparison(comparison: BaselineComparison, base: str, candidate: str) -> None:
    """What ``harness compare`` shows: the gates' decision and why, then the changes as tables."""
    out = _console()
    verdict = "[green]✓ gates passed[/]" if comparison.passed else "[red]✗ gate failed[/]"
    out.print(f"[bold]{escape(candidate)}[/] vs [bold]{escape(base)}[/]: {verdict}", soft_wrap=True)
    out.print(f"{comparison.matched} trials matched · {len(comparison.regressions)} regressions · "
              f"{len(comparison.improvements)} improvements · {len(comparison.new)} new · "
              f"{len(comparison.removed)} removed · {len(comparison.errored)} errored")
    for line in comparison.explain():
        out.print(f"  {escape(line)}", soft_wrap=True)
    if comparison.deltas:
        table = Table(title="metric changes (paired by case)", title_justify="left")
        for header in ("variant", "metric", "base", "candidate", "Δ [95% CI]", "p (Holm)", "n"):
            table.add_column(header, justify="left" if header in ("variant", "metric") else "right")
        for d in comparison.deltas:
            table.add_row(escape(str(d.variant)), escape(d.metric), num(d.mean_a, 3), num(d.mean_b, 3),
                          f"{d.delta:+.3f} [{d.ci[0]:+.3f}, {d.ci[1]:+.3f}]",
                          "–" if d.p_adjusted is None else p_value(d.p_adjusted), str(d.n))
        out.print(table)
    for title, changes in (("regressions", comparison.regressions), ("improvements", comparison.improvements)):
        if changes:
            out.print(_changes_table(title, changes))
    for gate in comparison.gates:
        out.print(f"{'[green]✓[/]' if gate.passed else '[red]✗[/]'} {escape(gate.describe())}", soft_wrap=True)
    for kind in ("new", "removed", "errored"):
        trials = getattr(comparison, kind)
        if trials:
            out.print(f"{kind}: {escape(listing(trials))}", soft_wrap=True)


def _changes_table(title: str, changes: list[Change]) -> Table:
    table = Table(title=f"{title} ({len(changes)})", title_justify="left")
    for header in ("case", "variant", "what changed"):
        table.add_column(header, overflow="fold")
    for c in changes[:LISTED]:
        table.add_row(escape(c.case_id + (f" [repeat {c.repeat}]" if c.repeat else "")),
                      escape(f"{c.prompt_id} × {c.model_id}"), escape("; ".join(c.reasons)))
    if len(changes) > LISTED:
        table.add_row(f"… and {len(changes) - LISTED} more", "", "")
    return table
