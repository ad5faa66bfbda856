"""Loading a suite: YAML, data files and plugins into the typed spec (harness.spec).

Validation happens once, at load, so a run never starts on a suite that would fail halfway.
Every error is mapped back to the YAML line (or the CSV/JSONL row) it came from.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import HarnessError, did_you_mean
from harness.files import read_json_lines
from harness.spec import Case, Suite, metric_names

# --- loading ---------------------------------------------------------------------------------

RESERVED_CSV_COLUMNS = ("id", "expected", "tags")


def load_suite(path: str | Path) -> Suite:
    """Read, validate and resolve a suite file: cases from data files, scorers, templates, thresholds."""
    from harness import prompts, scorers  # scorers import Case; prompts need the suite

    path = Path(path)
    if not path.is_file():
        raise HarnessError("suite file not found", file=path, hint="pass the path of a .yaml suite")
    text = read_text(path)
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise HarnessError(f"malformed YAML: {problem}", file=path,
                           line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise HarnessError("a suite must be a YAML mapping (name:, prompts:, cases:, ...)", file=path, line=1)

    suite = _validate(Suite, {**data, "path": path}, file=path, node=root)
    scorers.import_plugins(suite)
    if isinstance(suite.cases, str):
        cases = load_cases_file(suite.directory / suite.cases, suite_file=path, line=_line_of(root, ("cases",)))
    else:
        cases = suite.cases
    if not cases:
        raise HarnessError("the suite has no cases", file=path, line=_line_of(root, ("cases",)))
    _check_unique_ids(cases, path, root)
    _check_unique_names(suite, path, root)
    suite = suite.model_copy(update={"cases": cases})

    for i, spec in enumerate(suite.scorers):
        scorers.check_spec(spec, file=path, line=_line_of(root, ("scorers", i)))
    for i, case in enumerate(cases):
        for j, spec in enumerate(case.scorers or []):
            scorers.check_spec(spec, file=path, line=_line_of(root, ("cases", i, "scorers", j)))
        for spec in suite.scorers_for(case):
            problem = scorers.check_case(spec, case, base=suite.directory)
            if problem:
                raise HarnessError(f"case '{case.id}': {problem}", file=path,
                                   line=_line_of(root, ("cases", i)) if isinstance(suite.cases, list) else None)
    _check_thresholds(suite, path, root)
    for i, prompt in enumerate(suite.prompts):
        prompts.locate_template(prompt, suite, line=_line_of(root, ("prompts", i)))
    return suite


def load_cases_file(path: Path, *, suite_file: Path, line: int | None) -> list[Case]:
    """Cases from a CSV (columns id/expected/tags, the rest are vars) or a JSONL file (one case per line)."""
    if not path.is_file():
        raise HarnessError(f"cases file not found: {path}", file=suite_file, line=line,
                           hint="the path is relative to the suite file")
    if path.suffix == ".csv":
        rows = _csv_rows(path)
    elif path.suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(path)
    else:
        raise HarnessError(f"cases file must be .csv or .jsonl, not '{path.suffix}'", file=suite_file, line=line)
    return [_validate(Case, row, file=path, line=row_line) for row_line, row in rows]


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        return _csv_records(path)
    except csv.Error as exc:
        raise HarnessError(f"malformed CSV: {exc}", file=path, hint="check the quotes around values") from None


def _csv_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    with io.StringIO(read_text(path), newline="") as handle:
        reader = csv.DictReader(handle, strict=True)
        for record in reader:
            if None in record:
                raise HarnessError("row has more fields than the header", file=path, line=reader.line_num)
            if None in record.values():
                raise HarnessError("row has fewer fields than the header", file=path, line=reader.line_num,
                                   hint="quote values that contain commas")
            row: dict[str, Any] = {"vars": {k: v for k, v in record.items() if k not in RESERVED_CSV_COLUMNS}}
            if record.get("id"):
                row["id"] = record["id"]
            if record.get("expected"):  # a blank cell means no expected value, not ""
                row["expected"] = record["expected"]
            if record.get("tags"):
                row["tags"] = [t.strip() for t in record["tags"].replace(";", ",").split(",") if t.strip()]
            rows.append((reader.line_num, row))
    return rows


def read_text(path: Path) -> str:
    """A suite or data file as text: UTF-8, tolerating the byte-order mark spreadsheets write."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"not UTF-8 text (byte {exc.start})", file=path, hint="save the file as UTF-8") from None


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for number, row in read_json_lines(path):
        if not isinstance(row, dict):
            raise HarnessError("each line must be a JSON object (a case)", file=path, line=number)
        rows.append((number, row))
    return rows


