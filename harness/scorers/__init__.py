"""Scorers: a registry of functions ``(output, case, **args) -> float | bool | Verdict | None``.

A user adds one with the ``@scorer`` decorator in their own file and lists that file under
the suite's ``plugins:``, or names a plain function directly as ``type: path/to/file.py:func``
(or ``module:func``). Arguments are checked against the function's signature when the suite
loads, so a typo fails before any model is called.

A scorer may be ``async`` and may take a keyword ``scoring`` (a ScoringContext): that is how
judge scorers call a model and how latency or cost scorers see the response. Returning None
means "does not apply to this case" (a factuality check on a question with no answer): no
score is recorded, rather than a made-up pass or fail.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness import plugins, prompts
from harness.errors import HarnessError, did_you_mean
from harness.files import confined
from harness.providers.tool_calls import turn_tool_calls
from harness.records import TRANSFORM_FAILED, Score, Verdict
from harness.scorers import groups, transforms
from harness.scorers.arguments import SCORING_PARAMETER, PatternTimeout, check_arguments, coerce

if TYPE_CHECKING:
    from harness.chat import ResponseFormat, Tool
    from harness.records import Response, ToolCall
    from harness.spec import Case, ScorerSpec, Suite



class JudgeClient(Protocol):
    """The run's judge models: calls go through the run's cache, concurrency limit and retries."""

    def name(self, model: str | None = None) -> str: ...

    def ask(self, messages: list[dict[str, str]], model: str | None = None) -> Awaitable[Response]: ...


@dataclass(frozen=True)
class ScoringContext:
    """What a scorer may need besides the output: the model's response and a way to ask a judge model."""

    response: Response
    messages: list[dict[str, str]]
    directory: Path
    judge: JudgeClient | None = None
    # The conversation after the first request (see harness.run.conversation), the tools offered, the format asked.
    transcript: list[dict[str, Any]] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    response_format: ResponseFormat | None = None
    # The tool calls of the answer being scored: every call of the conversation, or one turn's.
    turn_calls: list[ToolCall] | None = None
    # Which of the conversation's answers is scored (from 0; the last unless the scorer says `turn:`).
    turn: int | None = None

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.response.tool_calls if self.turn_calls is None else self.turn_calls


@dataclass(frozen=True)
class ScorerInfo:
    name: str
    fn: Callable[..., Any]
    threshold: float = 1.0
    # "classification" scorers record metadata {"predicted", "expected"}; the run aggregates
    # them into accuracy, macro-F1 and a confusion matrix.
    kind: str = "score"
    # Checked at load for every case the scorer applies to: returns a problem, or None.
    check: Callable[[Case, dict[str, Any]], str | None] | None = None
    # Checked at load once per use of the scorer, beyond its arguments' types (a G-Eval criterion's template
    # exists in the suite's folder, a tool it names is offered): returns (the argument, its problem), or None.
    # The problem is text, or a HarnessError to show as it is (placed at the argument's line unless it has a place).
    check_args: Callable[[dict[str, Any], Suite], tuple[str, str | HarnessError] | None] | None = None
    # Asks a judge model (so the run records which one).
    uses_judge: bool = False


def scorer(name: str | Callable[..., Any] | None = None, *, threshold: float = 1.0, kind: str = "score",
           check: Callable[[Case, dict[str, Any]], str | None] | None = None,
           check_args: Callable[[dict[str, Any], Suite], tuple[str, str | HarnessError] | None] | None = None,
           uses_judge: bool = False):
    """Register a scorer: ``@scorer`` or ``@scorer("name", threshold=0.5)``.

    Its arguments are checked against its signature's types when a suite loads (see
    harness.scorers.arguments). ``check(case, args)`` may return a problem with a case (such as a
    missing ``expected``), also reported at load rather than as an error on every trial.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = name if isinstance(name, str) else fn.__name__
        plugins.SCORERS.register(key, ScorerInfo(name=key, fn=fn, threshold=threshold, kind=kind, check=check,
                                                 check_args=check_args, uses_judge=uses_judge),
                                 module=fn.__module__)
        return fn

    if callable(name):
        return register(name)
    return register


def import_plugins(suite: Suite) -> None:
    """Import the suite's ``plugins:`` (Python files beside the suite, or modules) so their scorers register."""
    for plugin in suite.plugins:
        plugins.import_code(plugin, base=suite.directory, file=suite.path)


