"""Deterministic hallucination checks for answers grounded in a given context (RAG).

They cost nothing and need no judge, so they can run on every trial: ``grounded`` flags
the numbers and names an answer states that its inputs never mention; ``abstention`` checks
that a model says "not in the context" exactly when the context does not hold the answer.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from harness.scorers import Verdict, scorer

if TYPE_CHECKING:
    from harness.spec import Case

# Capitalised words that start sentences or answers without naming anything.
COMMON_WORDS = frozenset("""
a an the this that these those there here it its i we you he she they my our your his her their
in on at of for to from by with as and or but not no yes so if then than when where what which who whom whose
why how is are was were be been being do does did has have had can could will would shall should may might must
according based answer answers however also both each every all some any many most more several
one first second third none nothing unknown unfortunately sorry context text passage information question
""".split())
NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w])")
WORD = re.compile(r"[^\W\d_][\w'’-]*")
POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)


def _number(text: str) -> str:
    """A number's value as text: "1,200" and "1200", "1.50" and "1.5" are the same number."""
    value = float(text.replace(",", ""))
    return str(int(value)) if value.is_integer() else repr(value)


def _numbers(text: str) -> set[str]:
    return {_number(n) for n in NUMBER.findall(text)}


def _words(text: str) -> list[str]:
    """Words, without a possessive 's ("France's" is France)."""
    return [POSSESSIVE.sub("", w) for w in WORD.findall(text)]


def _names(text: str) -> list[str]:
    """Capitalised words (a name, a month, a place), except common words that start a sentence."""
    return [w for w in _words(text) if w[0].isupper() and w.casefold().strip("'’") not in COMMON_WORDS]


@scorer(threshold=1.0)
def grounded(output: str, case: Case, *, context: str | list[str] | None = None) -> Verdict:
    """The share of the numbers and capitalised names in the output that occur in the context.

    ``context`` names the var(s) the answer may draw on (default: every var of the case, so
    repeating a name from the question is fine). Numbers are compared as numbers ("1,200"
    and "1200" match); names case-insensitively, word by word.
    """
    names = [context] if isinstance(context, str) else (context or list(case.vars))
    missing_vars = [n for n in names if n not in case.vars]
    if missing_vars:
        raise ValueError(f"the case has no var {missing_vars[0]!r} (it has: {', '.join(case.vars)})")
    source = "\n".join(str(case.vars[n]) for n in names)
    source_words = {w.casefold() for w in _words(source)}
    source_numbers = _numbers(source)
    found = sorted(_numbers(output)) + list(dict.fromkeys(_names(output)))
    unsupported = [item for item in found if (item not in source_numbers if item[0].isdigit() or item[0] == "-"
                                              else item.casefold() not in source_words)]
    if not found:
        return Verdict(1.0, "no numbers or names to check", {"checked": 0, "unsupported": []})
    value = 1 - len(unsupported) / len(found)
    explanation = (f"not in the context: {', '.join(unsupported)}" if unsupported
                   else f"all {len(found)} numbers and names occur in the context")
    return Verdict(value, explanation, {"checked": len(found), "unsupported": unsupported})


# Written with n['’]t so curly apostrophes ("doesn’t") count as well as straight ones.
ABSTAIN_PATTERNS = [
    r"\bnot (?:\w+ ){0,3}(?:mentioned|stated|provided|given|specified|included|available|found|say|says|said"
    r"|contain|contains|covered|known|clear)\b",
    r"\b(?:does not|doesn['’]t|do not|don['’]t|cannot|can['’]t|can not|is not able to|unable to) "
    r"(?:\w+ ){0,4}(?:say|state|mention|tell|specify|provide|contain|include|answer|determine|know|find)\b",
    r"\bno (?:information|mention|details?|data|answer)\b",
    r"\b(?:insufficient|not enough) (?:information|context|details?)\b",
    r"\bunknown\b|\bi don['’]?t know\b|\bunanswerable\b|\bcannot be (?:determined|answered)\b",
]
_ABSTAINS = re.compile("|".join(ABSTAIN_PATTERNS), re.IGNORECASE)
ABSTAIN, ANSWER = "abstain", "answer"


def should_abstain(case: Case, tag: str = "unanswerable") -> bool:
    return tag in case.tags or case.metadata.get("answerable") is False


@scorer(kind="classification")
def abstention(output: str, case: Case, *, tag: str = "unanswerable", phrases: list[str] | None = None) -> Verdict:
    """Says "not in the context" when it should (a case tagged ``unanswerable``), and answers when it should.

    Recorded as a two-label classification (abstain / answer), so the run reports how often
    the model abstains wrongly and how often it makes an answer up, with a confusion matrix.
    ``phrases`` adds your own ways of abstaining (regular expressions).
    """
    pattern = re.compile("|".join([*ABSTAIN_PATTERNS, *(phrases or [])]), re.IGNORECASE) if phrases else _ABSTAINS
    match = pattern.search(output)
    predicted = ABSTAIN if match else ANSWER
    expected = ABSTAIN if should_abstain(case, tag) else ANSWER
    meta: dict[str, Any] = {"predicted": predicted, "expected": expected}
    if predicted == expected:
        how = f"abstained ({match.group(0)!r})" if match else "answered"
        return Verdict(1.0, f"{how}, as it should", meta)
    if expected == ABSTAIN:
        return Verdict(0.0, "answered a question the context cannot answer", meta)
    return Verdict(0.0, f"abstained ({match.group(0)!r}) although the context holds the answer", meta)
