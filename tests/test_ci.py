"""What CI relies on: exit-code flags, the Markdown summary, plain output, and keys that never leak."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from harness.testing import FakeLLMServer, Reply, last_user_message
from tests.conftest import run_cli, sentiment_answer


def test_fail_under_and_fail_on_error(project, tmp_path):
    def one_error(request):
        return Reply(status=400) if "cold." in last_user_message(request) else sentiment_answer(request)

    with FakeLLMServer(one_error) as server:
        suite = project(base_url=server.base_url)
        suite.write_text(suite.read_text().replace("thresholds:\n  pass_rate: 0.5\n", "max_error_rate: 0.5\n"))
        assert run_cli("run", suite, "--prompt", "terse") == 0
        assert run_cli("run", suite, "--prompt", "terse", "--fail-on-error") == 1
        assert run_cli("run", suite, "--prompt", "terse", "--fail-under", "0.9") == 1
        assert run_cli("run", suite, "--prompt", "terse", "--fail-under", "0.7") == 0  # 4/5 scored pass


def test_max_regressions_flag_gates_a_baseline_run(project, server, tmp_path):
    suite = project()
    run_cli("run", suite, "--prompt", "terse", "--out", tmp_path / "base")
    with FakeLLMServer(lambda _r: "positive") as worse:
        suite = project(base_url=worse.base_url)
        assert run_cli("run", suite, "--prompt", "terse", "--baseline", tmp_path / "base",
                       "--max-regressions", "5") == 0  # 2 regressions (the negatives) are within 5
        assert run_cli("run", suite, "--prompt", "terse", "--baseline", tmp_path / "base",
                       "--max-regressions", "1") == 1


def test_summary_file_and_github_step_summary(project, server, tmp_path, monkeypatch):
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))

    assert run_cli("run", project(), "--summary", tmp_path / "summary.md") == 0

    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## sentiment: ✅ all thresholds and gates met")
    assert "| `terse` | `fake` | 83.3% [43.6%–97.0%] | 0 |" in summary
    assert "- no significant difference on pass_rate (p=1.000, n=6)" in summary
    assert step_summary.read_text() == "earlier step\n" + summary + "\n"


def test_piped_output_is_plain_and_needs_no_input(project, server, tmp_path):
    env = {**os.environ, "FORCE_COLOR": "", "TERM": "xterm-256color"}
    env.pop("FORCE_COLOR")
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(project()), "--prompt", "terse"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0 and "\x1b[" not in done.stdout + done.stderr
    assert "83.3%" in done.stdout


def test_no_colour_when_no_color_is_set_even_if_forced(project, server, tmp_path):
    colour = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|9[0-7])[;m]")  # bold and italic are allowed, colour is not
    suite = project()

    def output(**env: str) -> str:
        done = subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--prompt", "terse", "--no-cache"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                              env={**os.environ, **env}, cwd=tmp_path)
        assert done.returncode == 0
        return done.stdout + done.stderr

    assert colour.search(output(FORCE_COLOR="1"))  # the check can see colour when there is some
    assert not colour.search(output(FORCE_COLOR="1", NO_COLOR="1"))


def test_keys_from_the_environment_and_dotenv_never_reach_any_output(project, server, tmp_path, monkeypatch):
    """A known fake key is used for real (the server sees it) and then grepped for in everything written."""
    dotenv_key, env_key = "sk-dotenv-secret-0123456789", "sk-env-secret-9876543210"
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={dotenv_key}\n")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", env_key)
    suite = project()

    code = run_cli("run", suite, "--model", "openai/keyed", "--out", tmp_path / "run",
                   "--junit", tmp_path / "junit.xml", "--summary", tmp_path / "summary.md")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # load_dotenv put it in this process's environment

    assert code == 0 and set(server.authorizations) == {f"Bearer {dotenv_key}"}
    written = [*(tmp_path / "run").iterdir(), tmp_path / "junit.xml", tmp_path / "summary.md"]
    assert {p.name for p in written} >= {"results.jsonl", "run.json", "report.html", "summary.md", "junit.xml"}
    for path in written:
        text = path.read_text()
        for secret in (dotenv_key, env_key, "sk-test-key-123456"):
            assert secret not in text, f"{secret} leaked into {path}"

