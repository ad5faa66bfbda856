"""The built-in scorers. Each compares a model output with the case's ``expected`` unless told otherwise.

The text checks agree on their defaults: ``contains`` and its ``_any`` / ``_all`` forms ignore case unless told not
to; ``equals``, ``starts_with``, ``ends_with`` and ``levenshtein`` compare exactly (``ignore_case: true`` to relax
them) after stripping the whitespace around the output and the value (``strip: false`` to keep it).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from harness.scorers import ScoringContext, Verdict, scorer
from harness.scorers.arguments import JsonSchema, Pattern, search
from harness.scorers.transforms import parse_json

# What a scorer compares the output with: text, or a number or truth value written as text.
Value = str | int | float | bool
Labels = Annotated[list[str], Field(min_length=1)]
Values = Annotated[list[Value], Field(min_length=1)]
NonNegative = Annotated[float, Field(ge=0)]

if TYPE_CHECKING:
    from harness.spec import Case


def _target(case: Case, value: Any) -> str:
    target = value if value is not None else case.expected
    if target is None:
        raise ValueError("no value to compare with: give the scorer a 'value' or the case an 'expected'")
    return str(target)


def needs_expected(case: Case, args: dict[str, Any], argument: str = "value") -> str | None:
    if args.get(argument) is None and case.expected is None:
        return f"no 'expected' value to compare with (or give the scorer a '{argument}')"
    return None


def _needs_expected_values(case: Case, args: dict[str, Any]) -> str | None:
    return needs_expected(case, args, "values")


def _targets(case: Case, values: list[Value] | None) -> list[str]:
    """The values given, else the case's expected (a list of them, or one)."""
    if values is None and isinstance(case.expected, list):
        values = case.expected
    return [str(value) for value in values] if values is not None else [_target(case, None)]


def expected_label(case: Case, args: dict[str, Any]) -> str | None:
    labels = [str(lab).casefold() for lab in args.get("labels", [])]
    if case.expected is None:
        return "the label scorer needs an 'expected' label"
    if str(case.expected).strip().casefold() not in labels:
        return f"expected label {case.expected!r} is not one of {args.get('labels')}"
    return None


def _fold(text: str, ignore_case: bool) -> str:
    return text.casefold() if ignore_case else text


@scorer(check=needs_expected)
def equals(output: str, case: Case, *, value: Value | None = None, ignore_case: bool = False,
           strip: bool = True) -> Verdict:
    target = _target(case, value)
    got = output.strip() if strip else output
    ok = _fold(got, ignore_case) == _fold(target.strip() if strip else target, ignore_case)
    return Verdict(float(ok), "" if ok else f"expected {target!r}, got {_clip(got)!r}")


@scorer(check=needs_expected)
def contains(output: str, case: Case, *, value: Value | None = None, ignore_case: bool = True) -> Verdict:
    target = _target(case, value)
    ok = _fold(target, ignore_case) in _fold(output, ignore_case)
    return Verdict(float(ok), f"{'found' if ok else 'did not find'} {target!r}")


@scorer(check=_needs_expected_values)
def contains_any(output: str, case: Case, *, values: Values | None = None, ignore_case: bool = True) -> Verdict:
    """At least one of ``values`` is in the output."""
    targets, text = _targets(case, values), _fold(output, ignore_case)
    found = next((target for target in targets if _fold(target, ignore_case) in text), None)
    return Verdict(float(found is not None), f"found {found!r}" if found is not None else
                   "found none of " + ", ".join(map(repr, targets)))


@scorer(check=_needs_expected_values)
def contains_all(output: str, case: Case, *, values: Values | None = None, ignore_case: bool = True) -> Verdict:
    """Every one of ``values`` is in the output."""
    targets, text = _targets(case, values), _fold(output, ignore_case)
    missing = [target for target in targets if _fold(target, ignore_case) not in text]
    return Verdict(float(not missing), f"did not find {', '.join(map(repr, missing))} (of {len(targets)})"
                   if missing else f"found all {len(targets)}")


