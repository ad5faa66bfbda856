"""A suite's Python expressions: compiled at load with where and why, evaluated over the names each use gives."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.expressions import compile_expression, failure


def test_an_expression_sees_its_names_the_modules_and_builtins_even_inside_a_comprehension():
    expression = compile_expression("  all(re.search(w, output) for w in words) and math.isclose(len(output), 11)\n",
                                    what="scorer 'x'")
    assert expression.source.startswith("all(")
    assert expression.evaluate({"output": "hello world", "words": ["hello", "world"]}) is True
    assert compile_expression("json.loads(output)['a']", what="t").evaluate({"output": '{"a": 2}'}) == 2


@pytest.mark.parametrize("source, message", [
    ("len(output) <", "does not compile: invalid syntax"),
    ("x = 1", "does not compile"),
    ("", "must be a non-empty string"),
    (12, "must be a non-empty string, not 12"),
])
def test_an_expression_that_does_not_compile_is_a_load_error_naming_where(source, message):
    with pytest.raises(HarnessError) as raised:
        compile_expression(source, what="scorer 'short'", file="suite.yaml", line=7)
    assert str(raised.value).startswith("suite.yaml:7: scorer 'short': ") and message in str(raised.value)


def test_a_failure_while_evaluating_is_told_by_its_type_and_message():
    expression = compile_expression("output['missing']", what="t")
    with pytest.raises(KeyError) as raised:
        expression.evaluate({"output": {}})
    assert failure(raised.value) == "KeyError: 'missing'"
    assert failure(ZeroDivisionError()) == "ZeroDivisionError"
