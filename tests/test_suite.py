"""Loading suites: every kind of bad input gives one located, actionable message and exit code 2."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.suite import load_suite
from tests.conftest import run_cli

GOOD = """\
name: sentiment
prompts:
  - id: terse
    template: sentiment/terse.j2
cases:
  - id: one
    vars: {review: "The mochi is excellent!"}
    expected: positive
scorers:
  - type: label
    labels: [positive, negative]
"""


@pytest.fixture
def write(project):
    """Write a suite (after the standard project exists) and return its path."""
    def make(text: str):
        path = project()
        path.write_text(text)
        return path
    return make


def error_of(path) -> HarnessError:
    with pytest.raises(HarnessError) as raised:
        load_suite(path)
    return raised.value


def test_a_good_inline_suite_loads(write):
    suite = load_suite(write(GOOD))
    assert [c.id for c in suite.cases] == ["one"]
    assert suite.scorers[0].arguments == {"labels": ["positive", "negative"]}


@pytest.mark.parametrize("broken, line, message", [
    (GOOD.replace("scorers:", "scorrers:"), 9, "unknown key 'scorrers' (did you mean 'scorers'?)"),
    (GOOD.replace("    expected: positive", "    expectd: positive"), 8,
     "unknown key 'expectd' (did you mean 'expected'?)"),
    (GOOD.replace("terse.j2", "nope.j2"), 4,  # the template: line
     "template 'sentiment/nope.j2' of prompt 'terse' not found"),
    (GOOD.replace("type: label", "type: lable"), 10, "unknown scorer 'lable' (did you mean 'label'?)"),
    (GOOD.replace("    labels:", "    lables:"), 11,  # the argument's own line
     "scorer 'label' has no argument 'lables' (did you mean 'labels'?)"),
    (GOOD + "repeats: many\n", 12, "repeats: Input should be a valid integer"),
    (GOOD + "thresholds:\n  pass_rte: 0.9\n", 13,
     "unknown metric 'pass_rte' in thresholds (did you mean 'pass_rate'?)"),
    (GOOD.replace("name: sentiment\n", ""), 1, "missing required key 'name'"),
    (GOOD.split("cases:")[0] + "cases: data/missing.csv\nscorers: [contains]\n", 5, "cases file not found"),
    (GOOD.replace("    template: sentiment/terse.j2", "   template: sentiment/terse.j2"), 4, "malformed YAML"),
    (GOOD.replace("- type: label\n    labels: [positive, negative]", "- type: regex"), 10,
     "scorer 'regex' needs argument 'pattern'"),
])
def test_bad_input_names_the_file_the_line_and_the_fix(write, broken, line, message):
    path = write(broken)
    error = error_of(path)
    assert message in error.message
    assert error.file == str(path) and error.line == line


def test_cli_prints_the_located_error_and_exits_2(write, capsys):
    path = write(GOOD.replace("scorers:", "scorrers:"))
    assert run_cli("validate", path) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: error: {path}:9: unknown key 'scorrers' (did you mean 'scorers'?)")
    assert "Traceback" not in err


def test_undefined_template_variable_names_template_case_and_variable(write, capsys):
    path = write(GOOD.replace("vars: {review:", "vars: {text:"))
    assert run_cli("validate", path) == 2
    err = capsys.readouterr().err
    assert "terse.j2" in err and "case 'one'" in err and "variable 'review' is undefined" in err
    assert "the case has: case_id, expected, text" in err


def test_run_with_bad_input_calls_no_model(write, server):
    path = write(GOOD.replace("vars: {review:", "vars: {text:"))
    assert run_cli("run", path) == 2
    assert server.count == 0


def test_csv_cases_and_row_errors_name_the_data_file_and_row(project, tmp_path):
    path = project()
    suite = load_suite(path)
    assert [c.id for c in suite.cases][:2] == ["mochi", "dumplings"]
    assert suite.cases[0].vars == {"review": "The mochi is excellent!"} and suite.cases[0].expected == "positive"

    data = tmp_path / "suites" / "data" / "reviews.csv"
    data.write_text(data.read_text() + "extra,one,positive,surplus\n")
    error = error_of(path)
    assert error.file == str(data) and error.line == 8 and "more fields than the header" in error.message


def test_jsonl_cases_with_a_bad_line(write, tmp_path):
    (tmp_path / "suites" / "data" / "cases.jsonl").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "suites" / "data" / "cases.jsonl").write_text(
        '{"vars": {"review": "Nice"}, "expected": "positive"}\n{"vars": {"review": "Bad"}, "expectd": 1}\n')
    path = write(GOOD.split("cases:")[0] + "cases: data/cases.jsonl\nscorers: [contains]\n")
    error = error_of(path)
    assert error.file.endswith("cases.jsonl") and error.line == 2 and "unknown key 'expectd'" in error.message


ANONYMOUS = GOOD.split("cases:")[0] + """\
cases:
  - vars: {review: "The mochi is excellent!"}
    expected: positive
  - vars: {review: "The pasta was cold."}
    expected: negative