def resolve(spec: ScorerSpec, *, base: Path | None = None, file: Path | None = None,
            line: int | None = None) -> ScorerInfo:
    """The scorer a spec names: a registered name, or ``file.py:function`` / ``module:function``."""
    registered = plugins.SCORERS.get(spec.type)
    if registered is not None:
        return registered
    if ":" in spec.type:
        fn = plugins.import_function(spec.type, base=base or Path.cwd(), file=file, line=line)
        registered = plugins.SCORERS.get(fn.__name__)
        return registered if registered and registered.fn is fn else ScorerInfo(name=spec.type, fn=fn)
    names = plugins.SCORERS.names()
    raise HarnessError(f"unknown scorer '{spec.type}'{did_you_mean(spec.type, names)}", file=file, line=line,
                       hint="scorers: " + ", ".join(names) + "; or 'path/to/file.py:function' for your own")


def confine(target: str, suite: Suite, *, file: Path | None = None, line: int | None = None) -> None:
    """A suite's own scorer code (``file.py:function``) must be inside its project, as every file it names is."""
    where = target.rpartition(":")[0]
    if where.endswith(".py"):
        confined(suite.directory / where, prompts.allowed_roots(suite), what=f"scorer file '{where}'", file=file,
                 line=line)


def check_spec(spec: ScorerSpec, suite: Suite, *, file: Path, line: int | None,
               lines: Callable[..., int | None] = lambda *_path: None, depth: int = 0) -> None:
    """Fail at load when a scorer is unknown, its file is outside the project, or its arguments do not fit its
    signature or its own checks; a group's members are checked each at its own line. ``lines(*path)`` is the line
    of what the suite wrote at ``path`` inside the scorer (an argument; ``"all", 0`` for a group's first member)."""
    if spec.group:
        _check_group(spec, suite, file=file, line=line, lines=lines, depth=depth)
        return
    confine(spec.type, suite, file=file, line=line)
    info = resolve(spec, base=suite.directory, file=file, line=line)
    check_arguments(info.fn, arguments(info, spec), scorer=spec.type, file=file, line=line, lines=lines)
    problem = info.check_args(arguments(info, spec), suite) if info.check_args else None
    if problem:
        argument, text = problem
        where = lines(argument) or line
        if isinstance(text, HarnessError):
            raise HarnessError(text.message, file=text.file or file, line=text.line if text.file else where,
                               hint=text.hint)
        raise HarnessError(f"scorer '{spec.type}': argument '{argument}': {text}", file=file, line=where)


def _check_group(spec: ScorerSpec, suite: Suite, *, file: Path, line: int | None, lines: Callable[..., int | None],
                 depth: int) -> None:
    if depth >= groups.MAX_DEPTH:
        raise HarnessError(f"groups nested more than {groups.MAX_DEPTH} deep", file=file, line=line,
                           hint="flatten them: an all inside an all is one all")
    if spec.arguments:
        key = next(iter(spec.arguments))
        raise HarnessError(f"a group has no key '{key}'{did_you_mean(key, groups.KEYS)}", file=file,
                           line=lines(key) or line, hint=f"a group takes: {spec.group}, " + ", ".join(groups.KEYS))
    if all(member.weight == 0 for member in spec.members):
        raise HarnessError(f"every member of this {spec.group} group has weight 0: none would count", file=file,
                           line=line, hint="give one a weight above 0")
    for i, member in enumerate(spec.members):
        place = (spec.group, i)
        for key, given in (("turn", member.turn is not None), ("metric", bool(member.metric))):
            if given:  # the group's score is the one recorded, so what it scores and counts under is the group's
                raise HarnessError(f"a group's member takes no '{key}': give it to the group", file=file,
                                   line=lines(*place, key) or lines(*place) or line)
        check_spec(member, suite, file=file, line=lines(*place) or line,
                   lines=lambda *path, place=place: lines(*place, *path), depth=depth + 1)


