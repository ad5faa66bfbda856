"""promptfoo assertions -> harness scorers: each translatable type, the common fields, and what is left as comments."""

from __future__ import annotations

import pytest

from harness.importers.promptfoo_asserts import ANSWER_RELEVANCE, JSON_OBJECT
from harness.records import Response, ToolCall
from harness.testing import score_output
from tests.importers.conftest import imported, validated

TOOLS_VALID = {"name": "tool_args_valid", "all": [{"type": "tool_call"}, {"type": "tool_args_valid"}]}

CONFIG = """
prompts: ['Answer: {{ question }}']
providers: [openai:gpt-4o-mini]
tests:
  - vars: {question: What is the capital of France?}
    assert:
      - %s
"""


def one_scorer(put, assertion: str):
    """The scorers of the single case of a config whose one test has this one assertion."""
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", CONFIG % assertion))
    return result, suite, suite["cases"][0]


@pytest.mark.parametrize(("assertion", "scorer"), [
    ("{type: equals, value: Paris}", {"type": "equals", "value": "Paris"}),
    ("{type: not-equals, value: Paris}", {"type": "equals", "value": "Paris", "not": True}),
    ("{type: contains, value: Paris}", {"type": "contains", "value": "Paris", "ignore_case": False}),
    ("{type: icontains, value: paris}", {"type": "contains", "value": "paris", "ignore_case": True}),
    ("{type: not-icontains, value: lyon}", {"type": "contains", "value": "lyon", "ignore_case": True, "not": True}),
    ("{type: regex, value: '^Paris\\b'}", {"type": "regex", "pattern": "^Paris\\b"}),
    ("{type: is-json}", {"type": "json"}),
    ("{type: is-json, value: {type: object, required: [city]}}",
     {"type": "json", "schema": {"type": "object", "required": ["city"]}}),
    ("{type: llm-rubric, value: Names the capital}", {"type": "rubric", "rubric": "Names the capital"}),
    ("{type: llm-rubric, value: Is polite, threshold: 0.8, provider: 'anthropic:messages:claude-3-5-haiku'}",
     {"type": "rubric", "rubric": "Is polite", "threshold": 0.8, "model": "anthropic/claude-3-5-haiku"}),
    ("{type: model-graded-closedqa, value: Mentions Paris}", {"type": "rubric", "rubric": "Mentions Paris"}),
    ("{type: answer-relevance, threshold: 0.9}",
     {"type": "rubric", "rubric": ANSWER_RELEVANCE, "scale": [1, 5], "threshold": 0.9}),
    ("{type: g-eval, value: Coherent}", {"type": "rubric", "rubric": "Coherent", "scale": [1, 10], "threshold": 0.7}),
    ("{type: latency, threshold: 1500}", {"type": "latency", "max_ms": 1500}),
    ("{type: cost, threshold: 0.002}", {"type": "cost", "max_usd": 0.002}),
    ("{type: contains-any, value: [Paris, paris]}",
     {"type": "contains_any", "values": ["Paris", "paris"], "ignore_case": False}),
    ("{type: icontains-all, value: 'paris, france'}",
     {"type": "contains_all", "values": ["paris", "france"], "ignore_case": True}),
    ("{type: starts-with, value: Paris}", {"type": "starts_with", "value": "Paris", "strip": False}),
    ("{type: levenshtein, value: Paris, threshold: 2}",
     {"type": "levenshtein", "value": "Paris", "max_distance": 2, "strip": False}),
    ("{type: contains-json}", {"type": "json", "transform": {"regex": JSON_OBJECT}}),
    ("{type: contains-json, value: {required: [city]}}",
     {"type": "json", "schema": {"required": ["city"]}, "transform": {"regex": JSON_OBJECT}}),
    ("{type: is-json, value: 'required: [city]'}", {"type": "json", "schema": {"required": ["city"]}}),  # YAML text
    ("{type: is-valid-openai-tools-call}", TOOLS_VALID),
    ("{type: is-valid-function-call}", TOOLS_VALID),
    ("{type: finish-reason, value: Stop}",
     {"type": "python", "name": "finish_reason", "expr": "(response.finish_reason or '').lower() == 'stop'"}),
    ("{type: icontains-any, value: [paris, lyon]}",
     {"type": "contains_any", "values": ["paris", "lyon"], "ignore_case": True}),
    ("{type: javascript, value: 'output.length / 100', threshold: 0.5}",
     {"type": "python", "expr": "min(max((len(output) / 100), 0), 1)", "threshold": 0.5}),
    ("{type: javascript, value: 'output.length - 5'}",
     {"type": "python", "expr": "(lambda score: {'score': min(max(score, 0), 1), 'passed': score > 0})"
                                "((len(output) - 5))"}),
    ("{type: javascript, value: \"JSON.parse(output.arguments).city === 'Paris'\"}",
     {"type": "tool_call", "args": {"city": "Paris"}}),
    ("{type: similar, value: Paris, transform: 'JSON.parse(output[0].function.arguments).city'}",
     {"type": "similarity", "model": "openai/text-embedding-3-large", "threshold": 0.75,
      "transform": {"python": "response.tool_calls[0].arguments['city']"}}),
    ("{type: icontains, value: lookup, transform: 'output[0].functionCall.name'}",
     {"type": "contains", "value": "lookup", "ignore_case": True,
      "transform": {"python": "response.tool_calls[0].name"}}),
    ("{type: javascript, value: output.length < 100}", {"type": "python", "expr": "(len(output) < 100)"}),
    ("{type: python, value: \"len(output.split()) < context['vars']['question'].count(' ') + 20\"}",
     {"type": "python", "expr": "len(output.split()) < vars['question'].count(' ') + 20"}),
    ("{type: equals, value: {city: Paris}}", {"type": "python", "expr": "json == {'city': 'Paris'}"}),
    ("{type: javascript, value: \"JSON.parse(output[0].function.arguments).city === 'Paris'\"}",
     {"type": "tool_call", "args": {"city": "Paris"}}),
    ("{type: contains, value: Paris, metric: accuracy}",
     {"type": "contains", "value": "Paris", "ignore_case": False, "metric": "accuracy"}),
    ("{type: contains, value: paris, transform: output.toLowerCase()}",
     {"type": "contains", "value": "paris", "ignore_case": False, "transform": "lower"}),
    ("{type: assert-set, threshold: 0.5, assert: [{type: contains, value: Paris}, {type: latency, threshold: 900}]}",
     {"all": [{"type": "contains", "value": "Paris", "ignore_case": False}, {"type": "latency", "max_ms": 900}],
      "threshold": 0.5}),
])
def test_types_harness_has(put, tmp_path, assertion, scorer):
    result, suite, case = one_scorer(put, assertion)
    assert case["scorers"] == [scorer]
    assert not result.tally.untranslated and sum(result.tally.translated.values()) >= 1
    assert validated(result, tmp_path / "suite.yaml")


