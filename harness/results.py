"""Results on disk: one JSON line per trial, appended as it completes, plus run.json.

``results.jsonl`` is written and flushed trial by trial, so a crash or Ctrl-C loses nothing
already computed; ``run.json`` holds the manifest (what ran, with which versions) and the
aggregate metrics.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models import Response
from harness.scorers import Score

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "run.json"
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.md"


@dataclass(frozen=True)
class TrialResult:
    case_id: str
    prompt_id: str
    model_id: str
    repeat: int
    messages: list[dict[str, str]]
    vars: dict[str, Any]
    expected: Any
    response: Response
    scores: list[Score]
    tags: list[str] = field(default_factory=list)
    # The case's passing mark on the weighted score (None: every weighted scorer must pass).
    threshold: float | None = None

    @property
    def trial_id(self) -> str:
        return trial_id(self.case_id, self.prompt_id, self.model_id, self.repeat)

    @property
    def score(self) -> float | None:
        """The weighted mean of the trial's scores (weight-0 scores left out); None with nothing to weigh."""
        weighed = [s for s in self.scores if s.weight > 0]
        total = sum(s.weight for s in weighed)
        return sum(s.value * s.weight for s in weighed) / total if total else None

    @property
    def passed(self) -> bool:
        """The model answered, no scorer failed to reach a verdict, and either the weighted score reaches
        the case's threshold or (with none set) every scorer that has weight passed."""
        if self.response.error is not None or any(s.error for s in self.scores if s.weight > 0):
            return False
        if self.threshold is not None:
            return (self.score if self.score is not None else 1.0) >= self.threshold
        return all(s.passed for s in self.scores if s.weight > 0)

    @property
    def verdict(self) -> str:
        """One line: why the trial failed (what a test runner shows in its short summary)."""
        if self.response.error:
            return self.response.error
        if self.passed:
            return "passed"
        failed = [s for s in self.scores if s.weight > 0 and (s.error or not s.passed)]
        reasons = "; ".join(f"{s.name}: {s.explanation or s.value}" for s in failed)
        if self.threshold is not None and not any(s.error for s in failed):
            return f"weighted score {self.score:.2f} < {self.threshold}" + (f" ({reasons})" if reasons else "")
        return reasons

    def describe(self) -> str:
        """The trial for a person reading a failure: the verdict, the rendered prompt, the output, every score."""
        lines = [self.verdict, ""] + [f"[{m['role']}] {m['content']}" for m in self.messages]
        lines += ["", f"output: {self.response.text}"]
        lines += [f"{'PASS' if s.passed else 'FAIL'} {s.name} = {s.value:.2f} (threshold {s.threshold})"
                  + (f": {s.explanation}" if s.explanation else "") for s in self.scores]
        if self.response.error:
            lines.append(f"error: {self.response.error}")
        return "\n".join(lines)

    def to_json(self) -> str:
        # Shallow records, which json.dumps walks itself: dataclasses.asdict deep-copies every value first,
        # and was the largest part of writing a result.
        record = {"trial_id": self.trial_id, **vars(self), "response": vars(self.response),
                  "scores": [vars(s) for s in self.scores], "score": self.score, "passed": self.passed}
        return json.dumps(record, ensure_ascii=False, default=_jsonable)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> TrialResult:
        return cls(
            case_id=record["case_id"], prompt_id=record["prompt_id"], model_id=record["model_id"],
            repeat=record["repeat"], messages=record["messages"], vars=record.get("vars", {}),
            expected=record.get("expected"), tags=record.get("tags", []), threshold=record.get("threshold"),
            response=Response(**record["response"]), scores=[Score(**s) for s in record["scores"]],
        )


def _jsonable(value: Any) -> Any:
    """What a scorer left in its metadata that JSON has no type for: a dataclass as its fields, else its text."""
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else str(value)


def trial_id(case_id: str, prompt_id: str, model_id: str, repeat: int) -> str:
    return f"{case_id}|{prompt_id}|{model_id}|{repeat}"


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
    temporary = directory / f".{RESULTS_FILE}.tmp"
    temporary.write_text("".join(r.to_json() + "\n" for r in results), encoding="utf-8")
    os.replace(temporary, directory / RESULTS_FILE)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Atomically replace run.json, so a reader never sees half a file."""
    temporary = directory / f".{MANIFEST_FILE}.tmp"
    temporary.write_text(json.dumps(manifest, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(temporary, directory / MANIFEST_FILE)


@dataclass
class Run:
    directory: Path
    manifest: dict[str, Any]
    results: list[TrialResult]

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return self.manifest.get("variants", [])

    def to_dataframe(self):
        """One row per trial with flat columns (``score.<name>``, ``passed.<name>``, the weighted ``score``, the
        judge's tokens and cost apart from the model's), for pandas analysis."""
        import pandas as pd

        from harness.metrics import judge_usage  # metrics builds on this module

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


def read_results(directory: Path) -> list[TrialResult]:
    """The results of a run folder; a torn last line (a killed run) is skipped, not fatal."""
    path = directory / RESULTS_FILE
    if not path.is_file():
        return []
    results = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            results.append(TrialResult.from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return results


def load_run(path: str | Path) -> Run:
    """A saved run: its folder (or its run.json)."""
    directory = Path(path)
    if directory.name == MANIFEST_FILE:
        directory = directory.parent
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise HarnessError("not a run folder (no run.json)", file=directory,
                           hint="pass a folder written by 'harness run', e.g. reports/<suite>-<timestamp>")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"run.json is not valid JSON: {exc}", file=manifest_path) from None
    return Run(directory=directory, manifest=manifest, results=read_results(directory))
