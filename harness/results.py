"""Results on disk: one JSON line per trial, appended as it completes, plus run.json.

``results.jsonl`` is written and flushed trial by trial, so a crash or Ctrl-C loses nothing
already computed; ``run.json`` holds the manifest (what ran, with which versions) and the
aggregate metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError
from harness.files import LinesRead, read_json_lines, write_atomically
from harness.records import RunManifest, TrialResult, VariantMetrics

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "run.json"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.md"
LINE_HINT = "was this line written by harness? remove it, and harness run --resume runs its trial again"


class ResultsWriter:
    """Appends results as they arrive; each line is flushed so nothing computed is lost."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / RESULTS_FILE
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, result: TrialResult) -> None:
        self._file.write(result.to_json() + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def rewrite_results(directory: Path, results: list[TrialResult]) -> None:
    """Atomically replace results.jsonl with ``results`` (used to store them in planned order)."""
    write_atomically(directory / RESULTS_FILE, "".join(r.to_json() + "\n" for r in results))


def write_manifest(directory: Path, manifest: RunManifest) -> None:
    """Atomically replace run.json, so a reader never sees half a file."""
    write_atomically(directory / MANIFEST_FILE, manifest.to_json())


@dataclass
class Run:
    directory: Path
    manifest: RunManifest
    results: list[TrialResult]

    @property
    def metrics(self) -> list[VariantMetrics]:
        return self.manifest.variants or []

    def to_dataframe(self):
        """One row per trial with flat columns (``score.<name>``, ``passed.<name>``, the weighted ``score``, the
        judge's tokens and cost apart from the model's), for pandas analysis."""
        import pandas as pd

        from harness.records import judge_usage

        rows = []
        for r in self.results:
            row = {"trial_id": r.trial_id, "case_id": r.case_id, "prompt_id": r.prompt_id, "model_id": r.model_id,
                   "repeat": r.repeat, "passed": r.passed, "output": r.response.text, "error": r.response.error,
                   "latency_ms": r.response.latency_ms, "prompt_tokens": r.response.prompt_tokens,
                   "completion_tokens": r.response.completion_tokens, "cost_usd": r.response.cost_usd,
                   "cached": r.response.cached, "expected": r.expected, "tags": r.tags, "score": r.score}
            row.update(judge_usage(r.scores) or {})
            for score in r.scores:
                row[f"score.{score.name}"] = score.value
                row[f"passed.{score.name}"] = score.passed
            rows.append(row)
        return pd.DataFrame(rows)


def iter_results(directory: Path, seen: LinesRead | None = None) -> Iterator[TrialResult]:
    """The results of a run folder, streamed in file order. A line that is not a result is a HarnessError naming
    the file and line; a torn last line (a killed run) is dropped and counted in ``seen.torn``."""
    path = directory / RESULTS_FILE
    if not path.exists():
        return
    for number, record in _result_lines(path, seen):
        try:
            yield TrialResult.from_dict(record)
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"])
            raise HarnessError(f"not a trial result: {where + ': ' if where else ''}{problem['msg']}", file=path,
                               line=number, hint=LINE_HINT) from None


def _result_lines(path: Path, seen: LinesRead | None) -> Iterator[tuple[int, Any]]:
    """results.jsonl's records; a line that is not one gets the hint that suits a run folder."""
    try:
        yield from read_json_lines(path, tolerate_torn_end=True, seen=seen)
    except HarnessError as exc:
        if exc.line is None:
            raise
        raise HarnessError(exc.message, file=exc.file, line=exc.line, hint=LINE_HINT) from None


def read_results(directory: Path, seen: LinesRead | None = None) -> list[TrialResult]:
    """The results of a run folder, each trial once (a duplicated line, counted in ``seen.skipped``, is dropped)."""
    results: dict[str, TrialResult] = {}
    for result in iter_results(directory, seen):
        if result.trial_id in results:
            if seen is not None:
                seen.skipped.append(result.trial_id)
            continue
        results[result.trial_id] = result
    return list(results.values())


def load_run(path: str | Path) -> Run:
    """A saved run: its folder (or its run.json)."""
    directory = Path(path)
    if directory.name == MANIFEST_FILE:
        directory = directory.parent
    manifest_path = directory / MANIFEST_FILE
    if not directory.exists():
        raise HarnessError("run folder not found", file=directory,
                           hint="pass a folder written by 'harness run', e.g. reports/<suite>-<timestamp>")
    if not manifest_path.is_file():
        raise HarnessError("not a run folder (no run.json)", file=directory,
                           hint="pass a folder written by 'harness run', e.g. reports/<suite>-<timestamp>")
    return Run(directory=directory, manifest=read_manifest(manifest_path), results=read_results(directory))


def read_manifest(path: Path) -> RunManifest:
    """A run.json, of this version or an earlier one."""
    try:
        return RunManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise HarnessError(f"run.json is not a run manifest: {where + ': ' if where else ''}{problem['msg']}",
                           file=path, hint="was it written by harness? re-run the suite to write it anew") from None
