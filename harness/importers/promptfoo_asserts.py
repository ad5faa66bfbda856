"""promptfoo assertions as harness scorers, one by one; what cannot be translated is returned as a Comment holding the
original, and every assertion is tallied by its type.

Values are rendered with the case's vars first (promptfoo renders them with Nunjucks), so an assertion whose value is
a template becomes one scorer per case. Scorers that compare with a reference (similarity, ROUGE, BLEU, factuality)
take it from the case's ``expected`` in harness: ``Mapped.expected`` says what the case's expected must be.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex
import yaml

from harness.importers.common import Comment, Context, Untranslatable
from harness.importers.javascript import translate as javascript
from harness.importers.promptfoo_providers import model_name, transform_of
from harness.importers.promptfoo_python import translate as python_check
from harness.importers.sources import is_reference

NO_EXPECTED = object()
JUDGES = ("rubric", "factuality", "faithfulness", "context_relevance", "context_recall")
# promptfoo's types harness has nothing like, with why (shown in the comment).
NOT_IN_HARNESS = {
    "conversation-relevance": "harness has no conversation judge", "moderation": "harness calls no moderation API",
    "classifier": "harness runs no classifier models", "guardrails": "harness has no guardrails check",
    "webhook": "harness calls no webhooks", "ruby": "harness runs no Ruby", "pi": "harness has no Pi scorer",
    "perplexity": "harness records no log-probabilities", "perplexity-score": "harness records no log-probabilities",
    "gleu": "harness has no GLEU", "meteor": "harness has no METEOR", "is-refusal": "harness has no refusal check",
    "is-sql": "harness has no SQL parser", "contains-sql": "harness has no SQL parser",
    "is-xml": "harness has no XML check", "contains-xml": "harness has no XML check",
    "is-html": "harness has no HTML check", "contains-html": "harness has no HTML check",
    "select-best": "harness scores each output alone",
    "max-score": "harness scores each output alone", "human": "a human grade given in promptfoo's viewer",
    "trace-span-count": "harness records no traces", "trace-span-duration": "harness records no traces",
    "trace-error-spans": "harness records no traces",
}


# promptfoo's output is the list of tool calls when the model called tools: its first call's name or an argument.
_CALL = r"output(?:\[0\](?:\.function|\.functionCall)?|\.function|\.functionCall)"
_TOOL_NAME = re.compile(rf"^{_CALL}\.name$")
_TOOL_ARG = re.compile(rf"^(?:JSON\.parse\((?:{_CALL}|output)\.arguments\)|{_CALL}\.args)\.(\w+)$")
# promptfoo's contains-json finds the JSON objects in the output: here the first {...} whose braces balance (outside
# text in quotes), by the regex package's recursion; or, when there is none, the empty text at the end (which the
# json scorer then fails, rather than the transform failing, so that not-contains-json passes).
JSON_OBJECT = r'(?s)(\{(?:[^{}"]|"(?:[^"\\]|\\.)*"|(?1))*\})|\Z'
_JS_EQUALS = re.compile(r"^\s*(?:return\s+)?(\S+?)\s*===?\s*(['\"])([^'\"\\]*)\2\s*;?\s*$")


@dataclass
class Mapped:
    scorer: dict[str, Any]
    expected: Any = NO_EXPECTED


def translate(assertion: Any, ctx: Context, render: Callable[[Any], Any]) -> Mapped | Comment:
    """One assertion (already rendered for its case by ``render``) as a harness scorer, or a Comment; tallied."""
    if not isinstance(assertion, dict) or not isinstance(assertion.get("type"), str):
        ctx.tally.assertion("(no type)", translated=False)
        return Comment.left_out("no type", assertion, "an assertion needs a type")
    kind = assertion["type"]
    if kind == "assert-set":
        return _group(assertion, ctx, render)
    try:
        mapped = _one(assertion, ctx, render)
    except Untranslatable as exc:
        ctx.tally.assertion(kind, translated=False, as_kind=exc.kind)
        return Comment.left_out(exc.kind, assertion, str(exc))
    ctx.tally.assertion(kind, translated=True)
    return mapped


def _one(assertion: dict[str, Any], ctx: Context, render: Callable[[Any], Any]) -> Mapped:
    kind = assertion["type"]
    negated = kind.startswith("not-")
    base = kind.removeprefix("not-")
    if base in NOT_IN_HARNESS:
        raise Untranslatable(kind, NOT_IN_HARNESS[base])
    handler = HANDLERS.get(base) or (_similar if base.startswith("similar") else None)
    if handler is None:
        raise Untranslatable(f"{kind} (not a promptfoo type)", "promptfoo has no assertion type of this name")
    if "contextTransform" in assertion:
        raise Untranslatable(kind, "contextTransform is JavaScript run by promptfoo")
    value = _value(assertion, kind, ctx, render)
    call = _tool_call(assertion.get("transform"), value, ctx) if base == "equals" else None
    if call is not None:
        assertion = {k: v for k, v in assertion.items() if k != "transform"}
    mapped = call or handler(assertion, value, ctx)
    scorer = mapped.scorer
    if negated:
        scorer["not"] = True
        if isinstance(scorer.get("threshold"), int | float):  # promptfoo's not-X(t) passes under t: 1 - score >= 1 - t
            scorer["threshold"] = round(1 - scorer["threshold"], 12)
    _common(assertion, scorer, ctx)
    return mapped


def _tool_call(expression: Any, value: Any, ctx: Context) -> Mapped | None:
    """A check of the first tool call's name or of one of its arguments, as harness's tool_call scorer."""
    if not isinstance(expression, str) or isinstance(value, dict | list):
        return None
    expression = expression.strip().rstrip(";").strip()
    if _TOOL_NAME.match(expression):
        return Mapped({"type": "tool_call", "name": str(value)})
    found = _TOOL_ARG.match(expression)
    if found:
        return Mapped({"type": "tool_call", "args": {found.group(1): value}})
    return None


def _tool_call_transform(expression: Any) -> dict[str, str] | None:
    """A transform reading the first tool call's name or one of its arguments, as a python transform reading the
    response's tool calls (promptfoo's output is the list of calls when the model called tools)."""
    if not isinstance(expression, str):
        return None
    expression = expression.strip().rstrip(";").strip()
    if _TOOL_NAME.match(expression):
        return {"python": "response.tool_calls[0].name"}
    found = _TOOL_ARG.match(expression)
    return {"python": f"response.tool_calls[0].arguments[{found.group(1)!r}]"} if found else None


def _value(assertion: dict[str, Any], kind: str, ctx: Context, render: Callable[[Any], Any]) -> Any:
    value = assertion.get("value")
    if is_reference(value):
        if kind.removeprefix("not-") == "python":
            return value  # a check file: harness.importers.promptfoo_python loads it
        if value.rpartition(":")[0].endswith((".js", ".ts", ".mjs", ".cjs", ".py")) or value.endswith(
                (".js", ".ts", ".mjs", ".cjs", ".py")):
            raise Untranslatable(f"{kind.removeprefix('not-')} (file)", "its value is code in a file, run by promptfoo")
        path = ctx.sources.path(value, file=ctx.file)
        if path is None:
            return value
        if path.suffix in (".json", ".yaml", ".yml"):
            return ctx.sources.data(path)[0]
        return ctx.sources.text(path).strip()
    return render(value)


def metric_name(metric: str) -> str:
    """promptfoo's metric name as harness can threshold it: NAME.mean reads the part before a '.' as the name."""
    return metric.replace(".", "_")


