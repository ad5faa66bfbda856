"""``harness import promptfoo``: a promptfoo config (its prompts, providers, tests and the files they name) as one
self-contained harness suite: prompts and cases are written inline, schemas and tools too.

promptfoo -> harness, in brief (harness.importers.promptfoo_asserts has every assertion type):
prompts -> prompts (text:, or messages: for chats); providers/targets -> models (litellm strings; label -> id;
config -> params); tests -> cases (vars; a list of texts in a var makes one case each); defaultTest.vars -> every
case's vars; defaultTest.assert -> the suite's scorers (a case's own scorers add to them); assert -> scorers
(weight, threshold, metric kept); test threshold -> case threshold; options.provider -> judge / a scorer's model;
options.transform and assertion transforms -> transform:; derivedMetrics -> derived_metrics:; assertionTemplates
($ref) are resolved; python assertions that are more than a true-or-false expression become functions of a checks
file written beside the suite (harness.importers.promptfoo_python). Whatever has no harness counterpart stays in the
suite as a comment holding the original.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from harness.errors import HarnessError
from harness.files import read_text
from harness.importers.common import Comment, Context, Imported, unique
from harness.importers.promptfoo_asserts import JUDGES, NO_EXPECTED, Mapped, translate
from harness.importers.promptfoo_prompts import prompts as read_prompts
from harness.importers.promptfoo_providers import model_name, providers, transform_of
from harness.importers.promptfoo_python import ChecksFile
from harness.importers.promptfoo_suite import derived_metrics, request_settings, suite_name
from harness.importers.promptfoo_tests import Test, expand, load, test_of
from harness.importers.sources import Sources, is_reference
from harness.prompts import Sandbox
from harness.spec import Case
from harness.yamlfile import load as load_yaml

CONFIG_KEYS = ("prompts", "providers", "targets", "tests", "defaultTest", "scenarios", "redteam")
QUIET_KEYS = ("description", "prompts", "providers", "targets", "tests", "defaultTest", "assertionTemplates",
              "derivedMetrics", "outputPath", "sharing", "writeLatestResults", "commandLineOptions", "tags",
              "evaluateOptions", "metadata")
LEFT_OUT_KEYS = {"redteam": "harness does not generate red-team tests", "scenarios": "harness has no scenarios",
                 "nunjucksFilters": "harness templates use Jinja's filters", "extensions": "harness runs no hooks",
                 "tracing": "harness records no traces", "env": "set these in the environment (or a .env file)"}


def import_config(path: Path) -> Imported:
    """The promptfoo config at ``path`` as a harness suite; HarnessError when it is not one or names missing files."""
    path = Path(path)
    data, root = _read(path)
    ctx = Context(path, root, Sources(path), checks=ChecksFile.named_after(suite_name(path, data), path))
    data = _resolve_templates(data, data.get("assertionTemplates") or {})
    if "redteam" in data and not data.get("tests"):
        raise HarnessError("nothing to import: promptfoo's red teaming generates this config's tests", file=path,
                           line=ctx.line("redteam"), hint="harness imports configs with tests:")
    prompt_specs = read_prompts(data.get("prompts"), ctx)
    models, request = providers(data.get("providers", data.get("targets")), ctx)
    default = _default_test(data.get("defaultTest"), ctx)
    judge = _judge(default, ctx)
    tests, unread = load(data.get("tests"), ctx)
    if not tests and not unread:
        tests = [Test(file=path, line=None)]  # promptfoo runs each prompt once, with no vars
    default, tests = _push_transforms(default, tests)
    scorers, cases = _cases(tests, default, ctx)
    _fill_missing_vars(cases, prompt_specs)
    ctx.sources.check()
    if not cases:
        raise HarnessError("none of its tests can be read here: " + ", ".join(c.lines[0] for c in unread),
                           file=path, line=ctx.line("tests"))
    suite: dict[str, Any] = {"name": suite_name(path, data), "description": str(data.get("description") or "")}
    suite = {k: v for k, v in suite.items() if v}
    suite["prompts"] = prompt_specs
    if models:
        suite["models"] = models
    suite.update(judge)
    suite.update(request_settings(request, ctx))
    suite.update(_defaults(default, scorers, ctx))
    suite.update(derived_metrics(data.get("derivedMetrics"), ctx))
    suite["cases"] = [*unread, *cases]
    for name in sorted(set(data) - set(QUIET_KEYS)):
        reason = LEFT_OUT_KEYS.get(name, "not a promptfoo setting harness has")
        suite[ctx.left_out(f"config {name}", {name: data[name]}, reason)] = None
    files = {ctx.checks.name: ctx.checks.text()} if ctx.checks.functions else {}
    return Imported(path, "promptfoo", suite, ctx.tally, files=files, copies=ctx.checks.copies)


def _read(path: Path) -> tuple[dict[str, Any], Any]:
    if not path.is_file():
        raise HarnessError("no such file", file=path, hint="pass the path of a promptfooconfig.yaml")
    data, root = load_yaml(read_text(path), path, words_as_text=True)  # promptfoo reads YAML 1.2: yes is a word
    if isinstance(data, dict) and "cases" in data and "tests" not in data:
        raise HarnessError("not a promptfoo config: this looks like a harness suite already (cases:)", file=path,
                           line=1, hint="harness validate it, or harness run it")
    if not isinstance(data, dict) or not any(key in data for key in CONFIG_KEYS):
        raise HarnessError("not a promptfoo config (no prompts:, providers: or tests:)", file=path, line=1,
                           hint="a promptfoo config is a YAML mapping with prompts:, providers: and tests:")
    return data, root


def _fill_missing_vars(cases: list[dict[str, Any]], prompt_specs: list[Any]) -> None:
    """A var a prompt uses that a case lacks is empty text, as promptfoo renders it (harness would stop instead)."""
    environment = Sandbox()
    used: set[str] = set()
    for template in _templates(prompt_specs):
        try:
            used |= meta.find_undeclared_variables(environment.parse(template))
        except jinja2.TemplateSyntaxError:
            continue
    used -= {"expected", "case_id"}
    for case in cases:
        case["vars"].update({name: "" for name in sorted(used - set(case["vars"]))})


def _templates(prompt_specs: list[Any]) -> list[str]:
    found = []
    for spec in prompt_specs:
        if isinstance(spec, dict) and isinstance(spec.get("text"), str):
            found.append(spec["text"])
        for message in spec.get("messages", []) if isinstance(spec, dict) else []:
            content = message.get("content")
            parts = content if isinstance(content, list) else [{"text": content}]
            found += [v for part in parts for v in part.values() if isinstance(v, str)]
    return found


def _resolve_templates(value: Any, templates: dict[str, Any]) -> Any:
    """``$ref: "#/assertionTemplates/name"`` replaced by that template (anywhere in the config)."""
    if isinstance(value, dict):
        reference = value.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/assertionTemplates/"):
            found = templates.get(reference.rpartition("/")[2])
            if isinstance(found, dict):
                return {**found, **{k: v for k, v in value.items() if k != "$ref"}}
        return {k: _resolve_templates(v, templates) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_templates(v, templates) for v in value]
    return value


def _default_test(value: Any, ctx: Context) -> Test:
    if is_reference(value):
        path = ctx.sources.path(value, file=ctx.file, line=ctx.line("defaultTest"))
        value = ctx.sources.data(path)[0] if path else {}
    return test_of(value or {}, ctx, ctx.file, ctx.line("defaultTest"))


def _judge(default: Test, ctx: Context) -> dict[str, Any]:
    provider = default.options.get("provider")
    embedding = provider.get("embedding") if isinstance(provider, dict) else None
    embedding = embedding.get("id") if isinstance(embedding, dict) else embedding
    if isinstance(embedding, str) and model_name(embedding):
        ctx.defaults["embedding"] = model_name(embedding)
    provider = provider.get("text", provider) if isinstance(provider, dict) and "id" not in provider else provider
    identifier = provider.get("id") if isinstance(provider, dict) else provider
    if not isinstance(identifier, str):
        return {}
    name = model_name(identifier)
    if name is None:
        return {ctx.left_out("judge provider", {"provider": provider}, "harness has no model like it"): None}
    return {"judge": name}


def _defaults(default: Test, scorers: list[Any], ctx: Context) -> dict[str, Any]:
    found: dict[str, Any] = {}
    transform = _raw_transform(default.options)
    if transform is not None:
        found.update(_transform(transform, ctx))
    if isinstance(default.threshold, int | float) and 0 <= default.threshold <= 1:
        found["threshold"] = default.threshold
    if scorers:
        found["scorers"] = scorers
    return found


def _push_transforms(default: Test, tests: list[Test]) -> tuple[Test, list[Test]]:
    """A test's (or defaultTest's) output transform that cannot be translated is given to each of its assertions
    instead, where a tool-call check can still be recognised; the rest are then left out, each on its own.

    A test's own transform replaces defaultTest's in promptfoo, while a case's follows the suite's in harness: so
    when some test has its own, defaultTest's is given to each test that has none, rather than to the suite."""
    outer = _raw_transform(default.options)
    if outer is not None and transform_of(outer) is None:
        default = _pushed(default, outer)
        tests = [t if _raw_transform(t.options) is not None else _pushed(t, outer) for t in tests]
    elif outer is not None and any(_raw_transform(t.options) is not None for t in tests):
        default = dataclasses.replace(default, options=_without_transform(default.options))
        tests = [t if _raw_transform(t.options) is not None else
                 dataclasses.replace(t, options={**t.options, "transform": outer}) for t in tests]
    return default, [_pushed(t, _raw_transform(t.options)) if _raw_transform(t.options) is not None and
                     transform_of(_raw_transform(t.options)) is None else t for t in tests]


