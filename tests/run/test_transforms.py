"""Output transforms end to end: YAML -> template -> litellm -> a real HTTP server answering as a reasoning model
-> the suite's, prompt's and case's transforms -> scorers -> results.jsonl (raw and transformed) -> run.json ->
console -> report; and a changed transform re-scored from the cache without calling the model again."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from harness.results import load_run
from harness.testing import FakeLLMServer, last_user_message
from tests.conftest import embedded_data, run_cli


def reasoning_model(request: dict) -> str:
    """Thinks aloud, then answers in a ```json fence; knows nothing of Atlantis. Its chat template opened the
    <think> block in the prompt, as served reasoning models' often do, so the answer holds only its end (litellm
    itself takes a whole <think>...</think> block at the start out of the text)."""
    place = last_user_message(request).split("Where is ")[-1].rstrip("?")
    if place == "Atlantis":
        return "No such place.\n</think>\nI do not know where Atlantis is."
    country = {"Oslo": "Norway", "Bergen": "Norway", "Lyon": "France"}[place]
    answer = json.dumps({"city": place, "country": country})
    return f"{place}... that is in {country}.\n</think>\n\n```json\n{answer}\n```"


SUITE = """\
name: places
models: [{{id: fake, model: openai/fake, params: {{api_base: '{url}', api_key: sk-test-key-123456}}}}]
transform: strip_think
prompts:
  - id: where
    text: "Where is {{{{ place }}}}?"
    transform: json
cases:
  - id: oslo
    vars: {{place: Oslo}}
    transform: {{json_path: {path}}}
    expected: Norway
  - id: lyon
    vars: {{place: Lyon}}
    expected: '{{"city":"Lyon","country":"France"}}'
  - id: atlantis
    vars: {{place: Atlantis}}
    expected: nowhere
scorers:
  - equals
  - {{type: equals, value: Oslo, name: city, weight: 0, transform: [{{json_path: $.city}}]}}
"""


def write_suite(root: Path, server: FakeLLMServer, path: str = "$.country") -> Path:
    (root / "pyproject.toml").write_text("")
    suite = root / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE.format(url=server.base_url, path=path)))
    return suite


def rows(directory: Path) -> dict[str, dict]:
    lines = (directory / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["case_id"]: row for row in map(json.loads, lines)}


def test_suite_prompt_and_case_transforms_chain_and_the_raw_output_is_kept(tmp_path, capsys):
    with FakeLLMServer(reasoning_model) as server:
        assert run_cli("run", write_suite(tmp_path, server), "--out", tmp_path / "run") == 0
    found = rows(tmp_path / "run")

    oslo = found["oslo"]  # strip_think, then json (the prompt's), then the case's json_path
    assert oslo["response"]["text"].startswith("Oslo... that is in Norway.\n</think>")  # as the model gave it
    assert oslo["transformed_output"] == "Norway" and "transform_error" not in oslo
    assert [(s["name"], s["passed"]) for s in oslo["scores"]] == [("equals", True), ("city", False)]
    # The scorer's own transform follows the trial's: "Norway" is text, which json_path reads as JSON.
    assert oslo["scores"][1]["error"] == ("transform failed: json_path $.city: not valid JSON (Expecting value at "
                                          "line 1 column 1) in 'Norway'")
    assert oslo["passed"] is True  # the weight-0 scorer's error is reported, not voted

    lyon = found["lyon"]  # no case transform: the parsed answer, read by the scorers as its compact JSON
    assert lyon["transformed_output"] == '{"city":"Lyon","country":"France"}'
    assert [(s["name"], s["passed"]) for s in lyon["scores"]] == [("equals", True), ("city", False)]
    assert lyon["scores"][1]["explanation"] == "expected 'Oslo', got 'Lyon'"  # the scorer's own json_path ran

    atlantis = found["atlantis"]  # not JSON: the trial fails unscored, with why, and the raw output kept
    assert atlantis["transform_error"] == ("json: not valid JSON (Expecting value at line 1 column 1) in "
                                           "'I do not know where Atlantis is.'")
    assert "transformed_output" not in atlantis and atlantis["scores"] == [] and atlantis["passed"] is False
    assert atlantis["response"]["text"].endswith("I do not know where Atlantis is.")

    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["counts"]["transform_errors"] == 1 and manifest["counts"]["errors"] == 0
    variant = manifest["variants"][0]
    assert (variant["passed"], variant["scored"], variant["errors"]) == (2, 3, 0)  # a transform error fails
    printed = capsys.readouterr().out
    assert "1 transform error · 1 scorer error" in printed
    assert "1 × transform failed: json: not valid JSON" in printed

    frame = load_run(tmp_path / "run").to_dataframe().set_index("case_id")
    assert frame.loc["oslo", "transformed_output"] == "Norway" and frame.loc["oslo", "output"].startswith("Oslo...")
    assert frame.loc["atlantis", "transform_error"].startswith("json: not valid JSON")

    cells = {row["id"]: row["c"][0] for row in embedded_data((tmp_path / "run" / "report.html").read_text())["rows"]}
    assert (cells["oslo"]["o"], cells["oslo"]["ro"]) == ("Norway", oslo["response"]["text"])
    assert cells["atlantis"]["o"] == atlantis["response"]["text"] and "ro" not in cells["atlantis"]
    assert cells["atlantis"]["e"].startswith("transform failed: json: not valid JSON")
    assert cells["atlantis"]["s"] == "fail"


def test_a_changed_transform_is_rescored_from_the_cache_without_calling_the_model(tmp_path):
    with FakeLLMServer(reasoning_model) as server:
        suite = write_suite(tmp_path, server)
        run_cli("run", suite, "--out", tmp_path / "first")
        calls = server.count
        assert calls == 3
        write_suite(tmp_path, server, path="$.city")  # a transform is applied after the call: not in the cache key
        run_cli("run", suite, "--out", tmp_path / "second")
        assert server.count == calls
    first, second = rows(tmp_path / "first"), rows(tmp_path / "second")
    assert all(row["response"]["cached"] for row in second.values())
    assert second["oslo"]["response"]["text"] == first["oslo"]["response"]["text"]
    assert (first["oslo"]["transformed_output"], second["oslo"]["transformed_output"]) == ("Norway", "Oslo")
    assert (first["oslo"]["scores"][0]["passed"], second["oslo"]["scores"][0]["passed"]) == (True, False)


def test_a_run_without_transforms_writes_no_transform_fields(tmp_path):
    with FakeLLMServer(lambda _request: "Oslo") as server:
        (tmp_path / "pyproject.toml").write_text("")
        suite = tmp_path / "suite.yaml"
        suite.write_text(f"name: plain\nmodels: [{{id: fake, model: openai/fake, params: {{api_base: "
                         f"'{server.base_url}', api_key: sk-test-key-123456}}}}]\nprompts: [{{id: p, text: hi}}]\n"
                         "cases: [{id: c, expected: Oslo}]\nscorers: [equals]\n")
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
    line = (tmp_path / "run" / "results.jsonl").read_text()
    assert "transform" not in line
    cell = embedded_data((tmp_path / "run" / "report.html").read_text())["rows"][0]["c"][0]
    assert "ro" not in cell and cell["o"] == "Oslo"


def test_the_turn_a_scorer_names_is_transformed_too(tmp_path):
    def answers(request: dict) -> str:
        return json.dumps({"answer": last_user_message(request).upper()})

    with FakeLLMServer(answers) as server:
        (tmp_path / "pyproject.toml").write_text("")
        suite = tmp_path / "suite.yaml"
        suite.write_text(textwrap.dedent(f"""\
            name: chat
            models: [{{id: fake, model: openai/fake, params: {{api_base: '{server.base_url}', api_key: sk-test-123}}}}]
            transform: {{json_path: $.answer}}
            prompts: [{{id: p, messages: [{{user: "{{{{ q }}}}"}}]}}]
            cases:
              - {{id: c, vars: {{q: first}}, turns: [second]}}
            scorers:
              - {{type: equals, value: FIRST, turn: 0, name: first}}
              - {{type: equals, value: SECOND, name: last}}
              - {{type: regex, pattern: '^[A-Z]+$', turn: all, name: every}}
            """))
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
    row = rows(tmp_path / "run")["c"]
    assert [(s["name"], s["passed"]) for s in row["scores"]] == [("first", True), ("last", True), ("every", True)]
    assert row["response"]["text"] == '{"answer": "SECOND"}' and row["transformed_output"] == "SECOND"
