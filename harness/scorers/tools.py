"""Tool-call scorers: did the model call the right tools, with the right arguments, in the right order?

``tool_call`` looks at the calls of the answer it scores (every call of the conversation by default,
one turn's with ``turn:``); ``tool_args_valid`` checks each call's arguments against the tool's own
JSON Schema. Calls a model wrote as text (see harness.providers.tool_calls) count as calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from harness.records import ToolCall, Verdict
from harness.scorers import ScoringContext, scorer
from harness.scorers.arguments import JsonSchema

if TYPE_CHECKING:
    from harness.spec import Case, Suite


class Count(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


def _defined(args: dict[str, Any], suite: Suite) -> tuple[str, str] | None:
    """A tool_call scorer may only name tools the suite (or one of its prompts) offers."""
    known = {tool.name for tool in suite.tools} | {t.name for p in suite.prompts for t in p.tools or []}
    named = [("name", args["name"])] if args.get("name") else []
    named += [("order", name) for name in args.get("order") or []]
    for argument, name in named:
        if name not in known:
            from harness.errors import did_you_mean

            offered = ", ".join(sorted(known)) or "none"
            return argument, f"no tool '{name}' is offered{did_you_mean(name, known)} (tools: {offered})"
    return None


def _matches(call: ToolCall, name: str | None, args: dict[str, Any] | None, exact: bool,
             schema: dict[str, Any] | None) -> str | None:
    """Why ``call`` does not match (None when it does)."""
    if name is not None and call.name != name:
        return f"called {call.name}, not {name}"
    if args is not None or schema is not None:
        if call.arguments is None:
            return f"{call.name}'s arguments are not a JSON object ({call.error})"
        if args is not None and (call.arguments != args if exact else
                                 any(call.arguments.get(k) != v for k, v in args.items())):
            return f"{call.name} called with {call.arguments}, not {args}"
        if schema is not None:
            import jsonschema

            problem = next(iter(jsonschema.Draft202012Validator(schema).iter_errors(call.arguments)), None)
            if problem is not None:
                return f"{call.name}'s arguments do not fit the schema: {problem.message}"
    return None


@scorer(check_args=_defined)
def tool_call(output: str, case: Case, *, name: str | None = None, args: dict[str, Any] | None = None,
              exact_args: bool = False, schema: JsonSchema | None = None,
              mode: Literal["any", "all", "none"] = "any", order: list[str] | None = None,
              count: Annotated[int, Field(ge=0)] | Count | None = None, scoring: ScoringContext) -> Verdict:
    """The model called ``name`` (with ``args`` among its arguments, or exactly them; fitting ``schema``): in ``any``
    call, in ``all`` of them, or in ``none``; the tools in ``order``; ``count`` matching calls."""
    calls = scoring.tool_calls
    misses = [_matches(call, name, args, exact_args, schema) for call in calls]
    matching = sum(miss is None for miss in misses)
    what = (name or "a tool") + (f" with {args}" if args else "")
    problems = []
    if mode == "any" and not matching:
        problems.append(f"no call of {what}" + (f" ({'; '.join(filter(None, misses))})" if calls else ""))
    if mode == "all" and (not calls or matching < len(calls)):
        problems.append(f"not every call is {what}: " + ("; ".join(filter(None, misses)) or "no calls"))
    if mode == "none" and matching:
        problems.append(f"{what} was called")
    if order and not _in_order([call.name for call in calls], order):
        problems.append(f"tools called {[call.name for call in calls]}, not in the order {order}")
    low, high = (count, count) if isinstance(count, int) else ((count.min, count.max) if count else (None, None))
    if (low is not None and matching < low) or (high is not None and matching > high):
        wanted = count if isinstance(count, int) else count.model_dump(exclude_none=True)
        problems.append(f"{matching} matching calls, expected {wanted}")
    called = ", ".join(f"{call.name}({call.raw})" for call in calls) or "no tool calls"
    return Verdict(float(not problems), "; ".join(problems) or f"called {called}",
                   {"calls": [{"name": c.name, "arguments": c.arguments} for c in calls]})


def _in_order(called: list[str], order: list[str]) -> bool:
    remaining = iter(called)
    return all(any(name == wanted for name in remaining) for wanted in order)


@scorer
def tool_args_valid(output: str, case: Case, *, scoring: ScoringContext) -> Verdict | None:
    """Every call's arguments parse as JSON and fit the called tool's JSON Schema (not scored without calls)."""
    if not scoring.tool_calls:
        return None
    import jsonschema

    schemas = {tool.name: tool.parameters for tool in scoring.tools}
    problems = []
    for call in scoring.tool_calls:
        if call.name not in schemas:
            problems.append(f"{call.name} is not an offered tool")
        elif call.arguments is None:
            problems.append(f"{call.name}: {call.error}")
        else:
            problem = next(iter(jsonschema.Draft202012Validator(schemas[call.name]).iter_errors(call.arguments)), None)
            if problem is not None:
                problems.append(f"{call.name}: {problem.message}")
    return Verdict(float(not problems), "; ".join(problems) or f"{len(scoring.tool_calls)} call(s) fit their schemas")
