"""Results on disk: one JSON line per trial, appended as it completes, plus run.json.

``results.jsonl`` is written and flushed trial by trial, so a crash or Ctrl-C loses nothing
already computed; ``run.json`` holds the manifest (what ran, with which versions) and the
aggregate metrics. A run may hold more text than memory: its trials are streamed, or indexed
(compact facts and each line's byte span), and the file is reordered by copying those spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from harness.errors import HarnessError
from harness.files import JsonLine, LinesRead, read_json_at, rewrite_lines, scan_json_lines, write_atomically
from harness.records import RunManifest, TrialFacts, TrialResult, VariantMetrics

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


@dataclass(frozen=True, slots=True)
class Stored:
    """A trial of results.jsonl as an index holds it: its compact facts, and where its line is (to read it, or
    to move it, without holding every record)."""

    facts: TrialFacts
    offset: int
    length: int


def index_results(directory: Path, seen: LinesRead | None = None) -> list[Stored]:
    """Every trial of a run folder once, in file order, as facts and byte spans (see iter_results)."""
    return [Stored(result.facts(), line.offset, line.length) for result, line in _unique(directory, seen)]


def results_at(directory: Path, stored: Iterable[Stored]) -> Iterator[TrialResult]:
    """The trials at these places of results.jsonl, read in the order given."""
    with (directory / RESULTS_FILE).open("rb") as handle:
        for place in stored:
            yield TrialResult.from_dict(read_json_at(handle, place.offset, place.length))


def rewrite_results(directory: Path, stored: Sequence[Stored]) -> list[Stored]:
    """Make results.jsonl hold exactly these trials' lines, in this order (the plan's, or without duplicated and
    torn lines), copied as bytes; the same trials at their new places."""
    spans = rewrite_lines(directory / RESULTS_FILE, [(s.offset, s.length) for s in stored])
    return [Stored(s.facts, offset, length) for s, (offset, length) in zip(stored, spans, strict=True)]


def write_manifest(directory: Path, manifest: RunManifest) -> None:
    """Atomically replace run.json, so a reader never sees half a file."""
    write_atomically(directory / MANIFEST_FILE, manifest.to_json())


@dataclass
class Run:
    """A stored run: its folder and manifest. Its trials stay on disk until asked for: ``results`` holds them
    all (for small runs and callers that want a list), ``iter_results`` streams them, and ``index`` gives every
    trial's compact facts and place, which is what a big run's outputs work from."""

    directory: Path
    manifest: RunManifest
    _results: list[TrialResult] | None = field(default=None, repr=False)
    _index: list[Stored] | None = field(default=None, repr=False)

    @property
    def metrics(self) -> list[VariantMetrics]:
        return self.manifest.variants or []

    @property
    def results(self) -> list[TrialResult]:
        """Every trial, in memory (read once)."""
        if self._results is None:
            self._results = read_results(self.directory)
        return self._results

    def iter_results(self) -> Iterator[TrialResult]:
        """Every trial once, in file order, one at a time (from memory when ``results`` was read)."""
        return iter(self._results) if self._results is not None else iter_results(self.directory)

    def index(self) -> list[Stored]:
        """Every trial's facts and place in results.jsonl, in file order (read once)."""
        if self._index is None:
            self._index = index_results(self.directory)
        return self._index

    def facts(self) -> list[TrialFacts]:
        return [stored.facts for stored in self.index()]

    def read(self, stored: Iterable[Stored]) -> Iterator[TrialResult]:
        """The trials at these places of the index, in the order given."""
        return results_at(self.directory, stored)

    def to_dataframe(self):
        """One row per trial with flat columns (``score.<name>``, ``passed.<name>``, the weighted ``score``, the
        judge's tokens and cost apart from the model's; ``output`` as the model gave it, ``transformed_output`` as
        the scorers read it), for pandas analysis."""
        import pandas as pd

        from harness.records import judge_usage

        rows = []
        for r in self.iter_results():
            row = {"trial_id": r.trial_id, "case_id": r.case_id, "prompt_id": r.prompt_id, "model_id": r.model_id,
                   "repeat": r.repeat, "passed": r.passed, "output": r.response.text, "error": r.response.error,
                   "transformed_output": r.transformed_output, "transform_error": r.transform_error,
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
    """The results of a run folder, each trial once, streamed in file order. A line that is not a result is a
    HarnessError naming the file and line; a torn last line (a killed run) is dropped and counted in
    ``seen.torn``; a duplicated line (the same trial again, counted in ``seen.skipped``) is dropped."""
    for result, _ in _unique(directory, seen):
        yield result


def read_results(directory: Path, seen: LinesRead | None = None) -> list[TrialResult]:
    """The results of a run folder, each trial once (see iter_results)."""
    return list(iter_results(directory, seen))


def _unique(directory: Path, seen: LinesRead | None) -> Iterator[tuple[TrialResult, JsonLine]]:
    path = directory / RESULTS_FILE
    if not path.exists():
        return
    ids: set[str] = set()
    for line in _result_lines(path, seen):
        result = _result(path, line)
        if result.trial_id in ids:
            if seen is not None:
                seen.skipped.append(result.trial_id)
            continue
        ids.add(result.trial_id)
        yield result, line


def _result(path: Path, line: JsonLine) -> TrialResult:
    try:
        return TrialResult.from_dict(line.record)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise HarnessError(f"not a trial result: {where + ': ' if where else ''}{problem['msg']}", file=path,
                           line=line.number, hint=LINE_HINT) from None


def _result_lines(path: Path, seen: LinesRead | None) -> Iterator[JsonLine]:
    """results.jsonl's records; a line that is not one gets the hint that suits a run folder."""
    try:
        yield from scan_json_lines(path, tolerate_torn_end=True, seen=seen)
    except HarnessError as exc:
        if exc.line is None:
            raise
        raise HarnessError(exc.message, file=exc.file, line=exc.line, hint=LINE_HINT) from None


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
    return Run(directory=directory, manifest=read_manifest(manifest_path))


def read_manifest(path: Path) -> RunManifest:
    """A run.json, of this version or an earlier one."""
    try:
        return RunManifest.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        raise HarnessError(f"run.json is not a run manifest: {where + ': ' if where else ''}{problem['msg']}",
                           file=path, hint="was it written by harness? re-run the suite to write it anew") from None
