"""``harness init``: a first suite of one's own, written from a kind of task and (optionally) one's own cases.

A kind (classification, JSON extraction, summarization, RAG answers with hallucination checks) brings two
prompt variants to compare, the scorers that fit the task, a threshold, and sample cases (package data under
``harness/templates/init/``). Given a CSV or JSONL file instead, its columns become the cases' vars (the
prompts name each one) and its ``expected`` column the answers. Everything is planned and checked before a
file is written, and a file that exists is never replaced: a problem leaves the folder as it was.
"""

from __future__ import annotations

import csv
import io
import json
import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cases import CSV_SUFFIXES, JSONL_SUFFIXES, RESERVED_CSV_COLUMNS, csv_rows
from harness.errors import HarnessError, did_you_mean
from harness.files import read_json_lines, read_text
from harness.located import validate
from harness.spec import Case

SAMPLES = Path(__file__).parent / "templates" / "init"
NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")
# Words a template cannot use as a variable's name: Jinja's literals and the names harness gives templates.
NOT_VARIABLES = {"true", "false", "none", "True", "False", "None", "expected", "case_id", "loop", "self"}


@dataclass(frozen=True)
class Kind:
    """A kind of task: what its prompts ask, how its answers are scored, and its sample cases."""

    name: str
    title: str
    sample: str  # the sample cases' file under SAMPLES
    instruction: str  # what both prompt variants ask ({labels}: the expected values)
    guide: str  # the second variant's system message
    scorers: Callable[[list[Case], bool], list[dict[str, Any]]]
    needs_expected: bool = True
    sample_instruction: str | None = None  # what the prompts ask of the sample cases, when it differs
    params: dict[str, Any] = field(default_factory=lambda: {"temperature": 0, "max_tokens": 64})
    pass_rate: float = 0.5  # the suite's threshold: the share of each variant's trials that must pass


def _labels(cases: list[Case]) -> list[str]:
    return sorted({str(c.expected) for c in cases if c.expected is not None})


EXTRACTION_SCHEMA = {"type": "object", "required": ["name", "product", "quantity"],
                     "properties": {"name": {"type": "string"}, "product": {"type": "string"},
                                    "quantity": {"type": "integer"}}}

KINDS = {kind.name: kind for kind in [
    Kind("classification", "a label for each text (sentiment, intent, topic)", "classification.csv",
         "Classify the text into exactly one of these labels: {labels}. Answer with the label only.",
         "You label texts carefully: read each one to the end before you choose, and answer with the label alone.",
         lambda cases, sample: [{"type": "label", "labels": _labels(cases)}], pass_rate=0.7),
    Kind("extraction", "fields out of free text, as one JSON object", "extraction.jsonl",
         "Extract the information asked for from the text. Answer with a single JSON object and nothing else.",
         "You turn messages into clean JSON for a database. Never add keys, comments or text outside the JSON.",
         lambda cases, sample: [{"type": "json", **({"schema": EXTRACTION_SCHEMA} if sample else {})},
                                {"type": "contains"}],
         sample_instruction="Extract the customer's name, the product and the quantity (a number) from the text. "
                            "Answer with a single JSON object with the keys name, product and quantity, and nothing "
                            "else.",
         params={"temperature": 0, "max_tokens": 80}),
    Kind("summarization", "a short summary of a document, against a reference", "summarization.jsonl",
         "Summarize the text in one sentence.",
         "You write summaries for busy readers: one sentence, the main fact first, no details that are not in "
         "the text.",
         lambda cases, sample: [{"type": "rougeL"}, {"type": "length", "max_words": 40}],
         params={"temperature": 0, "max_tokens": 80}),
    Kind("rag", "answers from a given context (or 'not in the context'), checked for hallucinations",
         "rag.jsonl",
         "Answer the question from the context alone. If the context does not say, answer: "
         "\"The context does not say.\"",
         "You answer questions strictly from the context you are given. Never use outside knowledge; "
         "when the context does not contain the answer, say that it does not.",
         lambda cases, sample: [{"type": "abstention"}, {"type": "grounded"}],
         needs_expected=False, params={"temperature": 0, "max_tokens": 80}),
    # A chat agent with tools comes with conversations (docs/conversations.md): a kind here, when it lands.
]}


