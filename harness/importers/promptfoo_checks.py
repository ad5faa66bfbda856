"""What the checks file of an imported promptfoo config calls when harness runs it.

`harness import promptfoo` writes each python assertion it cannot keep as one expression (a file, a function body,
an expression that returns a number or a GradingResult) as a function of a checks file beside the suite, which
harness's python scorer calls. That function hands the original promptfoo's ``(output, context)`` through
``check`` below, which reads what it returns as promptfoo reads it:

- True or False (or the text "true" / "false"): passes or fails;
- a number: the score; it passes above 0, or at the assertion's threshold and above when it has one;
- a GradingResult ``{pass, score, reason}`` (``pass_`` too, snake_case as promptfoo maps it; text starting with
  ``{`` is read as JSON): passes as ``pass`` says, unless its score is under the assertion's threshold;
- anything else is an error, which harness records on the trial.

harness's score is from 0 to 1: a number outside is shown as it was and scored at the nearer end. The context is
promptfoo's as far as harness knows it when scoring: the case's vars, the test (vars and metadata), the
assertion's config and the provider's response; the prompt is None (a harness check does not see the prompt), and
there are no log-probabilities or traces.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import numbers
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import plugins

if TYPE_CHECKING:
    from harness.records import Response
    from harness.spec import Case

RETURNS = "a promptfoo check returns True or False, a number, or {pass, score, reason}"
_LEADING_NUMBER = re.compile(r"\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def load(reference: str, directory: Path) -> Callable[..., Any]:
    """The function ``file.py:name`` (``get_assert`` when no name is given) of a check file under ``directory``,
    imported as promptfoo imports it: with the file's folder on ``sys.path``, so its own modules beside it import."""
    file, _, name = reference.partition(":")
    with _on_path((directory / file).parent):
        return plugins.import_function(f"{file}:{name or 'get_assert'}", base=directory)


@contextlib.contextmanager
def _on_path(folder: Path) -> Iterator[None]:
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))


async def check(function: Callable[..., Any], output: str, case: Case, response: Response, *,
                config: dict[str, Any] | None = None, threshold: float | None = None) -> dict[str, Any]:
    """Run a promptfoo python assertion (sync or async) on the output, and read what it returned."""
    result = function(output, context(case, response, config))
    if inspect.isawaitable(result):
        result = await result
    return verdict(result, threshold)


def context(case: Case, response: Response, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """promptfoo's ``context`` for an assertion, as far as harness knows it (see the module's docstring)."""
    test: dict[str, Any] = {"vars": dict(case.vars)}
    if case.metadata:
        test["metadata"] = dict(case.metadata)
    usage = {"prompt": response.prompt_tokens, "completion": response.completion_tokens}
    if None not in usage.values():
        usage["total"] = usage["prompt"] + usage["completion"]
    found = {"prompt": None, "vars": dict(case.vars), "test": test, "logProbs": None, "provider": None,
             "providerResponse": {"output": response.text, "finishReason": response.finish_reason,
                                  "tokenUsage": {k: v for k, v in usage.items() if v is not None},
                                  "cost": response.cost_usd, "cached": response.cached,
                                  "latencyMs": response.latency_ms},
             "trace": None, "metadata": None}
    if config is not None:
        found["config"] = config
    return found


def verdict(result: Any, threshold: float | None = None) -> dict[str, Any]:
    """What an assertion returned, read as promptfoo reads it, as the python scorer's {score, passed, reason}; a
    ValueError saying what it returned when promptfoo would not read it either."""
    if isinstance(result, str):
        result = _from_text(result)
    if isinstance(result, bool):
        return {"score": float(result), "passed": result, "reason": f"the check returned {str(result).lower()}"}
    if isinstance(result, numbers.Real):
        if math.isnan(result):
            raise ValueError(f"the check returned NaN: {RETURNS}")
        passed = result > 0 if threshold is None else result >= threshold
        bound = "above 0" if threshold is None else f"at least {threshold:g}"
        return {"score": _score(result), "passed": passed,
                "reason": f"the check returned {result:g} ({'' if passed else 'not '}{bound})"}
    if isinstance(result, Mapping):
        return _grading_result(result, threshold)
    raise ValueError(f"the check returned {_shown(result)}: {RETURNS}")


def _from_text(text: str) -> Any:
    """Text as promptfoo reads a result: true / false, a GradingResult as JSON, or a number at its start."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"the check returned text that is not JSON ({exc}): {_shown(text)}") from None
    found = _LEADING_NUMBER.match(text)
    if found is None:
        raise ValueError(f"the check returned {_shown(text)}: {RETURNS}")
    return float(found.group(0))


def _grading_result(result: Mapping[str, Any], threshold: float | None) -> dict[str, Any]:
    passed = result.get("pass", result.get("pass_"))
    if not isinstance(passed, bool):
        raise ValueError(f"the check returned {_shown(dict(result))}, whose 'pass' is not true or false: {RETURNS}")
    score = result.get("score", float(passed))
    if isinstance(score, bool) or not isinstance(score, numbers.Real) or math.isnan(score):
        raise ValueError(f"the check returned score = {_shown(score)}: a score is a number")
    reason = str(result.get("reason") or f"the check returned pass = {str(passed).lower()}")
    if threshold is not None and score < threshold:
        passed, reason = False, f"score {score:g} is less than threshold {threshold:g}: {reason}"
    return {"score": _score(score), "passed": passed, "reason": reason}


def _score(value: float) -> float:
    """A promptfoo score as harness's, from 0 to 1 (the nearer end for one outside)."""
    return min(max(float(value), 0.0), 1.0)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"
