"""The deterministic hallucination checks on hand-checked answers."""

from __future__ import annotations

import pytest

from harness.spec import Case
from harness.testing import score_output

CONTEXT = ("The Quarry Hill wind farm has 24 turbines and produces enough power for 40,000 homes. "
           "It is owned by Greenvale Power and opened on 14 March 2016.")


def rag(question="How many turbines?", tags=(), expected=None) -> Case:
    return Case(vars={"context": CONTEXT, "question": question}, tags=list(tags), expected=expected)


@pytest.mark.parametrize("answer", [
    "The Quarry Hill wind farm has 24 turbines.",
    "It opened on 14 March 2016 and powers 40000 homes.",       # 40,000 written without the comma
    "According to the context, Greenvale Power owns it.",       # common words that start a sentence are not names
    "The context does not say.",
    "Greenvale Power's farm has 24 turbines.",                  # a possessive is the name
    "It has 24.0 turbines.",                                    # the same number written otherwise
])
def test_grounded_answers_pass(answer):
    score = score_output("grounded", answer, rag())
    assert score.value == 1.0 and score.passed, score.explanation


def test_numbers_dates_and_names_not_in_the_context_are_flagged():
    score = score_output("grounded", "It has 42 turbines, opened in April 2016 and is run by Vestas.", rag())
    assert score.metadata["unsupported"] == ["42", "April", "Vestas"]
    # Checked: 42, 2016, April, Vestas ("It" starts a sentence); only 2016 is in the context.
    assert score.metadata["checked"] == 4 and score.value == 0.25 and not score.passed
    assert score.explanation == "not in the context: 42, April, Vestas"


def test_names_outside_ascii_are_checked_too():
    assert score_output("grounded", "It was built by Ōsaka Steel.", rag()).metadata["unsupported"] == ["Ōsaka", "Steel"]


def test_names_from_the_question_are_allowed_unless_the_check_is_narrowed_to_the_context():
    case = rag(question="Does Ada Lovelace own Quarry Hill?")
    assert score_output("grounded", "No, Ada Lovelace does not.", case).passed
    narrowed = score_output({"type": "grounded", "context": "context"}, "No, Ada Lovelace does not.", case)
    assert narrowed.metadata["unsupported"] == ["Ada", "Lovelace"]


@pytest.mark.parametrize("answer", [
    "The context does not say.",
    "The opening hours are not mentioned in the context.",
    "I don't know.",
    "There is no information about the price.",
    "The text doesn't specify who designed it.",
    "This cannot be determined from the passage.",
    "I don’t know.",                                            # curly apostrophes, as many models write
    "The context doesn’t say who designed it.",
])
def test_abstaining_on_an_unanswerable_question_passes(answer):
    score = score_output("abstention", answer, rag(tags=["unanswerable"]))
    assert score.passed and score.metadata == {"predicted": "abstain", "expected": "abstain", "kind": "classification"}


def test_answering_an_unanswerable_question_and_abstaining_on_an_answerable_one_fail():
    made_up = score_output("abstention", "It opened at 9 am.", rag(tags=["unanswerable"]))
    assert not made_up.passed and made_up.explanation == "answered a question the context cannot answer"
    refused = score_output("abstention", "The context does not say.", rag(expected="24"))
    assert not refused.passed and "although the context holds the answer" in refused.explanation
    answered = score_output("abstention", "24 turbines.", rag(expected="24"))
    assert answered.passed and answered.metadata["predicted"] == "answer"


def test_abstention_accepts_your_own_phrases():
    spec = {"type": "abstention", "phrases": [r"\bno idea\b"]}
    assert score_output(spec, "No idea, sorry.", rag(tags=["unanswerable"])).passed
    assert not score_output("abstention", "No idea, sorry.", rag(tags=["unanswerable"])).passed
