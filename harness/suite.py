"""Loading a suite: YAML, data files and plugins into the typed spec (harness.spec).

Validation happens once, at load, so a run never starts on a suite that would fail halfway.
Every error is mapped back to the YAML line (or the CSV/JSONL row) it came from, and the
suite remembers where each part was written, so problems found later can say so too. Files a
suite names (templates, data, plugins) must be inside its project (see harness.files.confined).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness import prompts, scorers, yamlfile
from harness.cases import read_cases
from harness.chat import ResponseFormat, check_json_schema
from harness.derived_metrics import derived_of
from harness.errors import HarnessError, did_you_mean
from harness.files import confined, read_text
from harness.formatting import listing
from harness.located import line_of, validate
from harness.plugins import import_code, import_function
from harness.scorers import transforms
from harness.scorers.names import Where, name_scorers
from harness.spec import KNOWN_PARAMS, Bound, Case, ScorerSpec, Suite, metric_names

# Metrics that are shares (of trials, of cases): a threshold on one outside [0, 1] can never be met.
RATE_METRICS = ("pass_rate", "error_rate", "accuracy", "macro_f1", "agreement", "mean")
# Request parameters a provider may take besides the ones harness types (a misspelt one is a warning, not an error).
OTHER_PARAMS = ("response_format", "tools", "tool_choice", "logit_bias", "logprobs", "top_logprobs", "user",
                "reasoning_effort", "top_k", "repetition_penalty", "parallel_tool_calls", "extra_headers",
                "extra_body", "thinking", "min_p")


def load_suite(path: str | Path) -> Suite:
    """Read, validate and resolve a suite file: cases from data files, scorers, templates, thresholds."""
    path = Path(path)
    if path.is_dir():
        raise HarnessError("is a directory, not a suite file", file=path, hint="pass the path of a .yaml suite")
    if not path.is_file():
        raise HarnessError("suite file not found", file=path, hint="pass the path of a .yaml suite")
    data, root = yamlfile.load(read_text(path), path)
    if data is None:
        raise HarnessError("the suite file is empty", file=path, line=1,
                           hint="a suite needs at least name:, prompts: and cases: (see suites/sentiment.yaml)")
    if not isinstance(data, dict):
        raise HarnessError("a suite must be a YAML mapping (name:, prompts:, cases:, ...)", file=path, line=1)
    suite = validate(Suite, {**data, "path": path}, file=path, node=root)
    suite._where.update(_places(suite, root))
    suite = _with_schema_files(suite, root)
    _import_plugins(suite, root)
    _import_model_functions(suite, root)
    located = _cases(suite, root)
    _check_unique_ids(located, suite)
    _check_unique_names(suite, path, root)
    suite = suite.model_copy(update={"cases": [case for case, _ in located]})
    _check_scorers(suite, root)
    suite = name_scorers(suite, _placer(suite, root))
    _check_human_labels(suite)
    _check_transforms(suite, root)
    _check_thresholds(suite, path, root)
    for prompt in suite.prompts:
        prompts.locate_template(prompt, suite, line=suite.where(f"prompts.{prompt.id}"))
    return suite


def _places(suite: Suite, root: yaml.Node) -> dict[str, tuple[str, int | None]]:
    """Where each prompt, model, inline case, threshold and gate was written in the suite file."""
    file = str(suite.path)
    places = {f"prompts.{p.id}": (file, line_of(root, ("prompts", i, "template"))) for i, p in enumerate(suite.prompts)}
    for i, prompt in enumerate(suite.prompts):
        text = _node(root, ("prompts", i, "text"))
        if text is not None:  # a block scalar (text: |) starts on the line after its key
            places[f"prompts.{prompt.id}.text"] = (file, text.start_mark.line + 1 + (text.style in ("|", ">")))
    places.update({f"models.{m.id}": (file, line_of(root, ("models", i))) for i, m in enumerate(suite.models)})
    # What a verdict's checks point at: each threshold and gate where it is set (else the key, else the name).
    places.update({key: (file, line_of(root, (key,))) for key in ("name", "thresholds", "gates", "max_error_rate",
                                                                   "must_pass") if _node(root, (key,)) is not None})
    places.update({f"thresholds.{metric}": (file, line_of(root, ("thresholds", metric)))
                   for metric in suite.thresholds})
    places.update({f"gates.{gate}": (file, line_of(root, ("gates", gate)))
                   for gate in suite.gates.model_fields_set})
    if isinstance(suite.cases, list):
        places.update({f"cases.{c.id}": (file, line_of(root, ("cases", i))) for i, c in enumerate(suite.cases)})
    return places


def _with_schema_files(suite: Suite, root: yaml.Node) -> Suite:
    """Response formats whose schema is a file (``json_schema: {name, schema_file}``), with that file's schema in."""
    def read(fmt: ResponseFormat | None, loc: tuple) -> ResponseFormat | None:
        given = fmt.json_schema if fmt is not None else None
        if not given or "schema_file" not in given or "schema" in given:
            return fmt
        line = line_of(root, loc)
        path = suite.directory / given["schema_file"]
        if not path.is_file():
            raise HarnessError(f"schema file not found: {path}", file=suite.path, line=line)
        path = confined(path, prompts.allowed_roots(suite), what="schema file", file=suite.path, line=line)
        schema, _ = yamlfile.load(read_text(path), path)  # JSON is YAML too
        try:
            check_json_schema(schema if isinstance(schema, dict) else {"type": 0})
        except ValueError as exc:
            raise HarnessError(str(exc), file=path) from None
        rest = {k: v for k, v in given.items() if k != "schema_file"}
        return fmt.model_copy(update={"json_schema": {**rest, "schema": schema}})

    prompts_ = [p.model_copy(update={"response_format": read(p.response_format, ("prompts", i, "response_format"))})
                for i, p in enumerate(suite.prompts)]
    return suite.model_copy(update={"response_format": read(suite.response_format, ("response_format",)),
                                    "prompts": prompts_})