def check_case(spec: ScorerSpec, case: Case, *, base: Path) -> str | None:
    """A problem the scorer (or a member of the group) sees with this case before anything runs, or None."""
    for leaf in spec.leaves():
        info = resolve(leaf, base=base)
        problem = info.check(case, arguments(info, leaf)) if info.check else None
        if problem:
            return problem
    return None


@dataclass(frozen=True)
class Scored:
    """A trial's scores, and its final answer as its transforms left it (when they changed it) or why they failed."""

    scores: list[Score]
    transformed: str | None = None
    transform_error: str | None = None


async def score_trial(specs: list[ScorerSpec], transform: list[Any], answers: list[str], case: Case,
                      context: ScoringContext) -> Scored:
    """Transform the answers the scorers read, once for the trial (not once per scorer), then score them.

    When a transform fails on an answer, no scorer runs: the trial records why, with its raw output kept.
    """
    outputs: list[Any] = list(answers)
    if transform:
        last = len(answers) - 1
        for turn in sorted(_turns_read(specs, len(answers))):
            try:
                outputs[turn] = transforms.apply(transform, answers[turn],
                                                 transforms.Inputs(case, context.response))
            except transforms.TransformError as exc:
                from harness.redaction import redact

                where = "" if turn == last else f"turn {turn}'s answer: "
                return Scored([], transform_error=redact(f"{where}{exc}"))
    context = replace(context, turn=len(answers) - 1)  # the answer a scorer without ``turn:`` reads, once a trial
    applied = await asyncio.gather(*(apply_to_turns(spec, outputs, case, context) for spec in specs))
    final = transforms.text_of(outputs[-1])
    return Scored([replace(score, metric=spec.metric) if spec.metric else score
                   for spec, score in zip(specs, applied, strict=True) if score is not None],
                  transformed=final if transform and final != answers[-1] else None)


def _turns_read(specs: list[ScorerSpec], count: int) -> set[int]:
    """The answers some scorer reads: the last always (it is the one recorded), and those ``turn:`` names."""
    turns = {count - 1}
    for spec in specs:
        if spec.turn == "all":
            return set(range(count))
        if spec.turn is not None and spec.turn < count:
            turns.add(spec.turn)
    return turns


async def apply_to_turns(spec: ScorerSpec, answers: list[Any], case: Case,
                         context: ScoringContext) -> Score | None:
    """Score the answer ``turn:`` names (the last by default; with ``all``, each, passing when every one does)."""
    if spec.turn is None:
        return await apply(spec, answers[-1], case,
                           context if context.turn == len(answers) - 1 else replace(context, turn=len(answers) - 1))
    calls = turn_tool_calls(context.transcript, len(answers)) if context.transcript else [context.tool_calls]
    chosen = range(len(answers)) if spec.turn == "all" else [spec.turn]
    scores = []
    for turn in chosen:
        if turn >= len(answers):
            error = f"turn {turn} was not reached: the conversation has {len(answers)} answer(s)"
            return Score(name=spec.name, value=0.0, passed=False, weight=spec.weight, explanation=error, error=error,
                         threshold=_threshold(spec, context.directory))
        score = await apply(spec, answers[turn], case, replace(context, turn_calls=calls[turn], turn=turn))
        if score is not None:
            scores.append(score)
    if len(scores) <= 1:
        return scores[0] if scores else None
    first = scores[0]
    return replace(first, value=sum(s.value for s in scores) / len(scores), passed=all(s.passed for s in scores),
                   error=next((s.error for s in scores if s.error), None),
                   explanation="; ".join(f"turn {i}: {s.explanation}" for i, s in enumerate(scores)))


