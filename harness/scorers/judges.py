"""Judge scorers: a model grades the output (see harness.scorers.judge for how its answer is read).

The judge is the suite's ``judge:`` model (else the default model); a scorer's ``model:``
argument picks another for that scorer. Each score records the judge's reasoning, its raw
verdict (``judgement``, which is what a case's human label is compared with) and the judge
calls' tokens and cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness import prompts
from harness.errors import did_you_mean
from harness.scorers import ScoringContext, Verdict, scorer
from harness.scorers.arguments import Scale
from harness.scorers.judge import (
    Judgement,
    UnreadableVerdict,
    choice,
    defuse,
    judge,
    read_choice,
    read_score,
    verdict_object,
)

if TYPE_CHECKING:
    from harness.spec import Case, Suite

G_EVAL_SCALE = (1, 5)
FACTUALITY_VALUES = {"consistent": 1.0, "superset": 0.75, "subset": 0.5, "contradicts": 0.0}
CLAIM_VERDICTS = ["supported", "contradicted", "not_in_context"]


def _on_scale(low: int, high: int, label: str = "") -> Callable[[str, str], Judgement]:
    """A reader of a score from ``low`` to ``high``, mapped to [0, 1]."""

    def read(answer: str, untrusted: str) -> Judgement:
        score, reasoning = read_score(answer, (low, high), untrusted)
        return Judgement((score - low) / (high - low), str(score), f"{label}{score}/{high}: {reasoning}")

    return read


def _one_of(values: dict[str, float]) -> Callable[[str, str], Judgement]:
    """A reader of a "verdict" among ``values``' keys, worth its value."""

    def read(answer: str, untrusted: str) -> Judgement:
        verdict, reasoning = read_choice(answer, "verdict", list(values), untrusted)
        return Judgement(values[verdict], verdict, f"{verdict}: {reasoning}")

    return read


def _variables(output: str, case: Case, scoring: ScoringContext) -> dict[str, Any]:
    """What every judge template sees: the output, the case's vars and expected, the prompt; all defused."""
    user = next((m["content"] for m in reversed(scoring.messages) if m["role"] == "user"), "")
    variables = {k: defuse(str(v)) for k, v in case.vars.items()}
    expected = case.expected
    if isinstance(expected, list):
        expected = "\n".join(str(e) for e in expected)
    return {**variables, "output": defuse(output), "input": defuse(user),
            "expected": defuse(str(expected)) if expected is not None else None}


def _needs_vars(*arguments: str):
    """A load-time check that the case has the vars a scorer's arguments name."""

    def check(case: Case, args: dict[str, Any]) -> str | None:
        for argument in arguments:
            name = args.get(argument, _DEFAULT_VARS.get(argument))
            if name and name not in case.vars:
                return f"no var '{name}' for the scorer's '{argument}' (the case has: {', '.join(case.vars) or 'none'})"
        return None

    return check


_DEFAULT_VARS = {"context": "context", "question": "question"}


@scorer(threshold=0.5, uses_judge=True)
async def rubric(output: str, case: Case, *, rubric: str, scale: Scale | None = None,
                 template: str = "judges/rubric.j2", model: str | None = None,
                 scoring: ScoringContext) -> Verdict:
    """Your criterion, in words. Pass/fail unless ``scale: [low, high]``; the value is the score mapped to [0, 1]."""
    variables = {**_variables(output, case, scoring), "rubric": rubric, "scale": scale}
    read = _on_scale(int(scale[0]), int(scale[1])) if scale else _one_of({"pass": 1.0, "fail": 0.0})
    return await judge(scoring, template, variables, read, untrusted=output, model=model)


def _criterion_exists(args: dict[str, Any], suite: Suite) -> tuple[str, str] | None:
    criterion = args.get("criterion", "")
    roots = prompts.judge_template_roots(suite.directory)
    if not any((root / "judges" / "g_eval" / f"{criterion}.j2").is_file() for root in roots):
        known = sorted({p.stem for root in roots for p in (root / "judges" / "g_eval").glob("*.j2")})
        return "criterion", (f"no G-Eval criterion '{criterion}'{did_you_mean(criterion, known)} (known: "
                             f"{', '.join(known)}; add your own as prompts/judges/g_eval/{criterion}.j2)")
    return None


@scorer("g_eval", threshold=0.5, check=_needs_vars("source"), check_args=_criterion_exists, uses_judge=True)
async def g_eval(output: str, case: Case, *, criterion: str, source: str | None = None,
                 template: str = "judges/g_eval.j2", model: str | None = None,
                 scoring: ScoringContext) -> Verdict:
    """G-Eval-style rating of a summary, 1-5, on coherence, consistency, fluency or relevance.

    ``source`` names the var holding the summarised text (default: the prompt sent to the model).
    """
    variables = _variables(output, case, scoring)
    variables.update(criterion=criterion, source=variables[source] if source else variables["input"])
    return await judge(scoring, template, variables, _on_scale(*G_EVAL_SCALE, label=f"{criterion} "),
                       untrusted=output, model=model)


@scorer(threshold=0.75, uses_judge=True)
async def factuality(output: str, case: Case, *, question: str | None = "question",
                     template: str = "judges/factuality.j2", model: str | None = None,
                     scoring: ScoringContext) -> Verdict | None:
    """Closed-QA factuality against ``expected``: consistent 1, superset 0.75, subset 0.5, contradicts 0.

    A case without an expected answer (an unanswerable question) is not scored.
    """
    if case.expected is None:
        return None
    variables = _variables(output, case, scoring)
    # Without a question var, the prompt the model was given stands for the question.
    variables["question"] = variables[question] if question in case.vars else variables["input"]
    return await judge(scoring, template, variables, _one_of(FACTUALITY_VALUES), untrusted=output, model=model)


