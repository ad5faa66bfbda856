"""Python checks, the text checks and groups written wrong: each is one located error at load, exit 2."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli

HEAD = """\
name: checks
prompts: [{id: p, text: "Where is order {{ order }}?"}]
models: [echo]
cases:
  - {id: a, vars: {order: B-7}, expected: shipped}
scorers:
"""  # the scorers start on line 7

CHECKS = "def mentions_order(output, case):\n    return 'order' in output\n\ndef wants(verdict):\n    return 1\n"


@pytest.mark.parametrize("scorers, line, message", [
    ("- type: python\n  expr: \"len(output\"", 8,
     "scorer 'python': expr: the Python expression 'len(output' does not compile: '(' was never closed"),
    ("- {type: python, expr: \"output ==\"}", 7, "the Python expression 'output ==' does not compile"),
    ("- {type: python, expr: \"\"}", 7, "a Python expression must be a non-empty string"),
    ("- {type: python, expr: [1]}", 7, "scorer 'python': argument 'expr': Input should be a valid string"),
    ("- type: python\n  function: nope.py:mentions_order", 8,
     "scorer 'python': function 'nope.py:mentions_order': plugin file not found"),
    ("- type: python\n  function: checks.py:mentions_ordr", 8, "scorer 'python': function "
     "'checks.py:mentions_ordr': 'checks.py' has no function 'mentions_ordr' (did you mean 'mentions_order'?)"),
    ("- {type: python, function: checks.py}", 7, "'checks.py' is not file.py:function or module:function"),
    ("- {type: python, function: ../outside.py:f}", 7, "leaves the project"),
    ("- {type: python, function: checks.py:wants}", 7,
     "it takes 'verdict', which is not a name a check gets: output, vars, expected, case"),
    ("- type: python\n  expr: 'True'\n  function: checks.py:mentions_order", 8,
     "scorer 'python' takes exactly one of 'expr' (a Python expression) and 'function' (file.py:function)"),
    ("- {type: python, name: empty}", 7, "scorer 'python' takes exactly one of 'expr'"),
    ("- {type: python, exp: 'True'}", 7, "scorer 'python' has no argument 'exp' (did you mean 'expr'?)"),
    ("- all: []", 7, "a group needs at least one scorer in its list"),
    ("- any:\n  - contains\n  - {type: containz, value: x}", 9,
     "unknown scorer 'containz' (did you mean 'contains'?)"),
    ("- all:\n  - contains\n  - type: regex\n    patern: x", 10,  # the argument's own line
     "scorer 'regex' has no argument 'patern' (did you mean 'pattern'?)"),
    ("- all:\n  - any:\n    - {type: python, expr: 'x +'}", 9, "the Python expression 'x +' does not compile"),
    ("- all: [contains]\n  thresold: 0.5", 8, "a group has no key 'thresold' (did you mean 'threshold'?)"),
    ("- {type: contains, all: [contains]}", 7, "a group (all: [...]) has no type"),
    ("- {any: [contains], all: [contains]}", 7, "a group is either 'any' or 'all', not both"),
    ("- all:\n  - {type: contains, turn: 1}", 8, "a group's member takes no 'turn': give it to the group"),
    ("- all:\n  - {type: contains, weight: 0}", 7, "every member of this all group has weight 0"),
    ("- {all: [contains], name: g}\n- {all: [equals], name: g}", 8, "two scorers are called 'g'"),
    ("- all:\n  - {type: contains, metric: m}", 8, "a group's member takes no 'metric': give it to the group"),
    ("- {type: contains, value: a}\n- type: equals\n  metric: contains", 9,
     "metric 'contains' is called like a scorer"),
    ("- {all: [contains], metric: all}", 7, "metric 'all' is called like a scorer"),
    ("- {type: contains, value: a, metric: pass_rate}", 7, "metric 'pass_rate' is called like a run metric"),
    ("- {type: contains, value: a, metric: trials}", 7, "metric 'trials' is called like a run metric"),
    ("- all: [{all: [{all: [{all: [{all: [{all: [{all: [{all: [{all: [contains]}]}]}]}]}]}]}]}]", 7,
     "groups nested more than 8 deep"),
    ("- {type: contains_any, values: []}", 7, "scorer 'contains_any': argument 'values': List should have at least 1"),
    ("- {type: contains_all, value: x}", 7, "scorer 'contains_all' has no argument 'value' (did you mean 'values'?)"),
    ("- {type: levenshtein, max_distance: -1}", 7,
     "scorer 'levenshtein': argument 'max_distance': Input should be greater than or equal to 0"),
    ("- {type: starts_with, value: x, ignore_case: maybe}", 7,
     "scorer 'starts_with': argument 'ignore_case': Input should be a valid boolean"),
])
def test_a_check_written_wrong_is_a_located_error_at_load(tmp_path, capsys, scorers, line, message):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "checks.py").write_text(CHECKS)
    suite = tmp_path / "suite.yaml"
    suite.write_text(HEAD + "".join(f"  {row}\n" for row in scorers.splitlines()))
    assert run_cli("validate", suite) == 2
    err = capsys.readouterr().err
    assert f"suite.yaml:{line}: " in err and message in err, err
    assert "Traceback" not in err


def test_a_case_without_what_a_text_check_compares_with_is_named_at_load(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("")
    suite = tmp_path / "suite.yaml"
    suite.write_text(HEAD.replace(", expected: shipped", "") + "  - {any: [contains, {type: contains_all}]}\n")
    assert run_cli("validate", suite) == 2
    assert "suite.yaml:5: case 'a': no 'expected' value to compare with (or give the scorer a 'value')" in (
        capsys.readouterr().err)


def test_a_syntax_error_in_the_check_file_is_shown_at_its_own_line(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "checks.py").write_text("def ok(output):\n    return True\n\ndef broken(output:\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text(HEAD + "  - {type: python, function: checks.py:ok}\n")
    assert run_cli("validate", suite) == 2
    assert "checks.py:4: syntax error in plugin: '(' was never closed" in capsys.readouterr().err
