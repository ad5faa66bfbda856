"""Terminal manners: help never cut, compare as tables, and every A/B delta naming its pair."""

from __future__ import annotations

import re
import textwrap

import click
import pytest
from click.testing import CliRunner

from harness.cli import cli
from harness.testing import FakeLLMServer, last_user_message
from tests.conftest import run_cli, sentiment_answer


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("columns", ["50", "80", "200"])
def test_help_is_never_cut(columns):
    runner = CliRunner(env={"COLUMNS": columns})
    for path, command in _commands(cli):
        shown = runner.invoke(cli, [*path, "--help"]).output
        cut = shown.replace("]...", "]")  # the usage line's "[ARGS]..." is not a cut
        assert "..." not in cut, f"harness {' '.join(path)} --help cuts a line at {columns} columns"
        if isinstance(command, click.Group):  # each subcommand's first sentence, whole
            for name, sub in command.commands.items():
                first = re.match(r".*?\.(?=\s|$)", _words(sub.help or ""), re.DOTALL)
                assert first and _words(first.group(0)) in _words(shown), (path, name)
        for parameter in command.params:  # every option's help, whole (wrapped is fine)
            if isinstance(parameter, click.Option) and parameter.help:
                assert _words(parameter.help) in _words(shown), (path, parameter.name)


def _two_runs(project, tmp_path):
    def upgraded(request):
        if request["model"] == "new-model" and "mochi" in last_user_message(request):
            return "negative"
        return sentiment_answer(request)

    with FakeLLMServer(upgraded) as server:
        suite = project(base_url=server.base_url)
        assert run_cli("run", suite, "--out", tmp_path / "base") == 0
        assert run_cli("run", suite, "--model", "fake=openai/new-model", "--out", tmp_path / "new") == 0


def test_compare_shows_tables_in_the_terminal_and_writes_markdown_to_a_file(project, tmp_path, capsys):
    _two_runs(project, tmp_path)
    capsys.readouterr()

    assert run_cli("compare", tmp_path / "base", tmp_path / "new", "--summary", tmp_path / "cmp.md") == 0

    out = capsys.readouterr().out
    assert "|---|" not in out and "**" not in out and "`" not in out  # no raw Markdown in a terminal
    assert re.search(r"│ mochi\s+│ terse × fake\s+│ pass → fail; label 1.00 → 0.00\s+│", out)
    assert "regressions (2)" in out and "metric changes (paired by case)" in out
    assert "2 regressions in 1 case: mochi" in out
    assert "let through by gate max_drop: no significant drop" in out
    markdown = (tmp_path / "cmp.md").read_text()
    assert "**Regressions**" in markdown and "|---|" in markdown


def test_with_three_variants_the_summary_names_the_pair_of_every_delta(project, server, tmp_path):
    suite = project()
    suite.write_text(suite.read_text().replace("prompts:\n", textwrap.dedent("""\
        prompts:
          - id: plain
            text: "Review: {{ review }}"
        """), 1))

    assert run_cli("run", suite, "--out", tmp_path / "run") == 0

    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "no significant difference on pass_rate (closest: " in summary
    pairs = [line for line in summary.splitlines() if line.startswith("| pass_rate | `")]
    assert {tuple(re.findall(r"`([^`]+)`", line)) for line in pairs} == {
        ("plain × fake", "terse × fake"), ("plain × fake", "critic × fake"), ("terse × fake", "critic × fake")}