async def apply(spec: ScorerSpec, output: Any, case: Case, context: ScoringContext) -> Score | None:
    """Run one scorer on one output (text, or a value a transform left, which the scorer reads as its JSON);
    None when it does not apply to the case.

    A scorer that raises, or whose own transform fails on this output, yields a failed Score with the error,
    never a crash. ``not: true`` negates the value (1 - value), so any scorer can say what must *not* happen.
    A group scores its members and combines their scores (see harness.scorers.groups).
    """
    info = None if spec.group else resolve(spec, base=context.directory)
    threshold = spec.threshold if spec.threshold is not None else info.threshold if info else groups.DEFAULT_THRESHOLD
    try:
        if spec.transform:
            output = transforms.apply(spec.transform, output, transforms.Inputs(case, context.response))
        if info is None:  # a group: its members read what its own transform left
            members = await asyncio.gather(*(apply(member, output, case, context) for member in spec.members))
            combined = groups.combine(spec, [score for score in members if score is not None])
            human = case.human.get(spec.name)  # a group's label is compared with its verdict, as a scorer's
            return replace(combined, metadata={**combined.metadata, "human": human}) \
                if combined is not None and human is not None else combined
        result = info.fn(transforms.text_of(output), case, **coerce(info.fn, arguments(info, spec)),
                         **_scoring_argument(info, context))
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return None
        verdict = result if isinstance(result, Verdict) else Verdict(value=float(result))
        value = min(1.0, max(0.0, float(verdict.value)))
        metadata = dict(verdict.metadata or {})
        judge = metadata.pop("judge", None)
        if verdict.error:
            return Score(name=spec.name, value=0.0, passed=False, threshold=threshold, weight=spec.weight,
                         explanation=verdict.explanation or verdict.error, metadata=metadata, error=verdict.error,
                         judge=judge)
        if spec.negate:
            value = 1.0 - value
            metadata["negated"] = True
        if info.kind != "score":
            metadata["kind"] = info.kind
        human = case.human.get(spec.name)
        if human is not None:
            metadata["human"] = human
        passed = value >= threshold if verdict.passed is None else verdict.passed != spec.negate
        return Score(name=spec.name, value=value, passed=passed, threshold=threshold,
                     explanation=("not: " if spec.negate else "") + str(verdict.explanation or ""),
                     metadata=metadata, weight=spec.weight, judge=judge)
    except HarnessError:
        raise  # a setting to fix (a judge without its key): stop the run, rather than fail every trial
    except transforms.TransformError as exc:
        from harness.redaction import redact

        error = redact(f"{TRANSFORM_FAILED}: {exc}")
        return Score(name=spec.name, value=0.0, passed=False, threshold=threshold, weight=spec.weight,
                     explanation=error, error=error)
    except (Exception, SystemExit) as exc:  # a user scorer's bug (even a sys.exit) must not lose the run
        from harness.redaction import redact

        error = redact(str(exc) if isinstance(exc, PatternTimeout) else f"{type(exc).__name__}: {exc}")
        return Score(name=spec.name, value=0.0, passed=False, threshold=threshold, weight=spec.weight,
                     explanation=f"scorer raised {error}", error=error)


def _threshold(spec: ScorerSpec, base: Path) -> float:
    if spec.threshold is not None:
        return spec.threshold
    return groups.DEFAULT_THRESHOLD if spec.group else resolve(spec, base=base).threshold


def arguments(info: ScorerInfo, spec: ScorerSpec) -> dict[str, Any]:
    """A scorer's arguments: what the suite wrote beside its type, and its ``name:`` when it takes one (tool_call's
    names the tool, and the scorer is called after it)."""
    if spec.written_name is not None and _takes_name(info):
        return {"name": spec.written_name, **spec.arguments}
    return spec.arguments


def named_by_suite(spec: ScorerSpec, base: Path) -> bool:
    """Whether the suite gave the scorer its name: a ``name:`` that is not an argument of its own (see arguments)."""
    return spec.written_name is not None and (spec.group is not None or not _takes_name(resolve(spec, base=base)))


def _takes_name(info: ScorerInfo) -> bool:
    return "name" in _parameters(info.fn)


def _scoring_argument(info: ScorerInfo, context: ScoringContext) -> dict[str, Any]:
    return {SCORING_PARAMETER: context} if SCORING_PARAMETER in _parameters(info.fn) else {}


@functools.cache
def _parameters(fn: Callable[..., Any]) -> frozenset[str]:
    return frozenset(inspect.signature(fn).parameters)
