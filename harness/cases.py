"""Cases from data files: CSV (columns id, expected and tags; every other column is a var) or JSON Lines (one
case per line), each case remembering the line it came from so later problems can name it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.files import read_json_lines, read_text
from harness.located import validate
from harness.spec import Case

RESERVED_CSV_COLUMNS = ("id", "expected", "tags")
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
MAX_FIELD_CHARS = 16 * 1024 * 1024  # a long document in one cell is data, not a broken file


def read_cases(path: Path, *, suite_file: Path | str, line: int | None) -> list[tuple[Case, int]]:
    """Every case of a data file with its line; errors name the data file and line (or the suite's line)."""
    if path.suffix in CSV_SUFFIXES:
        rows = csv_rows(read_text(path), path)
    elif path.suffix in JSONL_SUFFIXES:
        rows = _jsonl_rows(path)
    else:
        raise HarnessError(f"cases file must be .csv or .jsonl, not '{path.suffix or path.name}'", file=suite_file,
                           line=line)
    if not rows:
        raise HarnessError("the cases file has no cases", file=path,
                           hint="a CSV needs a header row and a row per case; a JSONL file a line per case")
    return [(validate(Case, row, file=path, line=row_line), row_line) for row_line, row in rows]


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, row in read_json_lines(path):
        if not isinstance(row, dict):
            raise HarnessError("each line must be a JSON object (a case)", file=path, line=number)
        rows.append((number, row))
    return rows


def csv_rows(text: str, path: Path) -> list[tuple[int, dict[str, Any]]]:
    """The rows of a CSV's text as case fields (vars, expected, id, tags), each with its line; errors name ``path``."""
    if "\0" in text:
        raise HarnessError("a NUL character (\\x00) in a CSV: is this a binary file?", file=path,
                           line=text.count("\n", 0, text.index("\0")) + 1)
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = next(reader, None)
        if header is None:
            return []
        _check_header(header, path)
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                more = "more" if len(record) > len(header) else "fewer"
                raise HarnessError(f"row has {more} fields than the header ({len(record)}, not {len(header)})",
                                   file=path, line=reader.line_num, hint="quote values that contain commas")
            rows.append((reader.line_num, _case_row(dict(zip(header, record, strict=True)))))
    except csv.Error as exc:
        raise HarnessError(f"malformed CSV: {exc}", file=path, line=reader.line_num,
                           hint="check the quotes around values") from None
    return rows


def _check_header(header: list[str], path: Path) -> None:
    seen: set[str] = set()
    for name in header:
        if not name.strip():
            raise HarnessError("a column has no name in the header row", file=path, line=1)
        if name in seen:
            raise HarnessError(f"the header names the column '{name}' twice: one would silently replace the other",
                               file=path, line=1, hint="give each column its own name")
        seen.add(name)


def _case_row(record: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {"vars": {k: v for k, v in record.items() if k not in RESERVED_CSV_COLUMNS}}
    if record.get("id"):
        row["id"] = record["id"]
    if record.get("expected"):  # a blank cell means no expected value, not ""
        row["expected"] = record["expected"]
    if record.get("tags"):
        row["tags"] = [t.strip() for t in record["tags"].replace(";", ",").split(",") if t.strip()]
    return row