@dataclass(frozen=True)
class Starter:
    """What ``harness init`` writes: each file's path (under the project folder) and text."""

    suite: Path
    files: dict[Path, str]


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise HarnessError(f"'{name}' cannot name a suite",
                           hint="use lower-case letters, digits, - and _ (up to 60), e.g. support-tickets")
    return name


def kind_named(name: str) -> Kind:
    if name not in KINDS:
        raise HarnessError(f"no kind of suite '{name}'{did_you_mean(name, KINDS)}", hint="kinds: " + ", ".join(KINDS))
    return KINDS[name]


def plan_starter(kind: Kind, name: str, folder: Path, data: Path | None = None,
                 expected_column: str | None = None) -> Starter:
    """Every file of the new suite, checked (the data read, the vars named validly), nothing written yet."""
    check_name(name)
    source = data if data is not None else SAMPLES / kind.sample
    suffix = ".csv" if source.suffix in CSV_SUFFIXES else ".jsonl"
    cases, text = _read(source, expected_column)
    names = list(dict.fromkeys(k for case in cases for k in case.vars))
    if not names:
        raise HarnessError("the cases have no vars for a prompt to show", file=source, line=1,
                           hint="give each case at least one column (or key) besides id, expected and tags")
    if kind.needs_expected and all(case.expected is None for case in cases):
        raise HarnessError(f"no expected answers: a suite of kind {kind.name} scores each answer against one",
                           file=source,
                           line=1, hint="name the column of the right answers 'expected' (or give --expected COLUMN)")
    instruction = (kind.sample_instruction if data is None and kind.sample_instruction else kind.instruction)
    # A label is text for the template to show, never Jinja: each "{" is written as an expression printing it.
    instruction = instruction.format(labels=", ".join(_labels(cases)).replace("{", "{{ '{' }}"))
    variables = "".join(f"\n{var}: {{{{ {var} }}}}" for var in names)
    files = {
        Path("prompts", name, "plain.j2"): f"{instruction}\n{variables}\n",
        Path("prompts", name, "guided.j2"): f"{{% block system %}}{kind.guide}{{% endblock %}}\n{instruction}\n"
                                            f"{variables}\n",
        Path("suites", "data", name + suffix): text,
        Path("suites", f"{name}.yaml"): _suite_yaml(kind, name, suffix, kind.scorers(cases, data is None)),
    }
    return Starter(suite=folder / "suites" / f"{name}.yaml", files={folder / path: t for path, t in files.items()})


def write_starter(starter: Starter) -> list[Path]:
    """Write the files, none of which may exist yet (checked first: a problem writes nothing)."""
    existing = [path for path in starter.files if path.exists()]
    if existing:
        raise HarnessError("these files exist already, and harness init never replaces a file: "
                           + ", ".join(str(p) for p in existing),
                           hint="choose another --name, or another folder (--dir)")
    written = []
    for path, text in starter.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8", newline="") as handle:  # "x": never over a file made meanwhile
            handle.write(text)
        written.append(path)
    return written