def _stripped(output: str, target: str, strip: bool) -> tuple[str, str]:
    return (output.strip(), target.strip()) if strip else (output, target)


@scorer(check=needs_expected)
def starts_with(output: str, case: Case, *, value: Value | None = None, ignore_case: bool = False,
                strip: bool = True) -> Verdict:
    got, target = _stripped(output, _target(case, value), strip)
    ok = _fold(got, ignore_case).startswith(_fold(target, ignore_case))
    return Verdict(float(ok), f"starts with {target!r}" if ok else
                   f"starts {_clip(got, len(target) + 20)!r}, not {target!r}")


@scorer(check=needs_expected)
def ends_with(output: str, case: Case, *, value: Value | None = None, ignore_case: bool = False,
              strip: bool = True) -> Verdict:
    got, target = _stripped(output, _target(case, value), strip)
    ok = _fold(got, ignore_case).endswith(_fold(target, ignore_case))
    ending = got if len(got) <= len(target) + 20 else "…" + got[-(len(target) + 19):]
    return Verdict(float(ok), f"ends with {target!r}" if ok else f"ends {ending!r}, not {target!r}")


@scorer(check=needs_expected)
def levenshtein(output: str, case: Case, *, value: Value | None = None,
                max_distance: Annotated[int, Field(ge=0)] = 5, ignore_case: bool = False,
                strip: bool = True) -> Verdict:
    """The output is at most ``max_distance`` single-character edits (insertions, deletions, substitutions) away
    from the value."""
    got, target = _stripped(output, _target(case, value), strip)
    distance = edit_distance(_fold(got, ignore_case), _fold(target, ignore_case), max_distance)
    if distance is None:
        return Verdict(0.0, f"more than {max_distance} edits from {_clip(target)!r}")
    return Verdict(1.0, f"{distance} edit{'' if distance == 1 else 's'} from {_clip(target)!r} "
                        f"(at most {max_distance})")


def edit_distance(a: str, b: str, limit: int) -> int | None:
    """The Levenshtein distance between ``a`` and ``b``, or None when it is above ``limit``.

    Only the cells within ``limit`` of the diagonal are computed (a path leaving that band costs more than the
    limit), so a long output costs time in proportion to its length times the limit, not to the product of both
    lengths, and the work stops at the first row past the limit.
    """
    if len(a) < len(b):
        a, b = b, a
    if len(a) - len(b) > limit:
        return None
    beyond, width = limit + 1, len(b)
    previous = [min(j, beyond) for j in range(width + 1)]
    current = [beyond] * (width + 1)
    for i, char in enumerate(a, start=1):
        low, high = max(1, i - limit), min(width, i + limit)
        current[low - 1] = min(i, beyond) if low == 1 else beyond
        for j in range(low, high + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char != b[j - 1]), beyond)
        if high < width:
            current[high + 1] = beyond  # the next row reads it as the cell above its band's last
        if min(current[low - 1:high + 1]) > limit:
            return None
        previous, current = current, previous
    return previous[width] if previous[width] <= limit else None


@scorer
def regex(output: str, case: Case, *, pattern: Pattern, ignore_case: bool = False) -> Verdict:
    """The pattern matches the output (the ``regex`` package's syntax, a superset of Python's ``re``)."""
    match = search(pattern, output, ignore_case=ignore_case)
    return Verdict(float(bool(match)), f"matched {match.group(0)!r}" if match else f"no match for /{pattern}/")


