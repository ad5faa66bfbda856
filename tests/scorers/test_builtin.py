"""Each built-in scorer on hand-checked inputs."""

from __future__ import annotations

import pytest

from harness.scorers.builtin import edit_distance, extract_label
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


def test_contains_any_and_all_name_what_they_found_and_missed():
    found = score({"type": "contains_any", "values": ["refund", "Return"]}, "You may RETURN it.")
    assert found.passed and found.explanation == "found 'Return'"  # ignore_case by default, as contains
    none = score({"type": "contains_any", "values": ["refund", "return"]}, "Thanks!")
    assert not none.passed and none.explanation == "found none of 'refund', 'return'"
    assert not score({"type": "contains_any", "values": ["Return"], "ignore_case": False}, "return it").passed
    every = score({"type": "contains_all", "values": ["order", "A-1"]}, "Order a-1 has shipped")
    assert every.passed and every.explanation == "found all 2"
    missed = score({"type": "contains_all", "values": ["order", "B-7", "Friday"]}, "Your order ships")
    assert not missed.passed and missed.explanation == "did not find 'B-7', 'Friday' (of 3)"
    # No values: the case's expected, a list of them or one value.
    assert score("contains_all", "red and blue", ["red", "blue"]).passed
    assert not score("contains_any", "green", ["red", "blue"]).passed
    assert score("contains_any", "it is 42", 42).passed


def test_starts_and_ends_with_compare_exactly_after_stripping_as_equals_does():
    assert score({"type": "starts_with", "value": "Yes"}, "\n  Yes, it ships today.").passed
    wrong = score({"type": "starts_with", "value": "yes"}, "Yes, it ships today, in the morning, by courier.")
    assert not wrong.passed and wrong.explanation == "starts 'Yes, it ships today, i…', not 'yes'"
    assert score({"type": "starts_with", "value": "yes", "ignore_case": True}, "YES.").passed
    assert not score({"type": "starts_with", "value": "Yes", "strip": False}, " Yes").passed
    assert score({"type": "ends_with", "value": "."}, "Done.\n").passed
    ending = score({"type": "ends_with", "value": "Regards"}, "Long letter " * 10 + "Bye")
    assert not ending.passed and ending.explanation.startswith("ends '…") and ending.explanation.endswith(
        "letter Bye', not 'Regards'")
    assert score("ends_with", "The answer is Paris", "Paris").passed  # the case's expected by default


def test_levenshtein_counts_edits_up_to_the_limit():
    near = score({"type": "levenshtein", "max_distance": 2}, "Pariss ", "Paris")
    assert near.passed and near.explanation == "1 edit from 'Paris' (at most 2)"
    far = score({"type": "levenshtein", "value": "kitten", "max_distance": 2}, "sitting")
    assert not far.passed and far.explanation == "more than 2 edits from 'kitten'"
    assert score({"type": "levenshtein", "value": "kitten", "max_distance": 3}, "sitting").passed
    assert score({"type": "levenshtein", "ignore_case": True, "max_distance": 0}, "PARIS", "paris").passed
    assert score("levenshtein", "Paris!!!!!", "Paris").passed  # 5 edits: the default limit
    assert not score("levenshtein", "Paris!!!!!!", "Paris").passed


def _full_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, char in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j in range(1, len(b) + 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (char != b[j - 1]))
    return row[-1]


def test_edit_distance_within_its_band_agrees_with_the_full_table():
    import random

    rng = random.Random(7)
    for _ in range(3000):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        limit = rng.randint(0, 8)
        full = _full_distance(a, b)
        assert edit_distance(a, b, limit) == (full if full <= limit else None), (a, b, limit)


def test_edit_distance_of_a_long_output_stops_early():
    import time

    started = time.perf_counter()
    assert edit_distance("x" * 50_000, "y" * 50_000, 3) is None  # the first rows are past the limit
    assert edit_distance("ab" * 25_000, "ab" * 24_999 + "ba", 5) == 2  # 50,000 x 11 cells, not 50,000 squared
    assert time.perf_counter() - started < 5


def test_score_output_takes_a_case_written_as_a_mapping():
    assert score_output("equals", "Paris", {"vars": {"city": "x"}, "expected": "Paris"}).passed
    assert not score_output("equals", "Lyon", {"expected": "Paris"}).passed
