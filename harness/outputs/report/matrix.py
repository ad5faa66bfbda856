"""The case matrix's data: a row per case (and repeat), a cell per variant, embedded in the report in chunks.

A browser holds no string longer than about 512 MB (V8's limit), and the page's script reads each data
element's text as one string: so the data is split into chunks of ``Limits.chunk_chars``, several
``<script type="application/json">`` elements that the page parses one by one and joins. Past
``Limits.budget_bytes`` of results (counted as their lines in results.jsonl) a page would take long to open
and gigabytes to hold, so the matrix is capped: outputs are clipped to ``Limits.output_chars`` (the page
marks each), and when that is not enough the most informative rows are kept (regressions, errors,
failures, rows whose variants differ, then the rest) up to the budget, shown in suite order, with a note
saying what was left out and that results.jsonl holds everything. The rows are chosen from the trials'
compact facts and read from results.jsonl one at a time, so rendering never holds the whole run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from harness.records import TRANSFORM_FAILED, BaselineComparison, Score, TrialResult
from harness.results import RESULTS_FILE, Stored


@dataclass(frozen=True)
class Limits:
    """What the report embeds of a big run (measured in headless Chromium; see docs/outputs.md)."""

    budget_bytes: int = 100_000_000  # of results lines embedded as they are; past it, clipped and chosen rows
    output_chars: int = 2_000  # of an output kept once the budget is passed
    chunk_chars: int = 2_000_000  # of JSON in one data element


LIMITS = Limits()
# Rows by what a reader most needs to see when not all fit: regressions, errors, failures, differences, the rest.
REGRESSION, ERROR, FAILURE, DIFFERENT, REST = range(5)


@dataclass
class Row:
    case_id: str
    repeat: int
    cells: list[Stored | None]  # one per column: the trial's place in results.jsonl, None when not run


@dataclass(frozen=True)
class Matrix:
    """The rows the page gets, in suite order, and what was left out to stay within the limits."""

    columns: list[tuple[str, str]]
    rows: list[Row]
    total_rows: int
    clip: int | None  # output characters kept, when outputs are clipped
    changes: dict[str, str]  # "case|repeat|prompt|model" -> "regression" or "improvement"

    def note(self, run_folder: str) -> str | None:
        """What a reader must know when the matrix is not the whole run (None when it is)."""
        left_out = []
        if len(self.rows) < self.total_rows:
            left_out.append(f"{len(self.rows):,} of its {self.total_rows:,} rows are shown (regressions, errors and "
                            "failures first, then rows whose variants differ, then the rest; in suite order)")
        if self.clip is not None and any(s.facts.output_chars > self.clip for row in self.rows for s in row.cells if s):
            left_out.append(f"outputs longer than {self.clip:,} characters are clipped (each says so)")
        if not left_out:
            return None
        return (f"This run is too large for the case matrix to hold in full: {' and '.join(left_out)}. The summary, "
                f"charts and verdicts above count every trial; {RESULTS_FILE} in the run folder {run_folder} holds "
                "them all in full.")


def plan_matrix(stored: list[Stored], columns: list[tuple[str, str]], baseline: BaselineComparison | None,
                limits: Limits = LIMITS) -> Matrix:
    """The rows to embed: all of them as they are while they fit the budget; else clipped, and, if still too
    big, the most informative ones that fit."""
    index = {column: i for i, column in enumerate(columns)}
    rows: dict[tuple[str, int], Row] = {}
    for s in stored:
        f = s.facts
        row = rows.setdefault((f.case_id, f.repeat), Row(f.case_id, f.repeat, [None] * len(columns)))
        row.cells[index[(f.prompt_id, f.model_id)]] = s
    changes = {_change_key(c.case_id, c.repeat, c.prompt_id, c.model_id): kind[:-1]
               for kind in ("regressions", "improvements") for c in (getattr(baseline, kind) if baseline else [])}
    everything = list(rows.values())
    if sum(s.length for s in stored) <= limits.budget_bytes:
        return Matrix(columns, everything, len(everything), None, changes)
    clip = limits.output_chars
    sizes = [sum(_clipped_size(s, clip) for s in row.cells if s is not None) for row in everything]
    ranks = [_rank(row, columns, changes) for row in everything]
    chosen, used = set(), 0
    for i in sorted(range(len(everything)), key=lambda i: (ranks[i], i)):
        if used + sizes[i] > limits.budget_bytes:
            continue  # a smaller row may still fit
        chosen.add(i)
        used += sizes[i]
    return Matrix(columns, [row for i, row in enumerate(everything) if i in chosen], len(everything), clip, changes)


def _clipped_size(stored: Stored, clip: int) -> int:
    """About the bytes of a trial's line once its output is clipped (characters counted as bytes)."""
    return stored.length - stored.facts.output_chars + min(stored.facts.output_chars, clip)


def _change_key(case_id: str, repeat: int, prompt_id: str, model_id: str) -> str:
    """How the page looks up a cell's change against the baseline."""
    return f"{case_id}|{repeat}|{prompt_id}|{model_id}"


def _rank(row: Row, columns: list[tuple[str, str]], changes: dict[str, str]) -> int:
    kinds = {changes.get(_change_key(row.case_id, row.repeat, p, m)) for p, m in columns}
    statuses = {None if s is None else _status(s.facts.error, s.facts.passed) for s in row.cells}
    if "regression" in kinds:
        return REGRESSION
    if "error" in statuses:
        return ERROR
    if "fail" in statuses:
        return FAILURE
    return DIFFERENT if len(statuses) > 1 or "improvement" in kinds else REST


