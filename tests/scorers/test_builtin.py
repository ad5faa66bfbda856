"""Each built-in scorer on hand-checked inputs."""

from __future__ import annotations

import pytest

from harness.scorers.builtin import extract_label
from harness.spec import Case
from harness.testing import score_output

LABELS = ["positive", "negative"]


def score(spec: dict | str, output: str, expected=None):
    return score_output(spec, output, Case(vars={}, expected=expected))


@pytest.mark.parametrize("output, predicted", [
    ("Positive", "positive"),
    ("  negative.", "negative"),
    ("The sentiment of this restaurant review is negative", "negative"),
    ("**Positive**", "positive"),
    ("Positive. The review is not negative.", "positive"),
    ("non-negative feelings", None),
    ("I cannot tell.", None),
    ("", None),
])
def test_label_extraction(output, predicted):
    assert extract_label(output, LABELS, {}) == predicted


def test_label_scorer_records_prediction_and_aliases():
    result = score({"type": "label", "labels": LABELS}, "The sentiment is negative.", "negative")
    assert (result.value, result.passed) == (1.0, True)
    assert result.metadata == {"predicted": "negative", "expected": "negative", "kind": "classification"}
    wrong = score({"type": "label", "labels": LABELS}, "Positive", "negative")
    assert not wrong.passed and wrong.explanation == "predicted positive, expected negative"
    alias = score({"type": "label", "labels": LABELS, "aliases": {"positive": ["good", "👍"]}}, "👍", "positive")
    assert alias.passed
    unparseable = score({"type": "label", "labels": LABELS}, "Hmm.", "positive")
    assert unparseable.metadata["predicted"] is None and not unparseable.passed


def test_label_with_an_expected_value_outside_the_labels_is_a_scorer_error():
    result = score({"type": "label", "labels": LABELS}, "positive", "neutral")
    assert not result.passed and "ValueError" in result.error


def test_equals_contains_regex():
    assert score("equals", " Paris \n", "Paris").passed
    assert not score("equals", "paris", "Paris").passed
    assert score({"type": "equals", "ignore_case": True}, "paris", "Paris").passed
    assert score("contains", "The capital is PARIS.", "paris").passed
    assert not score({"type": "contains", "ignore_case": False}, "PARIS", "paris").passed
    assert score({"type": "contains", "value": "capital"}, "The capital", None).passed
    assert score({"type": "regex", "pattern": r"\d{4}-\d{2}"}, "on 2024-05", None).explanation == "matched '2024-05'"
    assert not score({"type": "regex", "pattern": "^yes$"}, "no", None).passed


def test_scorer_without_anything_to_compare_reports_an_error_not_a_pass():
    result = score("equals", "anything", None)
    assert not result.passed and result.error and "expected" in result.explanation


def test_json_scorer_with_fences_and_schema():
    schema = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["pos", "neg"]}}}
    assert score("json", '```json\n{"label": "pos"}\n```').passed
    assert score({"type": "json", "schema": schema}, '{"label": "neg"}').passed
    bad = score({"type": "json", "schema": schema}, '{"label": "maybe"}')
    assert not bad.passed and "schema violation at label" in bad.explanation
    broken = score("json", '{"label": ')
    assert not broken.passed and "not valid JSON" in broken.explanation


def test_threshold_override_and_score_clamping():
    assert score({"type": "contains", "threshold": 0.0}, "nope", "yes").passed  # 0 >= 0
    assert score({"type": "contains", "name": "has-yes"}, "yes", "yes").name == "has-yes"