def _common(assertion: dict[str, Any], scorer: dict[str, Any], ctx: Context) -> None:
    if "weight" in assertion and assertion["weight"] != 1:
        scorer["weight"] = assertion["weight"]
    if isinstance(assertion.get("metric"), str):
        scorer["metric"] = metric_name(assertion["metric"])
    provider = assertion.get("provider")
    provider = provider.get("id") if isinstance(provider, dict) else provider
    if isinstance(provider, str) and scorer.get("type") in (*JUDGES, "similarity"):
        scorer["model"] = model_name(provider) or provider
    if "transform" in assertion:
        transform = transform_of(assertion["transform"]) or _tool_call_transform(assertion["transform"])
        if transform is None:
            raise Untranslatable(f"{assertion['type']} (transform)", "its transform is JavaScript that is not simple")
        scorer["transform"] = transform
    if assertion.get("rubricPrompt") is not None and scorer.get("type") in JUDGES:
        scorer[Comment(("promptfoo's rubricPrompt is not carried over: the harness judge prompt is used",))] = None


def _threshold(assertion: dict[str, Any], default: float | None = None) -> dict[str, float]:
    threshold = assertion.get("threshold", default)
    if threshold is None:
        return {}
    if not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        raise Untranslatable(assertion["type"], f"a threshold of {threshold!r}: harness scores are from 0 to 1")
    return {"threshold": threshold}


