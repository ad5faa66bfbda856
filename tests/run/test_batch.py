"""--batch: the run's calls go through the OpenAI batch API (files + batches) of a real HTTP test server."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from harness.run import run_suite
from harness.testing import FakeLLMServer, Reply
from tests.conftest import REVIEWS, run_cli, sentiment_answer


def test_batch_run_submits_polls_collects_and_scores(project, server, tmp_path, capsys):
    suite = project()
    assert run_cli("run", suite, "--batch", "--batch-poll", "0.1", "--out", tmp_path / "run") == 0

    # One batch per model, holding every trial; no trial was sent as a request of its own.
    assert len(server.batches) == 1 and server.count == len(server.batch_requests) == 2 * len(REVIEWS)
    assert server.batch_polls >= 1
    state = json.loads((tmp_path / "run" / "batch.json").read_text())
    assert state["fake"]["batch_id"] == "batch-1" and state["fake"]["requests"] == 12
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["response"]["error"] is None for r in rows)
    mochi = next(r for r in rows if r["case_id"] == "mochi")
    assert mochi["response"]["text"] == "Positive" and mochi["passed"]
    assert mochi["response"]["prompt_tokens"] > 0
    # The key travels in the request headers only: not in the uploaded requests, nor in the run folder.
    assert server.files and not any(b"sk-test-key-123456" in body for body in server.files.values())
    assert "sk-test-key-123456" not in (tmp_path / "run" / "batch.json").read_text()
    # The answers went to the cache like any others: a normal re-run asks nothing.
    before = server.count
    assert run_cli("run", suite) == 0
    assert server.count == before


def test_failed_batch_lines_are_errors_on_their_trials(project, tmp_path):
    def answer(request):
        failing = "pasta was cold" in json.dumps(request)
        return Reply(status=500, text="overloaded") if failing else sentiment_answer(request)

    with FakeLLMServer(answer) as server:
        run = run_suite(project(base_url=server.base_url), batch=True, batch_poll_s=0.1, out_dir=tmp_path / "run")
    errors = {r.case_id: r.response.error for r in run.results if r.response.error}
    assert set(errors) == {"cold-pasta"}
    assert errors["cold-pasta"] == "batch request failed (500): overloaded"
    assert run.manifest.counts.errors == 2


def test_a_batch_run_stopped_while_waiting_resumes_the_same_batch(project, tmp_path):
    with FakeLLMServer(sentiment_answer) as server:
        server.batch_delay_s = 3600  # the provider takes its time
        suite = project(base_url=server.base_url)
        process = subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "--batch",
                                    "--batch-poll", "0.1", "--out", str(tmp_path / "run")], cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not server.batch_polls:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 130, err
        assert len(server.batches) == 1 and server.count == 0

        server._loop.call_soon_threadsafe(server._finish_batch, "batch-1")  # the provider finishes meanwhile
        assert run_cli("run", "--resume", tmp_path / "run", "--batch-poll", "0.1") == 0
        assert len(server.batches) == 1  # polled the batch it had, did not submit another
    rows = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["response"]["text"] for r in rows)


def test_batch_mode_refuses_a_model_without_a_batch_api(project, tmp_path, capsys):
    suite = project()
    suite.write_text(suite.read_text().replace("model: openai/fake-model", "model: echo"))
    assert run_cli("run", suite, "--batch") == 2
    assert "has no batch API" in capsys.readouterr().err