def _raw_transform(options: dict[str, Any]) -> Any:
    return options.get("transform", options.get("postprocess"))


def _pushed(test: Test, transform: Any) -> Test:
    asserts = [{**a, "transform": [transform, a["transform"]] if "transform" in a else transform}
               if isinstance(a, dict) else a for a in test.asserts]
    return dataclasses.replace(test, asserts=asserts, options=_without_transform(test.options))


def _without_transform(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in ("transform", "postprocess")}


def _transform(transform: Any, ctx: Context) -> dict[Any, Any]:
    translated = transform_of(transform)
    if translated is None:
        return {ctx.left_out("transform", {"transform": transform}, "JavaScript that is not simple"): None}
    return {"transform": translated}


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(_templated(v) for k, v in value.items() if k in ("value", "assert"))
    return isinstance(value, list) and any(_templated(v) for v in value)


def _renderer(variables: dict[str, Any]):
    environment = Sandbox(undefined=jinja2.Undefined)
    environment.filters["dump"] = lambda value: json.dumps(value, ensure_ascii=False)

    def render(value: Any) -> Any:
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            try:
                return environment.from_string(value).render(variables)
            except jinja2.TemplateError:
                return value
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    return render


def _cases(tests: list[Test], default: Test, ctx: Context) -> tuple[list[Any], list[Any]]:
    """The suite's scorers (defaultTest's, when the same for every case) and the cases."""
    fixed = [a for a in default.asserts if not _templated(a)]
    per_case = [a for a in default.asserts if _templated(a)]
    suite_mapped = [translate(a, ctx, lambda v: v) for a in fixed]
    expected = next((m.expected for m in suite_mapped if isinstance(m, Mapped) and m.expected is not NO_EXPECTED),
                    NO_EXPECTED)
    scorers = _named([m.scorer if isinstance(m, Mapped) else m for m in suite_mapped], set(), ctx)
    suite_names = {s.get("name", s.get("type")) for s in scorers if isinstance(s, dict)}
    cases: list[Any] = []
    ids: set[str] = set()
    first = True
    for test in tests:
        combinations, notes = expand({**default.vars, **test.vars}, ctx, test)
        for n, variables in enumerate(combinations):
            counting = ctx if n == 0 else ctx.scratch()
            defaults_counting = ctx if first else ctx.scratch()
            first = False
            case = _case(test, variables, per_case, expected, (defaults_counting, counting), ctx, suite_names)
            case = {"id": _case_id(test, case, ids), **{k: v for k, v in case.items() if k != "id"}}
            if n == 0:
                case.update({note: None for note in notes})
            cases.append(case)
    return scorers, cases