@pytest.mark.parametrize(("assertion", "scorer", "expected"), [
    ("{type: similar, value: Paris is the capital, threshold: 0.8}",
     {"type": "similarity", "model": "openai/text-embedding-3-large", "threshold": 0.8}, "Paris is the capital"),
    ("{type: similar, value: [Paris, It is Paris]}",
     {"type": "similarity", "model": "openai/text-embedding-3-large", "threshold": 0.75}, ["Paris", "It is Paris"]),
    ("{type: rouge-n, value: Paris is the capital of France}", {"type": "rouge1", "threshold": 0.75},
     "Paris is the capital of France"),
    ("{type: bleu, value: Paris}", {"type": "bleu", "threshold": 0.5}, "Paris"),
    ("{type: factuality, value: The capital of France is Paris}", {"type": "factuality", "threshold": 0.5},
     "The capital of France is Paris"),
])
def test_reference_scorers_take_the_value_as_expected(put, tmp_path, assertion, scorer, expected):
    result, suite, case = one_scorer(put, assertion)
    assert case["scorers"] == [scorer]
    assert case["expected"] == expected
    assert validated(result, tmp_path / "suite.yaml")


def test_checks_of_the_tool_calls_are_tool_call_scorers(put, tmp_path):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", """
        prompts: ['Weather in {{ city }}?']
        providers:
          - id: openai:gpt-4o-mini
            config: {tools: [{type: function, function: {name: lookup, parameters: {type: object}}}]}
        tests:
          - vars: {city: Oslo}
            assert:
              - {type: equals, value: lookup, transform: 'output[0].function.name'}
              - {type: javascript, value: "output[0].function.name === 'lookup'"}
              - {type: equals, value: Oslo, transform: 'JSON.parse(output[0].function.arguments).city'}
    """))
    assert suite["cases"][0]["scorers"] == [{"type": "tool_call", "name": "lookup"},
                                            {"type": "tool_call", "name": "lookup", "metric": "lookup-2"},
                                            {"type": "tool_call", "args": {"city": "Oslo"}}]
    validated(result, tmp_path / "suite.yaml")


def test_weight_and_threshold_are_kept(put):
    _, _, case = one_scorer(put, "{type: similar, value: Paris, weight: 3, threshold: 0.6}")
    assert case["scorers"][0]["weight"] == 3 and case["scorers"][0]["threshold"] == 0.6


def test_a_metric_name_with_a_dot_is_written_so_a_threshold_can_name_it(put, tmp_path):
    result, _, case = one_scorer(put, "{type: contains, value: Paris, metric: v1.accuracy}")
    assert case["scorers"][0]["metric"] == "v1_accuracy"
    assert validated(result, tmp_path / "suite.yaml")


@pytest.mark.parametrize(("assertion", "kind"), [
    ("{type: moderation}", "moderation"),
    ("{type: javascript, value: 'if (output) { return 1 } return 0'}", "javascript (not simple)"),
    ("{type: javascript, value: file://checks.js}", "javascript (file)"),
    ("{type: select-best, value: the shortest}", "select-best"),
    ("{type: trace-span-count, value: {pattern: '*'}}", "trace-span-count"),
    ("{type: min-length, value: 5}", "min-length (not a promptfoo type)"),
    ("{type: similar:dot, value: Paris}", "similar:dot"),
    ("{type: contains, value: Paris, transform: 'output.map(o => o.text).join()'}", "contains (transform)"),
])
def test_what_cannot_be_translated_stays_as_a_comment_with_the_original(put, assertion, kind):
    result, suite, case = one_scorer(put, assertion)
    assert "scorers" not in case
    assert result.tally.untranslated == {kind: 1}
    from harness.importers import render

    text = render(result)
    assert f"# untranslated ({kind})" in text
    assert f"#   type: {assertion.split('type: ')[1].split(',')[0].rstrip('}')}" in text


def test_an_assert_set_with_a_member_left_out_is_left_out_whole(put):
    result, _, case = one_scorer(put, "{type: assert-set, assert: [{type: contains, value: a}, {type: moderation}]}")
    assert "scorers" not in case
    assert result.tally.total == {"contains": 1, "moderation": 1}
    assert result.tally.untranslated == {"moderation": 1, "assert-set (left out with an untranslated member)": 1}


def test_a_rubric_prompt_is_noted_where_the_judge_replaces_it(put):
    result, _, case = one_scorer(put, "{type: llm-rubric, value: Polite, rubricPrompt: 'Grade: {{output}}'}")
    assert case["scorers"] == [{"type": "rubric", "rubric": "Polite"}]
    from harness.importers import render

    assert "# promptfoo's rubricPrompt is not carried over" in render(result)


def test_a_second_reference_in_one_case_is_left_out(put):
    result, _, case = one_scorer(put, "{type: similar, value: Paris}\n      - {type: factuality, value: Lyon}")
    assert case["expected"] == "Paris"
    assert [s["type"] for s in case["scorers"]] == ["similarity"]
    assert result.tally.untranslated == {"factuality (a second reference in one case)": 1}


@pytest.mark.parametrize(("assertion", "scorer"), [
    # promptfoo's not-X(threshold t) passes when the score is under t: harness's not passes at 1 - score >= 1 - t.
    ("{type: not-similar, value: Paris, threshold: 0.8}",
     {"type": "similarity", "model": "openai/text-embedding-3-large", "threshold": 0.2, "not": True}),
    ("{type: not-rouge-n, value: Paris}", {"type": "rouge1", "threshold": 0.25, "not": True}),
    ("{type: not-g-eval, value: Rude}", {"type": "rubric", "rubric": "Rude", "scale": [1, 10], "threshold": 0.3,
                                         "not": True}),
    ("{type: not-llm-rubric, value: Rude, threshold: 0.6}",
     {"type": "rubric", "rubric": "Rude", "threshold": 0.4, "not": True}),
    ("{type: not-contains-any, value: [sorry, cannot]}",
     {"type": "contains_any", "values": ["sorry", "cannot"], "ignore_case": False, "not": True}),
    ("{type: not-icontains-all, value: [a, b]}",
     {"type": "contains_all", "values": ["a", "b"], "ignore_case": True, "not": True}),
    ("{type: not-starts-with, value: Sorry}", {"type": "starts_with", "value": "Sorry", "strip": False, "not": True}),
    ("{type: not-regex, value: '\\d+'}", {"type": "regex", "pattern": "\\d+", "not": True}),
    ("{type: not-is-json}", {"type": "json", "not": True}),
    ("{type: not-contains-json}", {"type": "json", "transform": {"regex": JSON_OBJECT}, "not": True}),
    ("{type: not-levenshtein, value: Paris}",
     {"type": "levenshtein", "value": "Paris", "max_distance": 5, "strip": False, "not": True}),
    ("{type: not-is-valid-openai-tools-call}", {**TOOLS_VALID, "not": True}),
    ("{type: not-finish-reason, value: length}",
     {"type": "python", "name": "finish_reason", "expr": "(response.finish_reason or '').lower() == 'length'",
      "not": True}),
    ("{type: not-javascript, value: 'output.length > 3'}", {"type": "python", "expr": "(len(output) > 3)",
                                                             "not": True}),
    ("{type: not-python, value: \"'sorry' in output\"}", {"type": "python", "expr": "'sorry' in output", "not": True}),
    ("{type: not-latency, threshold: 100}", {"type": "latency", "max_ms": 100, "not": True}),
])
def test_every_translated_type_may_be_negated(put, tmp_path, assertion, scorer):
    result, suite, case = one_scorer(put, assertion)
    assert case["scorers"] == [scorer]
    assert validated(result, tmp_path / "suite.yaml")


def scored(assertion: str, put, output: str, response: Response | None = None):
    """The translated scorer of ``assertion`` run by harness on ``output``."""
    _, _, case = one_scorer(put, assertion)
    from harness.spec import Case

    return score_output(case["scorers"][0], output, Case(vars=case["vars"], expected=case.get("expected")),
                        response=response or Response(text=output))


@pytest.mark.parametrize(("assertion", "output", "passed"), [
    # contains-json: the JSON object in the text, its braces balanced (a brace in its text or after it is no end)
    ("{type: contains-json, value: {required: [city]}}", 'Sure: {"city": "Oslo", "note": "a } here"} [1]', True),
    ("{type: contains-json, value: {required: [city]}}", 'Sure: {"town": "Oslo"}', False),
    ("{type: contains-json}", "no JSON here", False),
    ("{type: not-contains-json}", "no JSON here", True),
    # starts-with and levenshtein compare the output as it is, spaces and all
    ("{type: starts-with, value: Paris}", " Paris", False),
    ("{type: levenshtein, value: Paris, threshold: 1}", "Paris  ", False),
    ("{type: levenshtein, value: Paris, threshold: 2}", "Paris  ", True),
    # a number from JavaScript without a threshold passes above 0
    ("{type: javascript, value: 'output.length - 5'}", "abc", False),
    ("{type: javascript, value: 'output.length - 5'}", "abcdefghij", True),
    ("{type: javascript, value: 'output.length / 10', threshold: 0.5}", "abcdef", True),
    ("{type: not-javascript, value: 'output.length / 10', threshold: 0.5}", "abcdef", False),
])
def test_translated_checks_pass_and_fail_as_in_promptfoo(put, assertion, output, passed):
    assert scored(assertion, put, output).passed is passed


def test_finish_reason_and_tool_calls_are_read_from_the_response(put):
    stopped = Response(text="Hi", finish_reason="STOP")
    assert scored("{type: finish-reason, value: stop}", put, "Hi", stopped).passed
    assert not scored("{type: finish-reason, value: stop}", put, "Hi", Response(text="Hi")).passed
    assert not scored("{type: finish-reason, value: length}", put, "Hi", stopped).passed
    assert not scored("{type: is-valid-openai-tools-call}", put, "no calls").passed  # promptfoo fails it too
    called = Response(text="", tool_calls=[ToolCall(name="lookup", arguments={"city": "Oslo"}, raw='{"city": "Oslo"}',
                                                    id="c1")])
    assert scored("{type: icontains, value: oslo, transform: 'JSON.parse(output[0].function.arguments).city'}",
                  put, "", called).passed


def test_a_negated_threshold_passes_under_it_as_promptfoo_does(put):
    output = "the cat sat quietly"  # against "the cat sat on the mat": ROUGE-1 between 0.25 and 0.75
    plain = scored("{type: rouge-n, value: the cat sat on the mat}", put, output)
    assert 0.25 < plain.value < 0.75 and not plain.passed
    assert scored("{type: not-rouge-n, value: the cat sat on the mat}", put, output).passed


@pytest.mark.parametrize(("value", "reason"), [
    ("\"// a comment\\noutput.length > 3\"", "several lines that never return: promptfoo runs them as a function body"),
    ("'return output.length > 3'", "one line starting with return: promptfoo puts its own return before it"),
    ("\"const n = output.length;\\nreturn n > 3 ? 'pass' : 'fail';\"", "it returns str"),
])
def test_javascript_promptfoo_itself_always_fails_is_told_apart(put, value, reason):
    result, suite, case = one_scorer(put, f"{{type: javascript, value: {value}}}")
    assert "scorers" not in case and result.tally.untranslated == {"javascript (fails in promptfoo)": 1}
    from harness.importers import render

    assert reason in render(result)


def test_assertions_under_one_metric_keep_their_own_names_and_share_it(put, tmp_path):
    result, _, case = one_scorer(put, "{type: contains, value: Paris, metric: accuracy}\n"
                                      "      - {type: contains, value: France, metric: accuracy}\n"
                                      "      - {type: python, value: \"len(output) < 99\", metric: accuracy}")
    assert case["scorers"] == [
        {"type": "contains", "value": "Paris", "ignore_case": False, "metric": "accuracy"},
        {"type": "contains", "value": "France", "ignore_case": False, "metric": "accuracy", "name": "contains-2"},
        {"type": "python", "expr": "len(output) < 99", "metric": "accuracy"}]
    assert validated(result, tmp_path / "suite.yaml")  # several scorers under one metric


RAG = """
prompts: ['{{ context }} Answer: {{ query }}']
providers: [openai:gpt-4o-mini]
tests:
  - vars: {query: What is the capital of France?, context: Paris is the capital of France.}
    assert:
      - {type: context-relevance, threshold: 0.9}
      - {type: context-recall, value: Paris is the capital, threshold: 0.8}
"""


def test_retrieval_assertions_are_the_retrieval_judges(put, tmp_path):
    result, suite = imported("promptfoo", put("promptfooconfig.yaml", RAG))
    [case] = suite["cases"]
    assert case["scorers"] == [{"type": "context_relevance", "question": "query", "threshold": 0.9},
                               {"type": "context_recall", "reference": "Paris is the capital", "threshold": 0.8}]
    assert "expected" not in case and not result.tally.untranslated
    assert validated(result, tmp_path / "suite.yaml")