def _read(source: Path, expected_column: str | None) -> tuple[list[Case], str]:
    """The cases of a CSV or JSONL file, and the text of its copy in the new suite's data folder."""
    if source.is_dir() or not source.exists():
        raise HarnessError("no cases file here" if not source.exists() else "is a folder, not a cases file",
                           file=source, hint="give a .csv or .jsonl file of cases")
    if source.suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise HarnessError(f"a cases file must be .csv or .jsonl, not '{source.suffix or source.name}'", file=source)
    if source.suffix in CSV_SUFFIXES:
        text = _csv_with_expected(read_text(source), expected_column, source)
        cases = [validate(Case, row, file=source, line=line) for line, row in csv_rows(text, source)]
    else:
        rows = [(line, _case_row(record, expected_column, source, line)) for line, record in read_json_lines(source)]
        cases = [validate(Case, row, file=source, line=line) for line, row in rows]
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for _, row in rows)
    if not cases:
        raise HarnessError("the cases file has no cases", file=source,
                           hint="a CSV needs a header row and a row per case; a JSONL file a line per case")
    for case in cases:
        for var in case.vars:
            _check_variable(var, source)
    return cases, text


def _csv_with_expected(text: str, column: str | None, source: Path) -> str:
    """The CSV's text, its ``column`` renamed to ``expected`` (the column harness reads answers from)."""
    if column is None or column == "expected":
        return text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0] if rows else []
    if column not in header:
        raise HarnessError(f"no column '{column}'{did_you_mean(column, header)}", file=source, line=1,
                           hint="columns: " + ", ".join(header))
    if "expected" in header:
        raise HarnessError(f"the file has an 'expected' column already: it cannot take '{column}' as well",
                           file=source, line=1)
    rows[0] = ["expected" if name == column else name for name in header]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _case_row(record: Any, column: str | None, source: Path, line: int) -> dict[str, Any]:
    """A JSONL line as a case: already one ({vars: ..., expected: ...}), or a flat object whose keys are vars."""
    if not isinstance(record, dict):
        raise HarnessError("each line must be a JSON object (a case)", file=source, line=line)
    if "vars" in record:
        return record
    answer = column or "expected"
    row: dict[str, Any] = {"vars": {k: v for k, v in record.items() if k not in (*RESERVED_CSV_COLUMNS, answer)}}
    row.update({key: record[key] for key in ("id", "tags") if key in record})
    if record.get(answer) is not None:
        row["expected"] = record[answer]
    return row


def _check_variable(var: str, source: Path) -> None:
    if not var.isidentifier() or keyword.iskeyword(var) or var in NOT_VARIABLES:
        suggestion = re.sub(r"\W+", "_", var.strip()).strip("_").lower() or "text"
        if suggestion[0].isdigit() or keyword.iskeyword(suggestion) or suggestion in NOT_VARIABLES:
            suggestion = f"the_{suggestion}"
        raise HarnessError(f"the column '{var}' is not a valid variable name: a prompt could not write "
                           f"{{{{ {var} }}}}", file=source, line=1,
                           hint=f"rename it, e.g. '{suggestion}' (letters, digits and _, not starting with a digit)")


def _suite_yaml(kind: Kind, name: str, suffix: str, scorers: list[dict[str, Any]]) -> str:
    """The suite file, commented for someone writing their first one (values as JSON: valid YAML, quoted)."""
    params = ", ".join(f"{k}: {json.dumps(v)}" for k, v in kind.params.items())
    scorer_lines = "".join(f"\n  - {{{', '.join(f'{k}: {json.dumps(v)}' for k, v in s.items())}}}" for s in scorers)
    return f"""\
# A suite of kind {kind.name}: {kind.title}.
# Run it:     harness run suites/{name}.yaml          (then open the report it names)
# Then edit:  the prompts in prompts/{name}/, the cases in suites/data/{name}{suffix}, and run it again.
name: {name}
description: {json.dumps(f"Written by harness init ({kind.name}): {kind.title}.")}
prompts:                      # the variants to compare, case by case
  - id: plain
    template: {name}/plain.j2
  - id: guided
    template: {name}/guided.j2
params: {{{params}}}
cases: data/{name}{suffix}    # in a CSV the columns id, expected and tags are special; every other one is a var
scorers:                      # how each answer is scored (a trial passes when every scorer passes){scorer_lines}
thresholds:                   # the verdict: every variant must reach these, else the run fails (exit 1)
  pass_rate: {kind.pass_rate}
"""
