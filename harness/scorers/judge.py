"""LLM-as-judge: ask a model to grade an output, and read its verdict without being fooled.

The judge's prompt is a Jinja template under ``prompts/judges/`` (a project's own copy of the
same name wins). The judge answers with a JSON object; reading it is deliberately narrow:

- the model output under judgement is wrapped in tags the output cannot close, and the
  judge is told that anything inside is data, not instructions;
- an answer that is one JSON object is the verdict; otherwise every JSON object and every
  ``score:`` / ``verdict:`` line that carries the verdict is a candidate, except text that
  also occurs in the output (the judge quoting it), and candidates that disagree make the
  answer unreadable: position never decides, so an echoed ``{"score": 5}`` cannot win;
- a value off the stated scale or choices is not a verdict.

An answer that cannot be read is asked for once more (quoting the problem); if that fails
too the score is an error, never a pass.

Which model judges is decided here too: --judge, else the suite's ``judge:``, else the default
model, with a scorer's own ``model:`` for that scorer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness import prompts
from harness.providers import LOCAL, default_model
from harness.records import Response
from harness.scorers import ScoringContext, Verdict, resolve
from harness.spec import ModelSpec, Suite

# Tags the judge templates put around untrusted text; occurrences inside that text are defused.
UNTRUSTED_TAGS = ("output", "reference", "context", "source", "input", "question")
_TAG = re.compile(r"<\s*(/?)\s*(" + "|".join(UNTRUSTED_TAGS) + r")\b", re.IGNORECASE)


class UnreadableVerdict(ValueError):
    """The judge's answer holds no verdict we can trust; the message says what was wrong."""


def defuse(text: str) -> str:
    """Untrusted text as it goes inside a judge prompt: its own <output>/</output> tags cannot close ours."""
    return _TAG.sub(lambda m: f"<{m.group(1)}\u200b{m.group(2)}", text)


def verdict_object(answer: str, key: str, untrusted: str = "",
                   read: Callable[[Any], Any] = lambda value: value) -> dict[str, Any]:
    """The judge's verdict: the JSON object (or ``key:`` line) in its answer that carries ``key``, with
    ``read(value)`` (which raises UnreadableVerdict on a value it cannot take) in place of the value.

    An answer that is one JSON object is the verdict. Otherwise every candidate counts (objects
    that carry ``key``, not the objects inside them, and ``key:`` lines) except text that also
    occurs in ``untrusted`` (the output under judgement, which the judge may quote) and values
    ``read`` cannot take (a line of prose). Candidates are compared as read ("Score: 4" agrees with
    {"score": 4}); candidates that disagree make the answer unreadable rather than letting position
    decide.
    """
    text = _unfenced(answer)
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and key in whole:
        return {**whole, key: read(whole[key])}
    echoes = _compact(untrusted) + "\n" + _compact(defuse(untrusted))
    found: list[dict[str, Any]] = []
    inside = 0  # where the last object carrying the key ends: the objects within it are part of it
    decoder = json.JSONDecoder()
    for start in (m.start() for m in re.finditer(r"\{", text)):
        if start < inside:
            continue
        try:
            value, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and key in value:
            inside = end
            if _compact(text[start:end]) not in echoes:
                found.append(value)
    for line in re.finditer(rf"^[\s*#>-]*{key}\**\s*[:=]\s*\**\s*([^\n*]+?)\s*\**\s*$", text,
                            re.IGNORECASE | re.MULTILINE):
        if _compact(line.group(0).strip(" *#>-")) not in echoes:
            found.append({key: line.group(1).strip().strip("\"'`.")})
    if not found:
        # A reply cut off by max_tokens after its verdict ({"score": 4, "reasoning": "The summ...) still
        # opens with the judge's own verdict.
        leading = re.match(rf'\s*\{{\s*"{key}"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)\s*[,}}]', text)
        if leading and _compact(leading.group(0)) not in echoes:
            return {key: read(json.loads(leading.group(1)))}
        raise UnreadableVerdict(f'no JSON object with "{key}" in the answer')
    candidates, problem = [], None
    for verdict in found:
        try:
            candidates.append({**verdict, key: read(verdict[key])})
        except UnreadableVerdict as exc:
            problem = exc
    if not candidates:
        raise problem
    if len({json.dumps(c[key], sort_keys=True, default=str).casefold() for c in candidates}) > 1:
        raise UnreadableVerdict(f'the answer holds conflicting values for "{key}"')
    return candidates[-1]


def _unfenced(answer: str) -> str:
    fenced = re.fullmatch(r"\s*```(?:json)?\s*\n?(.*?)\n?```\s*", answer, re.DOTALL | re.IGNORECASE)
    return fenced.group(1) if fenced else answer


def _compact(text: str) -> str:
    """Text without whitespace or case, to recognise a quote of the output in the judge's answer."""
    return re.sub(r"\s+", "", text).casefold()


def read_score(answer: str, scale: tuple[int, int], untrusted: str = "") -> tuple[int, str]:
    """(score on the scale, reasoning)."""
    verdict = verdict_object(answer, "score", untrusted, read=lambda raw: _score(raw, scale))
    return verdict["score"], str(verdict.get("reasoning", ""))


