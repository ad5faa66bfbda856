"""promptfoo's tests as they are before translation: inline, or from files and globs (CSV, JSON, JSONL, YAML), with
CSV's special columns (``__expected``, ``__expected2``, ``__description``, ``__threshold``, ``__metric``,
``__metadata:key``, ``__config:__expectedN:threshold``), var files, and var lists that multiply a test.

Tests that come from code (.py, .js generators), from Hugging Face or from a spreadsheet online cannot be read here:
they are left out, each kind counted.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError
from harness.importers.common import Comment, Context
from harness.importers.promptfoo_asserts import HANDLERS, NOT_IN_HARNESS
from harness.importers.sources import is_reference
from harness.located import line_of

IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
MEDIA = (".mp3", ".wav", ".ogg", ".mp4", ".mov", ".webm", ".pdf")
CODE = (".py", ".js", ".ts", ".mjs", ".cjs")
_TYPES = "|".join(sorted({*HANDLERS, *NOT_IN_HARNESS, "similar"}, key=len, reverse=True))
_EXPECTED = re.compile(rf"^(not-)?({_TYPES})(?:\((\d+(?:\.\d+)?)\))?(?::(.*))?$", re.DOTALL)
THRESHOLD_TYPES = ("answer-relevance", "classifier", "context-faithfulness", "context-recall", "context-relevance",
                   "cost", "latency", "levenshtein", "perplexity", "perplexity-score", "rouge-n", "similar",
                   "starts-with")


@dataclass
class Test:
    """One promptfoo test as written (before its vars are expanded), and where it was written."""

    vars: dict[str, Any] = field(default_factory=dict)
    asserts: list[Any] = field(default_factory=list)
    description: str | None = None
    threshold: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)  # keys harness has no place for (providers, provider, ...)
    file: Path | None = None
    line: int | None = None


def load(value: Any, ctx: Context) -> tuple[list[Test], list[Comment]]:
    """Every test the config's ``tests:`` names, and comments for the sources that could not be read."""
    tests: list[Test] = []
    left: list[Comment] = []
    entries = value if isinstance(value, list) else [] if value is None else [value]
    for i, entry in enumerate(entries):
        line = ctx.line("tests", i) if isinstance(value, list) else ctx.line("tests")
        if isinstance(entry, str) or (isinstance(entry, dict) and set(entry) <= {"path", "config"}):
            reference = entry if isinstance(entry, str) else entry.get("path")
            _from_reference(str(reference), ctx, line, tests, left)
        elif isinstance(entry, dict):
            tests.append(test_of(entry, ctx, ctx.file, line))
        else:
            raise HarnessError("a test must be a mapping (vars:, assert:) or a file://", file=ctx.file, line=line)
    return tests, left


def _from_reference(reference: str, ctx: Context, line: int | None, tests: list[Test], left: list[Comment]) -> None:
    if not is_reference(reference) and "://" in reference:
        scheme = reference.split("://")[0]
        left.append(ctx.left_out(f"tests from {scheme}", reference, "harness reads local files only"))
        return
    if reference.rpartition(":")[0].endswith(CODE) or reference.endswith(CODE):
        left.append(ctx.left_out("tests from code", reference, "promptfoo runs code to make these tests"))
        return
    for path in ctx.sources.paths(reference, file=ctx.file, line=line):
        if path.suffix == ".csv":
            tests += [csv_test(row, ctx, path, number) for number, row in ctx.sources.csv_rows(path)]
        elif path.suffix == ".jsonl":
            tests += [test_of(row, ctx, path, number) for number, row in ctx.sources.json_lines(path)]
        elif path.suffix in (".json", ".yaml", ".yml"):
            data, root = ctx.sources.data(path)
            rows = data if isinstance(data, list) else [data]
            tests += [test_of(row, ctx, path, _row_line(root, n)) for n, row in enumerate(rows)]
        else:
            left.append(ctx.left_out(f"tests from {path.suffix or 'a file'}", reference, "not a format harness reads"))


def _row_line(root: Any, index: int) -> int | None:
    return line_of(root, (index,)) if isinstance(root, yaml.SequenceNode) else None


def test_of(entry: Any, ctx: Context, file: Path, line: int | None) -> Test:
    """A test written as a mapping; ``vars`` may name var files (YAML mappings merged in order)."""
    if not isinstance(entry, dict):
        raise HarnessError("a test must be a mapping (vars:, assert:)", file=file, line=line)
    variables = entry.get("vars") or {}
    if isinstance(variables, str | list):
        merged: dict[str, Any] = {}
        for reference in [variables] if isinstance(variables, str) else variables:
            for path in ctx.sources.paths(str(reference), file=file, line=line, base=file.parent):
                data = ctx.sources.data(path)[0]
                merged.update(data if isinstance(data, dict) else {})
        variables = merged
    if not isinstance(variables, dict):
        raise HarnessError("a test's vars must be a mapping", file=file, line=line)
    asserts = entry.get("assert") or []
    known = {"vars", "assert", "description", "threshold", "metadata", "options"}
    return Test(vars=dict(variables), asserts=asserts if isinstance(asserts, list) else [asserts],
                description=entry.get("description"), threshold=entry.get("threshold"),
                metadata=entry.get("metadata") if isinstance(entry.get("metadata"), dict) else {},
                options=entry.get("options") if isinstance(entry.get("options"), dict) else {},
                other={k: v for k, v in entry.items() if k not in known}, file=file, line=line)


