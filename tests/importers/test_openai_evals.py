"""OpenAI evals registry entries -> harness suites: samples, Match / Includes / FuzzyMatch, ModelBasedClassify with
its modelgraded spec, few-shot examples, and bad input."""

from __future__ import annotations

import json
import math
import re
import textwrap

import pytest

from harness.importers import write
from tests.conftest import run_cli
from tests.importers.conftest import imported, validated


@pytest.fixture
def registry(folder):
    """An evals checkout's registry/ (evals/, data/, modelgraded/): write(relative path, text) -> path."""

    def put_file(name: str, text: str):
        path = folder / "registry" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return put_file


def samples(*rows: dict) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def eval_file(registry, klass: str, args: str = "", name: str = "capitals"):
    return registry(f"evals/{name}.yaml", f"""
        {name}:
          id: {name}.dev.v0
          description: Capitals of countries.
          metrics: [accuracy]
        {name}.dev.v0:
          class: {klass}
          args:
            samples_jsonl: {name}/samples.jsonl
            {args}
    """)


CHAT = [{"role": "system", "content": "Answer with the city only."}]


def chat_samples(registry, name: str = "capitals"):
    registry(f"data/{name}/samples.jsonl", samples(
        {"input": [*CHAT, {"role": "user", "content": "Capital of France?"}], "ideal": "Paris"},
        {"input": [*CHAT, {"role": "user", "content": "Capital of Bolivia?"}], "ideal": ["Sucre", "La Paz"]}))


def score(expression: str, output: str, expected) -> bool:
    return eval(expression, {"re": re, "math": math, "output": output, "expected": expected, "vars": {}})


@pytest.mark.parametrize(("klass", "args", "passing", "failing"), [
    ("evals.elsuite.basic.match:Match", "", [("  Paris.", "Paris"), ("La Paz", ["Sucre", "La Paz"])],
     [("It is Paris", "Paris"), ("paris", "Paris")]),
    ("evals.elsuite.basic.includes:Includes", "", [("It is Paris.", "Paris"), ("Sucre!", ["Sucre", "La Paz"])],
     [("It is paris.", "Paris")]),
    ("evals.elsuite.basic.includes:Includes", "ignore_case: true", [("It is paris.", "Paris")], [("Lyon", "Paris")]),
    ("evals.elsuite.basic.fuzzy_match:FuzzyMatch", "",
     [("the  Paris!", "Paris"), ("Paris", "Paris, France"), ("", "")], [("Lyon", "Paris"), ("", "Paris")]),
])
def test_match_includes_and_fuzzy_match_mean_what_evals_means(registry, klass, args, passing, failing):
    chat_samples(registry)
    result, suite = imported("openai-evals", eval_file(registry, klass, args))
    (scorer,) = suite["scorers"]
    assert scorer["type"] == "python"
    for output, expected in passing:
        assert score(scorer["expr"], output, expected), (output, expected)
    for output, expected in failing:
        assert not score(scorer["expr"], output, expected), (output, expected)


def test_samples_become_cases_under_a_shared_system_message(registry):
    chat_samples(registry)
    result, suite = imported("openai-evals", eval_file(registry, "evals.elsuite.basic.match:Match"))
    assert suite["name"] == "capitals" and suite["description"] == "Capitals of countries."
    assert suite["prompts"] == [{"id": "capitals", "messages": [
        {"role": "system", "content": "Answer with the city only."}, {"role": "user", "content": "{{ input }}"}]}]
    assert [(c["vars"], c["expected"], c["tags"]) for c in suite["cases"]] == [
        ({"input": "Capital of France?"}, "Paris", ["capitals"]),
        ({"input": "Capital of Bolivia?"}, ["Sucre", "La Paz"], ["capitals"])]
    assert all(c["id"].startswith("capitals-") for c in suite["cases"])