def _text(value: Any, kind: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Untranslatable(kind, "its value is not text")
    return str(value)


def _equals(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    if isinstance(value, dict | list):
        return Mapped({"type": "python", "expr": f"json == {value!r}"})
    return Mapped({"type": "equals", "value": _text(value, assertion["type"])})


def _contains(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    ignore_case = assertion["type"].removeprefix("not-").startswith("i")
    return Mapped({"type": "contains", "value": _text(value, assertion["type"]), "ignore_case": ignore_case})


def _contains_many(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    base = assertion["type"].removeprefix("not-")
    values = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise Untranslatable(assertion["type"], "its value is not a list")
    name = "contains_any" if base.endswith("any") else "contains_all"
    return Mapped({"type": name, "values": [_text(v, base) for v in values], "ignore_case": base.startswith("i")})


def _starts_with(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    return Mapped({"type": "starts_with", "value": _text(value, assertion["type"]), "strip": False})


def _regex(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    pattern = _text(value, assertion["type"])
    try:
        regex.compile(pattern)
    except regex.error as exc:
        raise Untranslatable(assertion["type"], f"not a pattern harness can read: {exc}") from None
    return Mapped({"type": "regex", "pattern": pattern})


def _json(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    scorer: dict[str, Any] = {"type": "json"}
    if isinstance(value, str) and value.strip():
        try:
            value = yaml.safe_load(value)  # promptfoo reads a schema given as text as YAML (JSON is YAML)
        except yaml.YAMLError:
            raise Untranslatable(assertion["type"], "its schema is neither JSON nor YAML") from None
    if isinstance(value, dict):
        scorer["schema"] = value
    if assertion["type"].removeprefix("not-") == "contains-json":  # the first {...} in the output, balanced
        scorer["transform"] = {"regex": JSON_OBJECT}
    return Mapped(scorer)


def _tools(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    # promptfoo fails an answer without tool calls, which tool_args_valid does not score: so a call is required too
    return Mapped({"name": "tool_args_valid", "all": [{"type": "tool_call"}, {"type": "tool_args_valid"}]})


def _finish_reason(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    reason = _text(value, assertion["type"]).lower()  # promptfoo compares them ignoring case
    return Mapped({"type": "python", "name": "finish_reason",
                   "expr": f"(response.finish_reason or '').lower() == {reason!r}"})


def _javascript(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    check = _JS_EQUALS.match(_text(value, "javascript (not simple)"))
    call = _tool_call(check.group(1), check.group(3), ctx) if check else None
    if call is not None:
        return call
    found = javascript(value)
    if found.expr is None:
        kind = "javascript (fails in promptfoo)" if found.fails_in_promptfoo else "javascript (not simple)"
        raise Untranslatable(kind, found.reason)
    if found.kind != "num":  # True or False, or a GradingResult: promptfoo gives no threshold to either
        return Mapped({"type": "python", "expr": found.expr})
    threshold = _threshold(assertion)
    if threshold:  # a number passes at the threshold and above
        return Mapped({"type": "python", "expr": f"min(max({found.expr}, 0), 1)", **threshold})
    # without a threshold, above 0: the score is kept (from 0 to 1), and passing decided as promptfoo decides it
    return Mapped({"type": "python",
                   "expr": f"(lambda score: {{'score': min(max(score, 0), 1), 'passed': score > 0}})({found.expr})"})


def _python(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    return Mapped(python_check(assertion, value, ctx))


def _similar(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    if assertion["type"].removeprefix("not-") not in ("similar", "similar:cosine"):
        raise Untranslatable(assertion["type"], "harness measures cosine similarity only")
    references = value if isinstance(value, list) else [_text(value, "similar")]
    model = ctx.defaults.get("embedding", "openai/text-embedding-3-large")  # promptfoo's default embedding model
    scorer = {"type": "similarity", "model": model, **_threshold(assertion, 0.75)}
    return Mapped(scorer, references[0] if len(references) == 1 else references)


def _reference(name: str, default: float) -> Callable[[dict[str, Any], Any, Context], Mapped]:
    def handler(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
        return Mapped({"type": name, **_threshold(assertion, default)}, _text(value, assertion["type"]))

    return handler


def _rubric(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    rubric = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    scorer: dict[str, Any] = {"type": "rubric", "rubric": rubric}
    if assertion["type"].removeprefix("not-") == "g-eval":
        criteria = value if isinstance(value, list) else [value]
        scorer.update(rubric="; ".join(map(str, criteria)), scale=[1, 10], **_threshold(assertion, 0.7))
    else:
        scorer.update(_threshold(assertion))
    return Mapped(scorer)


# promptfoo's answer-relevance asks a model which questions the output answers and compares them with the input
# by embeddings; harness asks its judge the same thing directly, on a 1-5 scale mapped to 0..1.
ANSWER_RELEVANCE = ("The output answers the question the assistant was asked: it addresses what was asked, directly, "
                    "without drifting to other subjects.")


def _answer_relevance(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    return Mapped({"type": "rubric", "rubric": ANSWER_RELEVANCE, "scale": [1, 5], **_threshold(assertion, 0.5)})


def _context_relevance(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    # promptfoo reads the question from the var `query` and the context from `context`, as harness's judge does
    return Mapped({"type": "context_relevance", "question": "query", **_threshold(assertion)})


def _context_recall(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    # the ground truth is the assertion's own, not the case's expected (which another assertion may hold)
    return Mapped({"type": "context_recall", "reference": _text(value, assertion["type"]), **_threshold(assertion)})


def _factuality(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    # promptfoo passes subsets, supersets and equivalents and fails disagreements: harness's 0.5 and above.
    return Mapped({"type": "factuality", "threshold": 0.5}, _text(value, assertion["type"]))


def _faithfulness(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    return Mapped({"type": "faithfulness", "context": "context", "question": "query", **_threshold(assertion)})


def _levenshtein(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
    distance = assertion.get("threshold") or 5  # as promptfoo reads it (a threshold of 0 too)
    return Mapped({"type": "levenshtein", "value": _text(value, "levenshtein"), "max_distance": distance,
                   "strip": False})


def _bound(name: str, argument: str) -> Callable[[dict[str, Any], Any, Context], Mapped]:
    def handler(assertion: dict[str, Any], value: Any, ctx: Context) -> Mapped:
        if not isinstance(assertion.get("threshold"), int | float):
            raise Untranslatable(assertion["type"], "it needs a threshold")
        return Mapped({"type": name, argument: assertion["threshold"]})

    return handler


HANDLERS: dict[str, Callable[[dict[str, Any], Any, Context], Mapped]] = {
    "equals": _equals, "contains": _contains, "icontains": _contains, "contains-any": _contains_many,
    "contains-all": _contains_many, "icontains-any": _contains_many, "icontains-all": _contains_many,
    "starts-with": _starts_with, "regex": _regex, "is-json": _json, "contains-json": _json,
    "is-valid-openai-tools-call": _tools, "is-valid-function-call": _tools, "is-valid-openai-function-call": _tools,
    "javascript": _javascript, "python": _python, "rouge-n": _reference("rouge1", 0.75),
    "bleu": _reference("bleu", 0.5), "llm-rubric": _rubric, "model-graded-closedqa": _rubric, "g-eval": _rubric,
    "answer-relevance": _answer_relevance, "factuality": _factuality, "model-graded-factuality": _factuality,
    "context-faithfulness": _faithfulness, "context-relevance": _context_relevance, "context-recall": _context_recall,
    "levenshtein": _levenshtein, "latency": _bound("latency", "max_ms"), "cost": _bound("cost", "max_usd"),
    "finish-reason": _finish_reason,
}


def _group(assertion: dict[str, Any], ctx: Context, render: Callable[[Any], Any]) -> Mapped | Comment:
    """An assert-set as a group: all members must pass, or, with a threshold, their weighted score must reach it."""
    members = assertion.get("assert") if isinstance(assertion.get("assert"), list) else []
    scratch = ctx.scratch()
    mapped = [translate(member, scratch, render) for member in members]
    try:
        threshold = _threshold({**assertion, "type": "assert-set"})
    except Untranslatable as exc:
        return _group_left_out(assertion, ctx, scratch, str(exc))
    if not mapped or any(isinstance(m, Comment) or m.expected is not NO_EXPECTED for m in mapped):
        return _group_left_out(assertion, ctx, scratch, "a member could not be translated")
    ctx.tally.add(scratch.tally)
    group: dict[str, Any] = {"all": [m.scorer for m in mapped if isinstance(m, Mapped)], **threshold}
    if "weight" in assertion and assertion["weight"] != 1:
        group["weight"] = assertion["weight"]
    if isinstance(assertion.get("metric"), str):
        group["metric"] = metric_name(assertion["metric"])
    return Mapped(group)


def _group_left_out(assertion: dict[str, Any], ctx: Context, scratch: Context, reason: str) -> Comment:
    """The whole set as a comment: its members count as untranslated (those that alone would translate, as such)."""
    ctx.tally.total.update(scratch.tally.total)
    ctx.tally.untranslated.update(scratch.tally.untranslated)
    left = sum(scratch.tally.translated.values())
    if left:
        ctx.tally.untranslated["assert-set (left out with an untranslated member)"] += left
    return Comment.left_out("assert-set", assertion, reason)
