"""The README's Python examples run as written, end to end against a real local OpenAI-compatible server."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import harness
from harness.testing import FakeLLMServer
from tests.conftest import sentiment_answer

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