@scorer(kind="classification", check=expected_label)
def label(output: str, case: Case, *, labels: Labels, aliases: dict[str, list[str]] | None = None) -> Verdict:
    """Extract one of ``labels`` from free text ("Positive", "The sentiment is negative.") and compare it.

    An answer that is exactly a label (or alias) wins; otherwise the label mentioned first
    counts. An answer naming no label is recorded as unparseable (predicted None), which the
    run reports as its own rate rather than hiding it among the wrong answers.
    """
    expected = _target(case, None).strip().casefold()
    predicted = extract_label(output, labels, aliases or {})
    folded = {lab.casefold(): lab for lab in labels}
    if expected not in folded:
        raise ValueError(f"expected label {case.expected!r} is not one of {labels}")
    meta = {"predicted": folded[predicted] if predicted else None, "expected": folded[expected]}
    if predicted is None:
        return Verdict(0.0, f"no label of {labels} found in {_clip(output)!r}", meta)
    ok = predicted == expected
    return Verdict(float(ok), f"predicted {meta['predicted']}, expected {meta['expected']}", meta)


def extract_label(output: str, labels: list[str], aliases: dict[str, list[str]]) -> str | None:
    """The casefolded label the output names, or None."""
    names = {lab.casefold(): lab.casefold() for lab in labels}
    for lab, alts in aliases.items():
        names.update({alt.casefold(): lab.casefold() for alt in alts})
    answer = re.sub(r"[\s\"'`*.!:]+$|^[\s\"'`*]+", "", output.casefold())
    if answer in names:
        return names[answer]
    first: tuple[int, str] | None = None
    for name, lab in names.items():
        match = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", answer)
        if match and (first is None or match.start() < first[0]):
            first = (match.start(), lab)
    return first[1] if first else None


@scorer("json")
def valid_json(output: str, case: Case, *, schema: JsonSchema | None = None, scoring: ScoringContext) -> Verdict:
    """The output parses as JSON (a ```json fence around it is tolerated) and fits the JSON Schema: the one given,
    else the one the request's response_format asked for."""
    if schema is None and scoring.response_format is not None:
        schema = scoring.response_format.schema
    try:
        document = parse_json(output)
    except json.JSONDecodeError as exc:
        return Verdict(0.0, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if schema is not None:
        import jsonschema

        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
            return Verdict(0.0, f"schema violation at {where}: {errors[0].message}")
    return Verdict(1.0, "valid JSON" + (" matching the schema" if schema else ""))



def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- what the answer cost -----------------------------------------------------------------------
# A cached response keeps the latency, tokens and cost measured when it was first answered.

@scorer
def latency(output: str, case: Case, *, max_ms: NonNegative, scoring: ScoringContext) -> Verdict:
    """The model answered within ``max_ms`` milliseconds."""
    ms = scoring.response.latency_ms
    return Verdict(float(ms <= max_ms), f"{ms:,.0f} ms" + ("" if ms <= max_ms else f" > {max_ms:,.0f} ms"))


@scorer
def cost(output: str, case: Case, *, max_usd: NonNegative, scoring: ScoringContext) -> Verdict | None:
    """The call cost at most ``max_usd`` (not scored when the provider reports no cost, e.g. a local model)."""
    usd = scoring.response.cost_usd
    if usd is None:
        return None
    return Verdict(float(usd <= max_usd), f"${usd:.6f}" + ("" if usd <= max_usd else f" > ${max_usd}"))


@scorer
def tokens(output: str, case: Case, *, max_tokens: Annotated[int, Field(ge=0)],
           count: Literal["completion", "prompt", "total"] = "completion",
           scoring: ScoringContext) -> Verdict | None:
    """At most ``max_tokens`` tokens: ``count`` is completion (the answer), prompt, or total."""
    response = scoring.response
    counts = {"completion": response.completion_tokens, "prompt": response.prompt_tokens,
              "total": None if response.completion_tokens is None or response.prompt_tokens is None
              else response.completion_tokens + response.prompt_tokens}
    used = counts[count]
    if used is None:
        return None
    return Verdict(float(used <= max_tokens), f"{used} {count} tokens" + (
        "" if used <= max_tokens else f" > {max_tokens}"))