def _case(test: Test, variables: dict[str, Any], per_case: list[Any], expected: Any,
          counting: tuple[Context, Context], ctx: Context, suite_names: set[str]) -> dict[str, Any]:
    render = _renderer(variables)
    mapped = [translate(a, counting[0], render) for a in per_case]
    mapped += [translate(a, counting[1], render) for a in test.asserts]
    mapped, expected = _one_expected(mapped, expected, counting[1])
    judge = test.options.get("provider")
    judge = model_name(judge) if isinstance(judge, str) else None
    scorers = []
    for m in mapped:
        scorer = m.scorer if isinstance(m, Mapped) else m
        if judge and isinstance(scorer, dict) and scorer.get("type") in JUDGES:
            scorer.setdefault("model", judge)
        scorers.append(scorer)
    case: dict[Any, Any] = {"vars": variables}
    if expected is not NO_EXPECTED:
        case["expected"] = expected
    if test.threshold is not None:
        case.update({"threshold": test.threshold} if isinstance(test.threshold, int | float) and
                    0 <= test.threshold <= 1 else {ctx.left_out("threshold", test.threshold, "not from 0 to 1"): None})
    if test.metadata:
        case["metadata"] = test.metadata
    if "transform" in test.options or "postprocess" in test.options:
        case.update(_transform(test.options.get("transform", test.options.get("postprocess")), ctx))
    if scorers:
        case["scorers"] = _named(scorers, set(suite_names), ctx)
    for key, value in {**test.other, **{k: v for k, v in test.options.items() if k not in (
            "provider", "transform", "postprocess")}}.items():
        case[ctx.left_out(f"test {key}", {key: value}, "harness cases have no such setting")] = None
    return case