def _node(root: yaml.Node, loc: tuple) -> yaml.Node | None:
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return None
        if node is None:
            return None
    return node


def _import_plugins(suite: Suite, root: yaml.Node) -> None:
    """The suite's ``plugins:`` (files inside the project, or installed modules), so their scorers register."""
    roots = prompts.allowed_roots(suite)
    for i, plugin in enumerate(suite.plugins):
        line = line_of(root, ("plugins", i))
        if plugin.endswith(".py"):
            confined(suite.directory / plugin, roots, what=f"plugin '{plugin}'", file=suite.path, line=line)
        import_code(plugin, base=suite.directory, file=suite.path, line=line)


def _import_model_functions(suite: Suite, root: yaml.Node) -> None:
    """The functions of ``python:`` models (and judge), imported now: one that is not there fails at its line."""
    placed = [(("models", i), model) for i, model in enumerate(suite.models)] + [(("judge",), suite.judge)]
    for loc, model in placed:
        if model is not None and model.python is not None:
            model._function = import_function(model.python, base=suite.directory, file=suite.path,
                                              line=line_of(root, (*loc, "python")),
                                              roots=prompts.allowed_roots(suite), what="model file")


def _cases(suite: Suite, root: yaml.Node) -> list[tuple[Case, tuple[str, int | None]]]:
    """The cases, each with the file and line it was written on (the suite's, or a data file's)."""
    line = line_of(root, ("cases",))
    if isinstance(suite.cases, list):
        found = [(case, (str(suite.path), line_of(root, ("cases", i)))) for i, case in enumerate(suite.cases)]
    else:
        data = suite.directory / suite.cases
        if not data.is_file():
            raise HarnessError(f"cases file not found: {data}", file=suite.path, line=line,
                               hint="the path is relative to the suite file")
        data = confined(data, prompts.allowed_roots(suite), what=f"cases file '{suite.cases}'", file=suite.path,
                        line=line)
        found = [(case, (str(data), row)) for case, row in read_cases(data, suite_file=suite.path, line=line)]
        suite._where.update({f"cases.{case.id}": where for case, where in found})
    if not found:
        raise HarnessError("the suite has no cases", file=suite.path, line=line)
    return found