def _score(raw: Any, scale: tuple[int, int]) -> int:
    try:
        score = float(raw)
    except (TypeError, ValueError):
        raise UnreadableVerdict(f"score {raw!r} is not a number") from None
    if not score.is_integer() or not scale[0] <= score <= scale[1]:
        raise UnreadableVerdict(f"score {raw!r} is not a whole number from {scale[0]} to {scale[1]}")
    return int(score)


def read_choice(answer: str, key: str, choices: list[str], untrusted: str = "") -> tuple[str, str]:
    """(one of ``choices``, reasoning)."""
    verdict = verdict_object(answer, key, untrusted, read=lambda value: choice(value, choices, key))
    return verdict[key], str(verdict.get("reasoning", ""))


def choice(value: Any, choices: list[str], what: str) -> str:
    """``value`` as one of ``choices``, ignoring case, spaces and hyphens ("Not in context" is not_in_context)."""
    raw = str(value).strip().casefold().replace(" ", "_").replace("-", "_")
    match = next((c for c in choices if c.casefold() == raw), None)
    if match is None:
        raise UnreadableVerdict(f"{what} {value!r} is not one of {', '.join(choices)}")
    return match


@dataclass
class JudgeCalls:
    """What the judge calls behind one score cost: kept apart from the model under test's usage."""

    model: str = ""
    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None

    def add(self, response: Response) -> None:
        self.calls += 1
        self.cached += int(response.cached)
        self.prompt_tokens += response.prompt_tokens or 0
        self.completion_tokens += response.completion_tokens or 0
        if response.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + response.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Judgement:
    """What a judge scorer makes of the judge's answer: its value, the raw verdict (compared with human
    labels), the explanation, and anything else worth keeping (such as the claims)."""

    value: float
    judgement: str
    explanation: str
    metadata: dict[str, Any] = field(default_factory=dict)


async def judge(context: ScoringContext, template: str, variables: dict[str, Any],
                read: Callable[[str, str], Judgement], *, untrusted: str, model: str | None = None) -> Verdict:
    """Render a judge template, ask the judge, read its answer (asking once more if unreadable).

    ``read(answer, untrusted)`` turns the answer into a Judgement; ``untrusted`` is the output
    under judgement, whose quotes in the answer are never taken for the judge's own words. The
    Verdict carries the judgement and the calls' usage, or the error.
    """
    if context.judge is None:
        raise RuntimeError("this scorer needs a judge model, and none is available here")
    messages = prompts.render_messages(prompts.judge_template(template, context.directory), variables,
                                       source=template, what=f"judge template '{template}'")
    usage = JudgeCalls(model=context.judge.name(model))
    problem = ""
    for attempt in range(2):
        response = await context.judge.ask(messages, model=model)
        usage.add(response)
        if response.error:
            return Verdict(0.0, f"judge call failed: {response.error}", {"judge": usage.to_dict()},
                           error=f"judge: {response.error}")
        try:
            judged = read(response.text, untrusted)
        except UnreadableVerdict as exc:
            problem = str(exc)
            if attempt == 0:
                messages = [*messages, {"role": "assistant", "content": response.text},
                            {"role": "user", "content": f"I could not read your verdict: {problem}. "
                                                        "Reply with the JSON object only, exactly as asked."}]
            continue
        return Verdict(judged.value, judged.explanation,
                       {"judgement": judged.judgement, "judge": usage.to_dict(), **judged.metadata})
    return Verdict(0.0, f"judge answer unreadable after a retry: {problem}",
                   {"judge": usage.to_dict(), "judge_answer": response.text[:500]},
                   error=f"judge answer unreadable: {problem}")


# --- which model judges ---------------------------------------------------------------------------

# A judge should be deterministic and have room for its reasoning; the suite's judge params override these.
JUDGE_PARAMS = {"temperature": 0, "max_tokens": 400}


def resolve_judge(suite: Suite, name: str | None = None) -> ModelSpec:
    """The judge model: --judge, else the suite's ``judge:``, else the default model (the bundled one without keys)."""
    if name:
        return judge_spec(ModelSpec(model=name))
    return judge_spec(suite.judge or ModelSpec(model=default_model()[0]))


def judge_spec(spec: ModelSpec) -> ModelSpec:
    """A model as a judge: deterministic, room for its reasoning; the spec's own params win."""
    defaults = dict(JUDGE_PARAMS)
    if spec.model == LOCAL:
        # llama.cpp constrains the small model to valid JSON (far fewer unreadable verdicts), and a
        # shorter leash stops it rambling: the verdict comes first, so a cut-off reply is still read.
        defaults.update(response_format={"type": "json_object"}, max_tokens=200)
    return spec.model_copy(update={"params": {**defaults, **spec.params}})


def judge_models(suite: Suite, name: str | None = None) -> list[ModelSpec]:
    """Every judge the suite's scorers may ask: the run's judge (``name``, or see resolve_judge), and any a scorer
    names with ``model:``."""
    specs = [leaf for spec in [*suite.scorers, *(s for c in suite.cases for s in c.scorers or [])]
             for leaf in spec.leaves()]
    judged = [s for s in specs if resolve(s, base=suite.directory).uses_judge]
    if not judged:
        return []
    run_judge = resolve_judge(suite, name)
    models = {run_judge.model: run_judge}
    for spec in judged:
        if spec.arguments.get("model"):
            models.setdefault(spec.arguments["model"], judge_spec(ModelSpec(model=spec.arguments["model"])))
    return list(models.values())