def _one_expected(mapped: list[Any], expected: Any, ctx: Context) -> tuple[list[Any], Any]:
    """A case has one ``expected``: the scorers that need another reference are left out (and counted so)."""
    kept = []
    for m in mapped:
        if isinstance(m, Mapped) and m.expected is not NO_EXPECTED:
            if expected is NO_EXPECTED:
                expected = m.expected
            elif m.expected != expected:
                kind = m.scorer["type"]
                ctx.tally.translated[kind] -= 1
                ctx.tally.untranslated[f"{kind} (a second reference in one case)"] += 1
                m = Comment.left_out(f"{kind} (a second reference)", m.scorer, f"the case's expected is already "
                                     f"{json.dumps(expected, ensure_ascii=False)[:60]}")
        kept.append(m)
    return kept, expected


def _named(scorers: list[Any], taken: set[str], ctx: Context) -> list[Any]:
    """Scorers named apart (a second ``contains`` is reported as ``contains-2``), those under a promptfoo metric too:
    a ``metric:`` that several share aggregates them. tool_call's own ``name`` is the tool's, so a second one is
    told apart by its metric."""
    for scorer in scorers:
        if not isinstance(scorer, dict):
            continue
        if scorer.get("type") == "tool_call":
            if "metric" not in scorer:
                name = unique(scorer.get("name", "tool_call"), taken)
                if name != scorer.get("name", "tool_call"):
                    scorer["metric"] = name
            continue
        base = scorer.get("name") or scorer.get("type", "group")
        name = unique(base, taken)
        if name != base:
            scorer["name"] = name
    return scorers


def _case_id(test: Test, case: dict[str, Any], ids: set[str]) -> str:
    if test.description:
        return unique(re.sub(r"[^\w.-]+", "-", str(test.description)).strip("-")[:60] or "case", ids)
    derived = Case(vars=case["vars"], expected=case.get("expected")).id
    return unique(derived, ids)