scorers: [contains]
"""


def test_derived_case_ids_come_from_content_not_row_order(write):
    ids = [c.id for c in load_suite(write(ANONYMOUS)).cases]
    assert all(i.startswith("case-") for i in ids) and len(set(ids)) == 2
    first, second = ANONYMOUS.split("  - vars:")[1:]
    swapped = ANONYMOUS.split("  - vars:")[0] + "  - vars:" + second.split("scorers:")[0] + "  - vars:" + first + \
        "scorers:" + second.split("scorers:")[1]
    assert [c.id for c in load_suite(write(swapped)).cases] == ids[::-1]


def test_duplicate_case_ids_are_refused(write):
    duplicate = ANONYMOUS.replace("The pasta was cold.", "The mochi is excellent!").replace("negative", "positive")
    error = error_of(write(duplicate))
    assert "duplicate case id" in error.message and "cases 1 and 2" in error.message and error.line == 8


@pytest.mark.parametrize("broken, message", [
    (GOOD.replace("  - id: terse\n    template: sentiment/terse.j2\n",
                  "  - id: terse\n    template: sentiment/terse.j2\n  - id: terse\n    text: hi\n"),
     "two prompts are called 'terse'"),
    (GOOD + "models: [openai/a, openai/a]\n", "two models are called 'openai/a'"),
    (GOOD.replace("scorers:\n", "scorers:\n  - {type: contains, name: x}\n  - {type: regex, pattern: a, name: x}\n"),
     "two scorers are called 'x'"),
    (GOOD.split("cases:")[0] + "cases: []\n", "the suite has no cases"),
    (GOOD + "params: {temperature: hot}\n", "params.temperature: must be number, not 'hot'"),
    (GOOD.replace("    expected: positive", "    expected: neutral"),
     "case 'one': expected label 'neutral' is not one of ['positive', 'negative']"),
    (GOOD.replace("  - id: terse\n", "  - idd: terse\n"), "unknown key 'idd' (did you mean 'id'?)"),
])
def test_names_that_would_merge_results_are_refused(write, broken, message):
    assert message in error_of(write(broken)).message


def test_csv_with_a_byte_order_mark_blank_cells_and_short_rows(project, tmp_path):
    path = project()
    data = tmp_path / "suites" / "data" / "reviews.csv"
    data.write_bytes(b"\xef\xbb\xbfid,review,expected\nmochi,The mochi is excellent!,positive\n")
    assert [c.id for c in load_suite(path).cases] == ["mochi"]

    data.write_text("id,review,expected\nmochi,Yum,positive\nblank,Meh.,\n")  # blank means missing, not ""
    assert "case 'blank': the label scorer needs an 'expected' label" in error_of(path).message

    data.write_text('id,review,expected\nmochi,"Unclosed quote,positive\nnext,Fine,positive\n')
    assert "malformed CSV" in error_of(path).message

    data.write_text("id,review,expected\nshort,Only two fields\n")
    error = error_of(path)
    assert "fewer fields than the header" in error.message and error.line == 2

    data.write_bytes("id,review,expected\nx,caf\xe9,positive\n".encode("latin-1"))
    assert "not UTF-8" in error_of(path).message


def test_a_plugin_with_a_syntax_error_is_bad_input(write, tmp_path, capsys):
    path = write(GOOD.replace("scorers:", "plugins: [broken.py]\nscorers:"))
    (path.parent / "broken.py").write_text("def oops(:\n")
    assert run_cli("validate", path) == 2
    assert "broken.py:1: syntax error in plugin" in capsys.readouterr().err


ADDED = GOOD.replace("    expected: positive\n", """\
    expected: positive
  - id: two
    vars: {review: "Cold soup."}
    expected: negative
    scorers: [{type: contains, value: soup}]
  - id: only-own
    vars: {review: "Warm bread."}
    inherit_scorers: false
    scorers: [{type: contains, value: bread}]
""")


def test_a_cases_scorers_add_to_the_suites_unless_it_says_not_to(write, server, tmp_path):
    suite = load_suite(write(ADDED))
    assert {case.id: [s.name for s in suite.scorers_for(case)] for case in suite.cases} == {
        "one": ["label"], "two": ["label", "contains"], "only-own": ["contains"]}

    assert run_cli("run", suite.path, "--out", tmp_path / "run") in (0, 1)
    rows = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert {row["case_id"]: [s["name"] for s in row["scores"]] for row in rows} == {
        "one": ["label"], "two": ["label", "contains"], "only-own": ["contains"]}


@pytest.mark.parametrize("scorers, message, hint", [
    ("[{type: contains, value: x, name: label}]",
     "case 'two': two scorers are called 'label' (one of the suite's, and one of the case's own",
     "give the case's scorer a name of its own (name: label_2), or set inherit_scorers: false"),
    ("[{type: contains, value: x, name: x}, {type: regex, pattern: x, name: x}]",
     "case 'two': two scorers are called 'x'", "give the case's scorer a name of its own (name: x_2)"),
])
def test_a_scorer_name_a_case_uses_twice_is_refused_at_the_cases_line(write, scorers, message, hint):
    error = error_of(write(ADDED.replace("[{type: contains, value: soup}]", scorers)))
    assert message in error.message and error.hint.startswith(hint) and error.line == 9
