"""The README's Python examples run as written, end to end against a real local OpenAI-compatible server."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import harness
from harness.testing import FakeLLMServer, Reply
from tests.conftest import run_cli, sentiment_answer
from tests.test_messages import PNG

ROOT = Path(__file__).resolve().parent.parent


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_the_python_api_examples_run(tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "suites", tmp_path / "suites")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    blocks = re.findall(r"```python\n(.*?)```", _section("Python API"), re.DOTALL)
    assert len(blocks) >= 2
    with FakeLLMServer(sentiment_answer) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
        calls = server.count
    out = capsys.readouterr().out
    assert re.search(r"critic: \d+\.\d% \[\d+%, \d+%\]", out)
    assert "0 True" in out  # a run compared with itself: every trial matched, no regression, gates pass
    assert calls == 44  # the 44 reviews of suites/sentiment.yaml through one prompt, each asked once


def test_the_public_api_is_what_all_says():
    for name in harness.__all__:
        assert getattr(harness, name) is not None
    assert sorted(dir(harness)) == sorted(harness.__all__)


def test_the_conversation_example_runs_as_written(tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n### Conversations, tools and structured output\n")
    [block] = re.findall(r"```yaml\n(.*?)```", text[start:text.index("\n## ", start)], re.DOTALL)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "examples.jsonl").write_text("".join(
        json.dumps({"id": f"ex{i}", "vars": {"question": f"question {i}"}, "expected": f"answer {i}"}) + "\n"
        for i in range(5)))
    (tmp_path / "data" / "receipt.png").write_bytes(PNG)
    (tmp_path / "order.schema.json").write_text('{"type": "object"}')
    with FakeLLMServer(_support_answer) as server:
        suite = tmp_path / "suite.yaml"
        suite.write_text(f"name: readme\nmodels: [{{model: openai/fake, params: {{api_base: '{server.base_url}', "
                         f"api_key: sk-test-key-123456}}}}]\n{block}")
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


def test_the_suite_reference_block_loads(tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("```yaml\nname: sentiment")
    block = text[start + len("```yaml\n"):text.index("```", start + 8)]
    project = tmp_path / "project"
    shutil.copytree(ROOT / "prompts", project / "prompts")
    (project / "data").mkdir()
    shutil.copy(ROOT / "suites" / "data" / "sentiment_reviews.csv", project / "data")
    (project / "pyproject.toml").write_text("")
    (project / "my_scorers.py").write_text("")
    (tmp_path / "shared").mkdir()
    (project / "suite.yaml").write_text(block)
    suite = harness.load_suite(project / "suite.yaml")
    assert "positive_share" in suite.derived_metrics and len(suite.cases) == 44