def test_samples_with_their_own_conversations_and_text_samples(registry, tmp_path):
    registry("data/capitals/samples.jsonl", samples(
        {"input": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of {{x}}?"}],
         "ideal": "?"},
        {"input": [{"role": "user", "content": "Capital of Peru?"}], "ideal": "Lima", "level": 2}))
    result, suite = imported("openai-evals", eval_file(registry, "evals.elsuite.basic.match:Match"))
    assert suite["cases"][0]["messages"] == [{"role": "system", "content": "Be brief."},  # as sent: no template
                                             {"role": "user", "content": "{% raw %}Capital of {{x}}?{% endraw %}"}]
    assert suite["cases"][1]["vars"] == {"input": "", "level": 2}
    validated(result, tmp_path / "suite.yaml")
    registry("data/text/samples.jsonl", samples({"input": "2+2=", "ideal": "4"}))
    result, suite = imported("openai-evals", eval_file(registry, "evals.elsuite.basic.match:Match", name="text"))
    assert suite["prompts"] == [{"id": "text", "text": "{{ input }}"}]


def test_few_shot_examples_become_a_few_shot_entry_with_its_file(registry, tmp_path):
    chat_samples(registry)
    registry("data/capitals/few.jsonl", samples(
        {"sample": [{"role": "system", "content": "Capital of Japan?", "name": "example_user"},
                    {"role": "system", "content": "Tokyo", "name": "example_assistant"}]},
        {"sample": [{"role": "user", "content": "Capital of Chile?"}, {"role": "assistant", "content": "Santiago"}]}))
    result, suite = imported("openai-evals", eval_file(
        registry, "evals.elsuite.basic.match:Match", "few_shot_jsonl: capitals/few.jsonl\n            num_few_shot: 1"))
    assert suite["prompts"][0]["messages"][1] == {"few_shot": {"from": "capitals.few_shot.jsonl", "k": 1,
                                                               "user": "{{ user }}"}}
    write(result, tmp_path / "suite.yaml")
    rows = [json.loads(line) for line in (tmp_path / "capitals.few_shot.jsonl").read_text().splitlines()]
    assert rows == [{"id": "shot-1", "vars": {"user": "Capital of Japan?"}, "expected": "Tokyo"},
                    {"id": "shot-2", "vars": {"user": "Capital of Chile?"}, "expected": "Santiago"}]


def test_model_graded_fact_is_factuality_and_closedqa_a_rubric_per_criterion(registry, tmp_path):
    chat_samples(registry)
    registry("modelgraded/fact.yaml", "prompt: 'Compare {input} {ideal} {completion}'\nchoice_strings: ABCDE\n")
    result, suite = imported("openai-evals", eval_file(
        registry, "evals.elsuite.modelgraded.classify:ModelBasedClassify",
        "modelgraded_spec: fact\n            eval_type: cot_classify"))
    assert suite["scorers"] == [{"type": "factuality", "threshold": 0.5}]
    from harness.importers import render

    assert "# modelgraded spec fact (eval_type cot_classify): the harness judge gives its reasoning" in render(result)
    assert validated(result, tmp_path / "fact.yaml")
    chat_samples(registry, "qa")
    registry("modelgraded/closedqa.yaml", """
        prompt: 'Task {input} Submission {completion} Criterion {criteria}'
        choice_strings: YN
        choice_scores: {Y: 1.0, N: 0.0}
    """)
    result, suite = imported("openai-evals", eval_file(
        registry, "evals.elsuite.modelgraded.classify:ModelBasedClassify",
        "modelgraded_spec: closedqa\n            modelgraded_spec_args: {criteria: {concise: 'Is it concise?', "
        "correct: 'Is it correct?'}}", name="qa"))
    assert suite["scorers"] == [{"type": "rubric", "rubric": "Is it concise?", "name": "concise"},
                                {"type": "rubric", "rubric": "Is it correct?", "name": "correct"}]