def _check_unique_ids(cases: list[Case], path: Path, root: yaml.Node) -> None:
    seen: dict[str, int] = {}
    for i, case in enumerate(cases):
        if case.id in seen:
            raise HarnessError(f"duplicate case id '{case.id}' (cases {seen[case.id] + 1} and {i + 1})",
                               file=path, line=_line_of(root, ("cases", i)),
                               hint="identical cases get the same derived id: give them distinct 'id's")
        seen[case.id] = i


def _check_unique_names(suite: Suite, path: Path, root: yaml.Node) -> None:
    """Prompt ids, model ids and a list's scorer names key the results: two alike would merge silently."""
    groups = [("prompts", [p.id for p in suite.prompts], "id"), ("models", [m.id for m in suite.models], "id"),
              ("scorers", [s.name for s in suite.scorers], "name")]
    for key, names, field in groups:
        for i, name in enumerate(names):
            if name in names[:i]:
                raise HarnessError(f"two {key} are called '{name}'", file=path, line=_line_of(root, (key, i)),
                                   hint=f"give each a distinct '{field}'")



def _check_thresholds(suite: Suite, path: Path, root: yaml.Node) -> None:
    known = metric_names(suite)
    for metric in suite.thresholds:
        if metric not in known:
            raise HarnessError(f"unknown metric '{metric}' in thresholds{did_you_mean(metric, known)}",
                               file=path, line=_line_of(root, ("thresholds", metric)),
                               hint="metrics: " + ", ".join(known))


# --- errors mapped to lines --------------------------------------------------------------------

def _validate(model: type[BaseModel], data: dict[str, Any], *, file: Path, node: yaml.Node | None = None,
              line: int | None = None) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # With unions (cases: list | path) pydantic reports every branch; the deepest is the real one.
        # A misspelt key shows up both as unknown and as missing: the unknown key is the one to fix.
        error = max(exc.errors(), key=lambda e: (len(_data_loc(tuple(e["loc"]))), e["type"] == "extra_forbidden"))
        loc = _data_loc(error["loc"])
        where = _line_of(node, loc) if node is not None else line
        raise HarnessError(_error_message(error, loc, model), file=file, line=where) from None


def _data_loc(loc: tuple) -> tuple:
    """Drop pydantic's union-branch tags ('list[Case]', 'str', 'function-after[...]') from a location."""
    branch_names = {"str", "float", "int", "bool", "Bound"}
    return tuple(p for p in loc if isinstance(p, int) or (p not in branch_names and "[" not in str(p)))


def _error_message(error: dict[str, Any], loc: tuple, model: type[BaseModel]) -> str:
    dotted = ".".join(str(p) for p in loc) or model.__name__.lower()
    if error["type"] == "extra_forbidden":
        key = str(loc[-1])
        owner = _owner_model(model, loc[:-1])
        return f"unknown key '{key}'{did_you_mean(key, owner.model_fields if owner else [])}"
    if error["type"] == "missing":
        return f"missing required key '{dotted}'"
    msg = error["msg"].removeprefix("Value error, ")
    return f"{dotted}: {msg}"


def _owner_model(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class that holds the field at ``loc`` (to list its keys for did-you-mean)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not isinstance(current, type) or not issubclass(current, BaseModel):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            continue
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        inner = _inner_model(arg)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (mapping keys and list indexes), or its nearest parent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    node = value
                    line = key.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