def _check_unique_ids(cases: list[tuple[Case, tuple[str, int | None]]], suite: Suite) -> None:
    seen: dict[str, tuple[int, int | None]] = {}
    for number, (case, (file, line)) in enumerate(cases, start=1):
        if case.id in seen:
            first, first_line = seen[case.id]
            raise HarnessError(f"duplicate case id '{case.id}' (cases {first} and {number}, at lines {first_line} "
                               f"and {line})", file=file, line=line,
                               hint="identical cases get the same derived id: give them distinct 'id's")
        seen[case.id] = (number, line)
    suite._where.update({f"cases.{case.id}": where for case, where in cases})


def _check_unique_names(suite: Suite, path: Path, root: yaml.Node) -> None:
    """Prompt ids and model ids key the results: two alike would merge silently (scorers: harness.scorers.names)."""
    for key, names in [("prompts", [p.id for p in suite.prompts]), ("models", [m.id for m in suite.models])]:
        for i, name in enumerate(names):
            if name in names[:i]:
                raise HarnessError(f"two {key} are called '{name}'", file=path, line=line_of(root, (key, i)),
                                   hint="give each a distinct 'id'")


def _placer(suite: Suite, root: yaml.Node) -> Where:
    """Where a part of a scorer was written: its line in the suite file, or its case's row in a data file."""
    inline = isinstance(_node(root, ("cases",)), yaml.SequenceNode)

    def where(loc: tuple[Any, ...]) -> tuple[str | Path | None, int | None]:
        if loc[0] == "cases" and not inline:
            return suite.located(f"cases.{suite.cases[loc[1]].id}")
        return suite.path, line_of(root, loc)

    return where


def _check_scorers(suite: Suite, root: yaml.Node) -> None:
    """Every scorer's arguments at its own line; every case each scorer sees, at the case's line."""
    inline = isinstance(_node(root, ("cases",)), yaml.SequenceNode)
    uses = [(spec, ("scorers", i)) for i, spec in enumerate(suite.scorers)]
    for i, case in enumerate(suite.cases):
        uses += [(spec, ("cases", i, "scorers", j)) for j, spec in enumerate(case.scorers or [])]
    for spec, loc in uses:
        node = _node(root, loc) if loc[0] == "scorers" or inline else None
        file, line = (suite.path, line_of(root, loc)) if node is not None else \
            suite.located(f"cases.{suite.cases[loc[1]].id}")
        scorers.check_spec(spec, suite, file=Path(file), line=line,
                           lines=lambda *path, n=node: line_of(n, path) if n is not None else None)
    for case in suite.cases:
        for spec in suite.scorers_for(case):
            problem = scorers.check_case(spec, case, base=suite.directory)
            if problem:
                file, line = suite.located(f"cases.{case.id}")
                raise HarnessError(f"case '{case.id}': {problem}", file=file, line=line)


def _check_human_labels(suite: Suite) -> None:
    """A case's human labels name scorers it has: a label for no scorer (a typo) would be compared with nothing."""
    for case in suite.cases:
        if not case.human:
            continue
        names = [spec.name for spec in suite.scorers_for(case)]
        unknown = next((name for name in case.human if name not in names), None)
        if unknown is not None:
            file, line = suite.located(f"cases.{case.id}")
            raise HarnessError(f"case '{case.id}': a human label for '{unknown}', which is no scorer of the case"
                               f"{did_you_mean(unknown, names)}", file=file, line=line,
                               hint="human: names the scorers whose verdicts people labelled: " + ", ".join(names))


