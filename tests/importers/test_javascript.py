"""The JavaScript translator: what it accepts becomes a Python expression that means the same on real outputs; what
it is unsure of, it declines with the reason."""

from __future__ import annotations

import json
import math
import re

import pytest

from harness.importers.javascript import translate


def run(expression: str, output: str, variables: dict | None = None):
    """The translated expression evaluated as the python scorer would: output, vars, json, re, math."""
    try:
        parsed = json.loads(output)
    except ValueError:
        parsed = None
    names = {"re": re, "math": math, "output": output, "vars": variables or {}, "json": parsed}
    return eval(expression, names)  # one namespace: a generator expression sees the names too


@pytest.mark.parametrize(("source", "output", "expected"), [
    ("output.includes('Paris')", "It is Paris.", True),
    ("output.includes('Paris')", "It is paris.", False),
    ("output.toLowerCase().includes('paris')", "PARIS!", True),
    ("output.length <= 10", "short", True),
    ("output.length > 10", "short", False),
    ("output.trim().length === 0", "   ", True),
    ("!output.includes('sorry') && output.length > 0", "Sure.", True),
    ("output.startsWith('Yes') || output.endsWith('yes.')", "Well, yes.", True),
    ("JSON.parse(output).city === 'Oslo'", '{"city": "Oslo"}', True),
    ("JSON.parse(output).tags.includes('x')", '{"tags": ["y", "x"]}', True),
    ("output.answer === 42", '{"answer": 42}', True),
    ("output.items.length >= 2", '{"items": [1]}', False),
    ("parseInt(output.level) >= 3", '{"level": "4"}', True),
    ("output.split('\\n').filter(l => l.trim()).length === 3", "a\n\nb\nc", True),
    ("['tea', 'coffee'].some(w => output.includes(w))", "I like coffee", True),
    ("output.words.every(w => w.length < 5)", '{"words": ["ab", "abcdef"]}', False),
    ("/^\\d{3}$/.test(output)", "123", True),
    ("/hello/i.test(output)", "HeLLo there", True),
    ("output.match(/[0-9]+/)", "no digits", False),
    ("output.length > 5 ? 1 : 0.5", "tiny", 0.5),
    ("Math.max(0, 1 - output.length / 10)", "12345", 0.5),
    ("Math.round(output.length / 4)", "123456", 2),  # JavaScript rounds 1.5 up; Python's round() would give 2 too
    ("Math.round(output.length / 4)", "12345678901234567890123456789012345678901234567890123456789012", 16),
    ("output.hasOwnProperty('id')", '{"id": 1}', True),
    ("typeof output === 'string'", "x", True),
    ("const v = output.toLowerCase();\nreturn ['no', 'nope'].some(s => v.includes(s));", "NOPE", True),
    ("// a comment\nreturn output.length < 3; // and another", "ab", True),
    ("typeof output === 'object'", '{"a": 1}', True),
    ("typeof output === 'object'", "plain text", False),
    ("typeof output !== 'string'", "x", False),
    ("`${output}!`.length === 3", "ab", True),
    ("`[${output.trim()}]` === '[ab]'", " ab ", True),
    ("if (output.length > 3) {\n  return true;\n}\nreturn false;", "long enough", True),
    ("if (output.length > 3) {\n  return true;\n}\nreturn false;", "ab", False),
    ("const n = output.length;\nif (n > 10) return 1;\nelse if (n > 5) { return 0.5; }\nelse return 0;", "123456", 0.5),
    ("if (!output) {\n  return false;\n}\nconst ok = output.includes('ok');\nreturn ok;", "", False),
])
def test_translated_checks_mean_the_same(source, output, expected):
    found = translate(source)
    assert found.expr is not None, found.reason
    assert run(found.expr, output) == expected


def test_a_grading_result_becomes_the_python_scorers_mapping():
    source = """
        // Check that output is not empty
        if (!output || output.trim().length === 0) {
          return {pass: false, score: 0, reason: 'Response is empty'};
        }
        const lines = output.split('\\n').filter(line => line.trim().length > 0);
        return {
          pass: lines.length >= 3,
          score: lines.length / 3,
          reason: `Found ${lines.length} lines, expected at least 3`,
        };
    """
    found = translate(source)
    assert found.kind == "result"
    assert run(found.expr, "a\nb") == {"passed": False, "score": 2 / 3, "reason": "Found 2 lines, expected at least 3"}
    assert run(found.expr, "a\nb\nc\nd") == {"passed": True, "score": 1, "reason": "Found 4 lines, expected at least 3"}
    assert run(found.expr, "  ") == {"passed": False, "score": 0, "reason": "Response is empty"}
    mixed = translate("if (!output) {\n  return false;\n}\nreturn {pass: true, reason: 'said something'};")
    assert mixed.kind == "check" and run(mixed.expr, "") is False
    assert run(mixed.expr, "x") == {"passed": True, "reason": "said something"}


def test_context_vars_become_vars():
    found = translate("output.label === context.vars.label && context.vars['n'] > 1")
    assert found.expr == "((json['label'] == vars['label']) and (vars['n'] > 1))"
    assert run(found.expr, '{"label": "a"}', {"label": "a", "n": 2}) is True


def test_math_round_halves_up_as_javascript_does():
    found = translate("Math.round(output.length / 2)")
    assert run(found.expr, "12345", {}) == 3  # 2.5 -> 3 in JavaScript (Python's round would say 2)


@pytest.mark.parametrize(("source", "why"), [
    ("output[0].function.name === 'x'", "indexing"),  # the tool calls, not text: see the tool_call mapping
    ("if (output.length > 3) { return true; } return false;", "if"),  # one line: promptfoo puts return before it
    ("// a comment\noutput.length > 3", "never return"),  # several lines: promptfoo returns nothing
    ("return output.length > 3", "one line starting with return"),
    ("if (output) {\n  output.length;\n}\nreturn true;", "never return"),  # a branch must return
    ("// x\nreturn {pass: 'yes'};", "pass is a str"),
    ("// x\nreturn {pass: true, namedScores: {a: 1}};", "keys"),
    ("`${[1, 2]}`.length > 2", "list:num put in a template literal"),
    ("`a ${`b ${output}`}` === 'x'", "template literal inside a template literal"),
    ("const lines = output.split('\\n'); return lines.length > 2 ? 'pass' : 'fail';", "one line starting with return"),
    ("const lines = output.split('\\n');\nreturn lines.length > 2 ? 'pass' : 'fail';", "returns str"),
    ("output.items && output.items.length", "condition"),  # [] is true in JavaScript, false in Python
    ("output == 5", "== between text"),
    ("output.length + 'x'", "+ between"),
    ("output?.length > 2", "?."),
    ("fetch('https://example.com')", "fetch"),
    ("JSON.parse(context.vars.x).y === 1", "JSON.parse of something"),
    ("typeof output.a === 'object'", "typeof"),
    ("/(?<year>\\d+)/.test(output)", "named groups"),
    ("output.substring(1)", "substring"),
    ("output.length; output.length", "more than one statement"),
])
def test_what_it_is_unsure_of_is_declined_with_the_reason(source, why):
    found = translate(source)
    assert found.expr is None
    assert why in found.reason


def test_a_transform_may_return_any_value():
    assert translate("JSON.parse(output).tweet", value=True).expr == "json['tweet']"
    assert translate("output.split(' ')[0]", value=True).expr == "output.split(' ')[0]"
    assert translate("JSON.parse(output).tweet").expr is None  # as a check it must be a truth value or a number
