"""`harness import`: the written suite, the printed table, and bad input (exit 2, with the file and line)."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import run_cli

CONFIG = """
prompts: ['Q: {{ question }}']
providers: [openai:gpt-4o-mini]
tests:
  - vars: {question: Capital of France?}
    assert:
      - {type: contains, value: Paris}
      - {type: moderation}
      - {type: javascript, value: 'output.substring(1) === "x"'}
  - vars: {question: Capital of Peru?}
    assert: [{type: icontains, value: lima}, {type: moderation}]
"""


def test_import_writes_the_suite_beside_the_config_and_prints_the_table(put, capsys):
    config = put("promptfooconfig.yaml", CONFIG)
    assert run_cli("import", "promptfoo", config) == 0
    out = capsys.readouterr().out
    written = config.with_name("promptfooconfig.harness.yaml")
    suite = yaml.safe_load(written.read_text())
    assert [c["scorers"] for c in suite["cases"]] == [[{"type": "contains", "value": "Paris", "ignore_case": False}],
                                                      [{"type": "contains", "value": "lima", "ignore_case": True}]]
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert "prompts 1" in lines and "cases 2" in lines and "assertions translated 2 / 5" in lines
    assert "untranslated: moderation 2" in lines and "untranslated: javascript (not simple) 1" in lines
    assert f"suite: {written}" in " ".join(out.split())
    flat = " ".join(out.split())
    assert "harness validate:" in flat and "ok · 2 cases × 1 prompts × 1 model(s)" in flat
    assert "# untranslated (moderation): harness calls no moderation API" in written.read_text()


def test_it_never_writes_over_a_file_without_force(put, tmp_path, capsys):
    config = put("promptfooconfig.yaml", CONFIG)
    out = tmp_path / "mine.yaml"
    out.write_text("keep me\n")
    assert run_cli("import", "promptfoo", config, "--out", out) == 2
    assert "mine.yaml exists already" in capsys.readouterr().err and out.read_text() == "keep me\n"
    assert run_cli("import", "promptfoo", config, "--out", out, "--force") == 0
    assert yaml.safe_load(out.read_text())["prompts"][0]["text"] == "Q: {{ question }}"


@pytest.mark.parametrize(("name", "text", "message"), [
    ("promptfooconfig.yaml", "name: x\nprompts: [a]\ncases: [{vars: {}}]\nscorers: [equals]\n",
     "this looks like a harness suite already"),
    ("promptfooconfig.yaml", "just: a mapping\n", "not a promptfoo config (no prompts:, providers: or tests:)"),
    ("promptfooconfig.yaml", "- a list\n", "not a promptfoo config"),
    ("promptfooconfig.yaml", "prompts: [a\n", "malformed YAML"),
    ("promptfooconfig.yaml", "prompts: [file://p.txt, file://q.txt]\ntests: file://t.csv\n",
     "3 file(s) it names cannot be found: file://p.txt (promptfooconfig.yaml:1), file://q.txt "
     "(promptfooconfig.yaml:1), file://t.csv (promptfooconfig.yaml:2)"),
    ("promptfooconfig.yaml", "prompts: [file://../outside.txt]\ntests: [{vars: {}}]\n",
     "'file://../outside.txt' leaves the config's folder"),
    ("promptfooconfig.yaml", "prompts: [a]\ntests: ['file://../*.csv']\n", "leaves the config's folder"),
    ("promptfooconfig.yaml", "targets: [openai:gpt-4o]\nredteam: {plugins: [harmful]}\n",
     "nothing to import: promptfoo's red teaming generates this config's tests"),
    ("promptfooconfig.yaml", "prompts: [a]\ntests: huggingface://datasets/x/y\n",
     "none of its tests can be read here: untranslated (tests from huggingface)"),
])
def test_bad_input_says_what_and_where_with_exit_2(put, capsys, name, text, message):
    config = put(name, text)
    (config.parent.parent / "outside.txt").write_text("x")
    assert run_cli("import", "promptfoo", config) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: error: {config}:")
    assert message in err
    assert not config.with_name("promptfooconfig.harness.yaml").exists()


def test_a_missing_config_and_an_unknown_tool(tmp_path, capsys):
    assert run_cli("import", "promptfoo", tmp_path / "nope.yaml") == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    assert run_cli("import", "inspect", tmp_path / "nope.yaml") == 2
    assert "'inspect' is not one of 'promptfoo', 'openai-evals'" in capsys.readouterr().err


def test_the_written_suite_says_where_it_came_from_and_is_always_validated(put, capsys):
    config = put("promptfooconfig.yaml", "prompts: [a]\ntests: [{assert: [{type: contains-any, value: [x, y]}]}]\n")
    assert run_cli("import", "promptfoo", config) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "harness validate: " in out and "ok · 1 cases" in out
    text = config.with_name("promptfooconfig.harness.yaml").read_text()
    assert text.startswith("# harness suite imported from promptfooconfig.yaml by `harness import promptfoo`\n"
                           "# assertions translated: 1 of 1;")


def test_a_written_suite_that_does_not_validate_says_why(put, capsys):
    put("grade.py", "def get_assert(output, context)\n    return True\n")
    config = put("promptfooconfig.yaml", "prompts: [a]\ntests: [{assert: [{type: python, value: file://grade.py}]}]\n")
    assert run_cli("import", "promptfoo", config) == 0  # written: the table says what to fix before running it
    out = " ".join(capsys.readouterr().out.split())
    assert f"harness validate fails: {config.parent / 'grade.py'}:1: syntax error in plugin: expected ':'" in out