def _check_transforms(suite: Suite, root: yaml.Node) -> None:
    """Every transform (the suite's, each prompt's, case's and scorer's) known, well formed and compiled, each step
    at its own line; a data file's case at its row."""
    inline = isinstance(_node(root, ("cases",)), yaml.SequenceNode)
    uses = [(suite.transform, ("transform",)), *((p.transform, ("prompts", i, "transform"))
                                                 for i, p in enumerate(suite.prompts)),
            *(use for i, s in enumerate(suite.scorers) for use in _scorer_transforms(s, ("scorers", i)))]
    for i, case in enumerate(suite.cases):
        uses += [(case.transform, ("cases", i, "transform")),
                 *(use for j, s in enumerate(case.scorers or [])
                   for use in _scorer_transforms(s, ("cases", i, "scorers", j)))]
    for steps, loc in uses:
        if not steps:
            continue
        owner = f"case '{suite.cases[loc[1]].id}': " if loc[0] == "cases" else ""
        if owner and not inline:
            file, line = suite.located(f"cases.{suite.cases[loc[1]].id}")
            transforms.check(steps, file=file, line=line, owner=owner)
        else:
            transforms.check(steps, file=suite.path, line=line_of(root, loc), owner=owner,
                             lines=lambda i, loc=loc: line_of(root, (*loc, i)))


def _scorer_transforms(spec: ScorerSpec, loc: tuple[Any, ...]) -> list[tuple[list[Any], tuple[Any, ...]]]:
    """A scorer's transform with where it is written, and its members' when it is a group."""
    own = [(spec.transform, (*loc, "transform"))]
    return own + [use for i, member in enumerate(spec.members)
                  for use in _scorer_transforms(member, (*loc, spec.group, i))]


def _check_thresholds(suite: Suite, path: Path, root: yaml.Node) -> None:
    derived_of(suite, lambda name: line_of(root, ("derived_metrics", name)))  # compiles each, or says why not
    known = metric_names(suite)
    for metric, bound in suite.thresholds.items():
        line = line_of(root, ("thresholds", metric))
        if metric not in known:
            raise HarnessError(f"unknown metric '{metric}' in thresholds{did_you_mean(metric, known)}",
                               file=path, line=line, hint="metrics: " + ", ".join(known))
        bound = bound if isinstance(bound, Bound) else Bound(min=bound)
        if metric.rpartition(".")[2] in RATE_METRICS and any(
                v is not None and not 0 <= v <= 1 for v in (bound.min, bound.max)):
            raise HarnessError(f"threshold {metric} is a share from 0 to 1: {bound.min or bound.max} can never be met",
                               file=path, line=line, hint="write 0.8 for 80%")


def load_warnings(suite: Suite) -> list[str]:
    """What a suite that loads may still hold by mistake: a misspelt request parameter, cases nothing scores."""
    return _param_warnings(suite) + _unscored_warnings(suite)


def _unscored_warnings(suite: Suite) -> list[str]:
    """Cases with no scorer at all: their trials pass with nothing checked (the suite has none, or a case has none
    of its own with ``inherit_scorers: false``)."""
    bare = [case.id for case in suite.cases if not suite.scorers_for(case)]
    if not bare:
        return []
    if len(bare) == len(suite.cases):
        return [f"{suite.path}: no scorers: every trial passes with nothing checked (add scorers:)"]
    return [f"{suite.path}: no scorers for case {listing([repr(case) for case in bare])} (inherit_scorers: false "
            "and none of its own): its trials pass with nothing checked"]


def _param_warnings(suite: Suite) -> list[str]:
    """Request parameters harness does not know and that look like a misspelling of one it does."""
    known = [*KNOWN_PARAMS, *OTHER_PARAMS]
    found = []
    for where, params in [("params", suite.params), *((f"model '{m.id}'", m.params) for m in suite.models)]:
        for name in params:
            hint = did_you_mean(name, known)
            if name not in known and hint:
                found.append(f"{suite.path}: {where}: '{name}' is not a parameter harness knows{hint}; "
                             "it is passed to the model as it is")
    return found