def read_claims(answer: str, untrusted: str = "") -> list[dict[str, str]]:
    return verdict_object(answer, "claims", untrusted, read=_claims)["claims"]


def _claims(claims: Any) -> list[dict[str, str]]:
    if not isinstance(claims, list):
        raise UnreadableVerdict('"claims" is not a list')
    read = []
    for item in claims:
        if not isinstance(item, dict) or "claim" not in item or "verdict" not in item:
            raise UnreadableVerdict('each claim needs "claim" and "verdict"')
        read.append({"claim": str(item["claim"]), "verdict": choice(item["verdict"], CLAIM_VERDICTS, "claim verdict")})
    return read


@scorer(threshold=1.0, check=_needs_vars("context"), uses_judge=True)
async def faithfulness(output: str, case: Case, *, context: str = "context", question: str | None = "question",
                       template: str = "judges/faithfulness.j2", model: str | None = None,
                       scoring: ScoringContext) -> Verdict:
    """The share of the output's claims the context supports; the rest are listed (contradicted or not in it).

    An output with no claims ("the context does not say") has nothing unfaithful in it: 1.
    """
    variables = _variables(output, case, scoring)
    variables["context"] = variables[context]
    variables["question"] = variables[question] if question in case.vars else None
    return await judge(scoring, template, variables, _claims_judgement, untrusted=output, model=model)


def _claims_judgement(answer: str, untrusted: str) -> Judgement:
    claims = read_claims(answer, untrusted)
    unsupported = [c for c in claims if c["verdict"] != "supported"]
    explanation = f"{len(claims) - len(unsupported)}/{len(claims)} claims supported" if claims else "no factual claims"
    if unsupported:
        explanation += "; " + "; ".join(f"{c['verdict'].replace('_', ' ')}: {c['claim']}" for c in unsupported)
    return Judgement(1.0 - len(unsupported) / len(claims) if claims else 1.0, "fail" if unsupported else "pass",
                     explanation, {"claims": claims, "unsupported": [c["claim"] for c in unsupported]})


# --- what was retrieved (RAG): judged against the question, or the reference answer -------------------------------
# The text judged is split into numbered sentences and the judge names those that count, so the score is a share a
# person can check sentence by sentence (as promptfoo's context-relevance and context-recall, and Ragas, score).

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE_END.split(text) if part.strip()]


@scorer(threshold=0.5, check=_needs_vars("context", "question"), uses_judge=True)
async def context_relevance(output: str, case: Case, *, context: str = "context", question: str = "question",
                            template: str = "judges/context_relevance.j2", model: str | None = None,
                            scoring: ScoringContext) -> Verdict:
    """The share of the context's sentences that bear on the question: is what was retrieved on topic? (The
    output is not read.)"""
    parts = sentences(str(case.vars[context]))
    variables = {"question": defuse(str(case.vars[question])), "sentences": defuse(_numbered(parts))}
    return await _judged_share(scoring, template, variables, parts, "relevant", "relevant to the question",
                               untrusted=str(case.vars[context]), model=model)


@scorer(threshold=0.5, check=_needs_vars("context"), uses_judge=True)
async def context_recall(output: str, case: Case, *, context: str = "context", reference: str | None = None,
                         template: str = "judges/context_recall.j2", model: str | None = None,
                         scoring: ScoringContext) -> Verdict | None:
    """The share of the reference answer's sentences (``reference``, else the case's ``expected``) the context
    states or implies: did retrieval bring what the answer needs? (The output is not read.) A case with neither
    is not scored."""
    truth = reference if reference is not None else case.expected
    if truth is None:
        return None
    parts = sentences("\n".join(map(str, truth)) if isinstance(truth, list) else str(truth))
    variables = {"context": defuse(str(case.vars[context])), "sentences": defuse(_numbered(parts))}
    return await _judged_share(scoring, template, variables, parts, "supported", "in the context",
                               untrusted=str(case.vars[context]), model=model)


def _numbered(parts: list[str]) -> str:
    return "\n".join(f"{number}. {part}" for number, part in enumerate(parts, start=1))


async def _judged_share(scoring: ScoringContext, template: str, variables: dict[str, Any], parts: list[str],
                        key: str, meaning: str, *, untrusted: str, model: str | None) -> Verdict:
    """Ask the judge which numbered sentences count (under ``key``); the score is their share."""
    if not parts:
        return Verdict(0.0, "nothing to judge: the text is empty")

    def read(answer: str, quoted: str) -> Judgement:
        numbers = verdict_object(answer, key, quoted, read=lambda value: _sentence_numbers(value, key, len(parts)))
        counted = numbers[key]
        left = [f"{n}. {part}" for n, part in enumerate(parts, start=1) if n not in counted]
        explanation = f"{len(counted)}/{len(parts)} sentences {meaning}"
        if left:
            explanation += "; not: " + "; ".join(left)
        return Judgement(len(counted) / len(parts), f"{len(counted)}/{len(parts)}", explanation,
                         {key: counted})

    return await judge(scoring, template, variables, read, untrusted=untrusted, model=model)


def _sentence_numbers(value: Any, key: str, count: int) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        raise UnreadableVerdict(f'"{key}" is not a list of sentence numbers')
    if any(not 1 <= n <= count for n in value):
        raise UnreadableVerdict(f'"{key}" names a sentence that is not there (there are {count})')
    return sorted(set(value))