@pytest.mark.parametrize(("spec", "scorer"), [
    ("prompt: 'Is {completion} funny?'\nchoice_strings: YN\nchoice_scores: {Y: 1.0, N: 0.0}\n",
     {"type": "rubric", "rubric": "Judge the output by these instructions, but answer in the JSON form asked for "
                                  "below:\nIs (the output) funny?\nThe output passes when the answer is Y."}),
    ("prompt: 'Rate {completion} from 1 to 5'\nchoice_strings: '12345'\nchoice_scores: from_strings\n",
     {"type": "rubric", "rubric": "Judge the output by these instructions, but answer in the JSON form asked for "
                                  "below:\nRate (the output) from 1 to 5", "scale": [1, 5]}),
])
def test_other_modelgraded_specs_are_rubrics_from_their_prompt(registry, spec, scorer):
    chat_samples(registry)
    registry("modelgraded/humor.yaml", spec)
    _, suite = imported("openai-evals", eval_file(
        registry, "evals.elsuite.modelgraded.classify:ModelBasedClassify", "modelgraded_spec: humor"))
    assert suite["scorers"] == [scorer]


def test_what_has_no_harness_counterpart_stays_as_a_comment(registry):
    chat_samples(registry)
    registry("modelgraded/battle.yaml", "prompt: 'Which is better?'\nchoice_strings: [first, second]\n")
    result, suite = imported("openai-evals", eval_file(
        registry, "evals.elsuite.modelgraded.classify:ModelBasedClassify", "modelgraded_spec: battle"))
    assert "scorers" not in suite and result.tally.untranslated == {"model_graded (choices without scores)": 1}
    result, suite = imported("openai-evals", eval_file(registry, "evals.elsuite.my_eval:Custom", name="capitals"))
    assert "scorers" not in suite and result.tally.untranslated == {"class evals.elsuite.my_eval:Custom": 1}
    assert len(suite["cases"]) == 2  # the samples are still cases, with their expected answers


@pytest.mark.parametrize(("text", "message"), [
    ("just: text\n", "not an OpenAI evals registry file (no eval with id: naming a spec with class:)"),
    ("- a\n", "not an OpenAI evals registry file (a mapping of evals)"),
])
def test_bad_input_exit_2(registry, capsys, text, message):
    path = registry("evals/x.yaml", text)
    assert run_cli("import", "openai-evals", path) == 2
    assert f"harness: error: {path}:1: {message}" in capsys.readouterr().err


def test_missing_samples_and_spec_are_named(registry, capsys):
    path = eval_file(registry, "evals.elsuite.modelgraded.classify:ModelBasedClassify", "modelgraded_spec: nope")
    assert run_cli("import", "openai-evals", path) == 2
    err = capsys.readouterr().err
    assert f"{path}:8: 2 file(s) it names cannot be found: capitals/samples.jsonl (capitals.yaml:8), " \
           "modelgraded/nope.yaml (capitals.yaml:9)" in err


def test_older_registry_keys_renamings_and_evals_comparing_completions(registry):
    registry("data/jokes/samples.jsonl", samples({"input1": "Tell a joke about cats.", "completion1": "..."}))
    registry("modelgraded/humor.yaml", """
        prompt: 'Is the following funny? {completion}'
        choice_strings: [Yes, No, Unsure]
        choice_scores: {Yes: 1.0, No: 0.0, Unsure: 0.5}
    """)
    path = registry("evals/jokes.yaml", """
        jokes:
          id: jokes.dev.v0
        jokes.dev.v0:
          class: evals.elsuite.modelgraded.classify:ModelBasedClassify
          args:
            samples_jsonl: jokes/samples.jsonl
            samples_renamings: {input1: input, completion1: completion}
            modelgraded_spec_file: humor
        best:
          id: best.dev.v0
        best.dev.v0:
          class: evals.elsuite.modelgraded.classify:ModelBasedClassify
          args: {samples_jsonl: jokes/samples.jsonl, samples_renamings: {input1: input}, modelgraded_spec_file: humor,
                 multicomp_n: 2}
    """)
    result, suite = imported("openai-evals", path)
    jokes, best = suite["cases"]
    assert jokes["vars"] == {"input": "Tell a joke about cats.", "completion": "..."} and jokes["tags"] == ["jokes"]
    assert jokes["scorers"][0]["rubric"].endswith("The output passes when the answer is Yes.")
    assert best["tags"] == ["best"] and "scorers" not in best
    assert result.tally.untranslated == {"model_graded (several completions compared)": 1}
