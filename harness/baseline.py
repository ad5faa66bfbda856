"""Baselines: a run's outcomes as a compact, committed file, and comparing a run with a run or such a file.

A baseline file is sorted and timestamp-free JSON Lines (a header line, then one line per trial:
pass, scores, output), so a diff in review shows exactly which trials changed and CI compares a
change with it without keeping old run folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from harness.comparison import Outcome, compare_to_baseline, outcomes
from harness.errors import HarnessError
from harness.files import json_text, read_json_lines, write_atomically
from harness.records import BaselineComparison
from harness.results import MANIFEST_FILE, Run, load_run, read_manifest
from harness.spec import Gates

BASELINE_HEADER = "harness_baseline"
_OUTCOME = TypeAdapter(Outcome)


def save_baseline(items: Sequence[Outcome], path: Path, *, suite: str) -> Path:
    """A compact, sorted, timestamp-free JSONL file: diffs show exactly which trials changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json_text({BASELINE_HEADER: 1, "suite": suite})]
    for o in sorted(items, key=lambda o: (o.prompt_id, o.model_id, o.case_id, o.repeat)):
        record = {"case_id": o.case_id, "prompt_id": o.prompt_id, "model_id": o.model_id, "repeat": o.repeat,
                  "passed": o.passed, "errored": o.errored, "scores": dict(sorted(o.scores.items())),
                  "output": o.output}
        if o.metrics:  # only when the suite names metrics: other baselines stay as they were
            record["metrics"] = dict(sorted(o.metrics.items()))
        lines.append(json_text(record))
    write_atomically(path, "\n".join(lines) + "\n")
    return path


def compare(base: Run | str | Path, candidate: Run | str | Path, *, gates: Gates | None = None,
            model_map: dict[str, str] | None = None) -> BaselineComparison:
    """``candidate`` compared with ``base`` (runs, run folders or baseline files), paired trial by trial:
    regressions, improvements, each metric's change with its interval, and the gates (by default the
    candidate run's own, else harness's)."""
    base_outcomes = outcomes(base.iter_results()) if isinstance(base, Run) else load_outcomes(base)[0]
    candidate_outcomes = (outcomes(candidate.iter_results()) if isinstance(candidate, Run)
                          else load_outcomes(candidate)[0])
    if gates is None:
        gates = Gates(**(candidate.manifest.config.gates if isinstance(candidate, Run) else run_gates(candidate)))
    result = compare_to_baseline(base_outcomes, candidate_outcomes, gates, model_map=model_map)
    result.source = str(base.directory if isinstance(base, Run) else base)
    return result


def run_gates(path: str | Path) -> dict:
    """The gates a run folder's suite was configured with (none for a baseline file)."""
    path = Path(path)
    manifest = path / MANIFEST_FILE if path.is_dir() else path
    if manifest.name != MANIFEST_FILE or not manifest.is_file():
        return {}
    return read_manifest(manifest).config.gates


def load_outcomes(path: str | Path) -> tuple[list[Outcome], str]:
    """Outcomes from a run folder (or its run.json) or a baseline file, and the suite's name."""
    path = Path(path)
    if not path.exists():
        raise HarnessError("not found: no run folder or baseline file here", file=path,
                           hint="a run folder written by harness run, or a file written by harness baseline save")
    if path.is_file() and path.suffix == ".jsonl":
        lines = read_json_lines(path)
        _, header = next(lines, (1, {}))
        if not isinstance(header, dict) or BASELINE_HEADER not in header:
            raise HarnessError("not a baseline file (no header line)", file=path, line=1,
                               hint="write one with: harness baseline save RUN_DIR --to FILE")
        items = []
        for number, record in lines:
            try:
                items.append(_OUTCOME.validate_python(record))
            except ValidationError as exc:
                raise HarnessError(f"not a baseline line: {exc.errors()[0]['msg']}", file=path, line=number,
                                   hint="write baselines with: harness baseline save RUN_DIR --to FILE") from None
        return items, str(header.get("suite", ""))
    run = load_run(path)
    return outcomes(run.iter_results()), run.manifest.suite.name