def _status(error: str | None, passed: bool) -> str:
    return "error" if error else "pass" if passed else "fail"


def data_chunks(matrix: Matrix, read: Callable[[Iterable[Stored]], Iterator[TrialResult]],
                limits: Limits = LIMITS, thumbnails: Callable[[dict[str, Any]], str | None] = lambda _image: None
                ) -> Iterator[str]:
    """The matrix as JSON texts of about ``limits.chunk_chars`` each, safe inside a script element: the columns
    and changes first, then the rows, then the prompt texts the cells refer to (interned: variants share them)."""
    yield embed_json({"columns": [{"prompt": p, "model": m} for p, m in matrix.columns], "changes": matrix.changes})
    strings: dict[str, int] = {}
    results = read(s for row in matrix.rows for s in row.cells if s is not None)
    rows = (embed_json(_row(row, [None if s is None else next(results) for s in row.cells], strings, matrix.clip,
                            thumbnails)) for row in matrix.rows)
    yield from _batched("rows", rows, limits.chunk_chars)
    yield from _batched("strings", (embed_json(text) for text in strings), limits.chunk_chars)


def _batched(key: str, items: Iterator[str], chunk_chars: int) -> Iterator[str]:
    """``{"key": [...]}`` texts of about ``chunk_chars`` each (an item is never split)."""
    pending: list[str] = []
    size = 0
    for item in items:
        pending.append(item)
        size += len(item)
        if size >= chunk_chars:
            yield f'{{"{key}":[{",".join(pending)}]}}'
            pending, size = [], 0
    if pending:
        yield f'{{"{key}":[{",".join(pending)}]}}'


def _row(row: Row, results: list[TrialResult | None], strings: dict[str, int], clip: int | None,
         thumbnails: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
    first = next(r for r in results if r is not None)
    return {"id": first.case_id, "r": first.repeat, "tags": first.tags, "vars": first.vars, "x": first.expected,
            "c": [None if r is None else _cell(r, strings, clip, thumbnails) for r in results]}


def _message(message: dict[str, Any], strings: dict[str, int],
             thumbnails: Callable[[dict[str, Any]], str | None]) -> list[Any]:
    """[role, the text shown (interned), the images' thumbnails (interned data URLs)] of a message."""
    text, content = message_text(message), message.get("content")
    parts = content if isinstance(content, list) else ()
    images = [thumbnails(part["image_url"]) for part in parts if part.get("type") == "image_url"]
    shown = [strings.setdefault(url, len(strings)) for url in images if url]
    return [message.get("role", ""), strings.setdefault(text, len(strings)), shown]


def message_text(message: dict[str, Any]) -> str:
    """A message as the report shows it: its text (an image as [image: its file]), and the tools it called."""
    content = message.get("content")
    if isinstance(content, list):
        content = "\n".join(part.get("text", "") if part.get("type") == "text"
                            else f"[image: {part.get('image_url', {}).get('url', '')[:80]}]" for part in content)
    calls = [f"→ {c.get('function', {}).get('name')}({c.get('function', {}).get('arguments')})"
             for c in message.get("tool_calls") or []]
    return "\n".join([content or "", *calls]).strip()


def _cell(r: TrialResult, strings: dict[str, int], clip: int | None,
          thumbnails: Callable[[dict[str, Any]], str | None]) -> dict[str, Any]:
    raw, text = r.response.text, r.transformed_output if r.transformed_output is not None else r.response.text
    error = r.response.error or (f"{TRANSFORM_FAILED}: {r.transform_error}" if r.transform_error is not None else None)
    cell = {
        "s": _status(r.response.error, r.passed), "o": text if clip is None else text[:clip], "e": error,
        "sc": [[_score_label(s), round(s.value, 4), s.passed, s.explanation, s.weight] for s in r.scores],
        "w": [round(r.score, 4), r.threshold] if r.threshold is not None and r.score is not None else None,
        "l": r.response.latency_ms, "t": [r.response.prompt_tokens, r.response.completion_tokens],
        "$": r.response.cost_usd, "k": r.response.cached,
        "m": [_message(m, strings, thumbnails) for m in r.messages],
    }
    if r.transcript:
        cell["tr"] = [_message(m, strings, thumbnails) for m in r.transcript]
    if clip is not None and len(text) > clip:
        cell["oc"] = len(text)  # the output's full length: the page marks it clipped
    if r.transformed_output is not None:  # "o" is the output the scorers read; the model's own beside it
        cell["ro"] = raw if clip is None else raw[:clip]
        if clip is not None and len(raw) > clip:
            cell["rc"] = len(raw)
    return cell


def _score_label(score: Score) -> str:
    """A score's name as a case's detail shows it, with the named metric it also counts under."""
    return score.name if score.metric is None else f"{score.name} (metric {score.metric})"


def embed_json(data: Any) -> str:
    """JSON that is safe inside <script type="application/json">: no '<', '>' or '&' survive as such."""
    try:
        text = _json(data)
    except ValueError:  # a NaN or an infinity, which is rare: only then is the data walked
        text = _json(_finite(data))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    """NaN and infinities (a YAML .inf var) as text: JSON.parse rejects them."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