def csv_test(row: dict[str, str], ctx: Context, file: Path, line: int) -> Test:
    """A CSV row: plain columns are vars, the special columns make assertions, description, threshold, metadata."""
    test = Test(file=file, line=line)
    metric = row.get("__metric") or None
    thresholds: dict[int, float] = {}
    for key, value in row.items():
        if key.startswith("__expected"):
            if value.strip():
                test.asserts.append(assertion_from_text(value.strip()))
        elif key == "__description":
            test.description = value or None
        elif key == "__threshold" and value.strip():
            test.threshold = float(value)
        elif key.startswith("__metadata:") and value.strip():
            name = key.removeprefix("__metadata:")
            test.metadata[name.removesuffix("[]")] = [v.strip() for v in value.split(",")] if name.endswith(
                "[]") else value
        elif key.startswith("__config:") and value.strip():
            found = re.fullmatch(r"__config:__expected(\d*):threshold", key)
            if found:
                thresholds[int(found.group(1) or 1) - 1] = float(value)
        elif key in ("__prefix", "__suffix", "__providerOutput") and value:
            test.other[key.strip("_")] = value
        elif not key.startswith("__"):
            test.vars[key] = value
    for index, assertion in enumerate(test.asserts):
        if metric:
            assertion["metric"] = metric
        if index in thresholds:
            assertion["threshold"] = thresholds[index]
    return test


def assertion_from_text(text: str) -> dict[str, Any]:
    """promptfoo's one-cell assertion (``contains:Paris``, ``fn:output.length < 9``, ``similar(0.8):...``)."""
    for prefix, kind in (("javascript:", "javascript"), ("fn:", "javascript"), ("eval:", "javascript"),
                         ("grade:", "llm-rubric"), ("llm-rubric:", "llm-rubric"), ("python:", "python")):
        if text.startswith(prefix):
            return {"type": kind, "value": text[len(prefix):].strip()}
    code = text.removeprefix("file://").split(":")[0]
    if is_reference(text) and code.endswith(CODE):
        return {"type": "python" if code.endswith(".py") else "javascript", "value": text}
    found = _EXPECTED.match(text)
    if found is None:
        return {"type": "equals", "value": text}
    negated, kind, threshold, value = found.groups()
    assertion: dict[str, Any] = {"type": (negated or "") + kind}
    if kind in ("contains-any", "contains-all", "icontains-any", "icontains-all"):
        assertion["value"] = [v.strip() for v in value.split(",")] if value else value
    elif value is not None:
        assertion["value"] = value if kind in ("is-json", "contains-json") else value.strip()
    if kind in THRESHOLD_TYPES:
        assertion["threshold"] = float(threshold) if threshold else 0.8 if kind == "similar" else 0.75
    return assertion


def expand(variables: dict[str, Any], ctx: Context, test: Test) -> tuple[list[dict[str, Any]], list[Comment]]:
    """The var combinations a test stands for: each list of texts, and each glob of files, multiplies the test; a var
    naming a file holds its text (YAML as JSON), as promptfoo renders it."""
    choices: list[list[Any]] = []
    notes: list[Comment] = []
    for name, value in variables.items():
        if is_reference(value):
            choices.append([_file_var(name, path, value, ctx, notes) for path in ctx.sources.paths(
                value, file=test.file, line=test.line)] or [value])
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            choices.append(value)
        else:
            choices.append([value])
    names = list(variables)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*choices)], notes


def _file_var(name: str, path: Path, reference: str, ctx: Context, notes: list[Comment]) -> Any:
    if path.suffix.lower() in IMAGES:  # an image part reads the file by its path (relative to the suite)
        return path.relative_to(ctx.sources.base).as_posix()
    if path.suffix in CODE or path.suffix.lower() in MEDIA:
        what = "var from code" if path.suffix in CODE else "var from a media file"
        notes.append(ctx.left_out(what, {name: reference}, "promptfoo runs it or sends it encoded; the var keeps "
                                                          "the file's name"))
        return reference
    if path.suffix in (".yaml", ".yml"):
        return json.dumps(ctx.sources.data(path)[0], ensure_ascii=False)
    return ctx.sources.text(path).strip()
