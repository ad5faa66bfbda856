"""What a run measures and how it stops: latency apart from queueing, a server's own capacity, a server that
cannot be reached, the whole run's duration, every kind of error counted, and a run with no thresholds."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator

import harness
from harness.providers import Endpoint
from harness.spec import ModelSpec
from harness.testing import FakeLLMServer, Reply
from tests.conftest import run_cli, sentiment_answer


def rows(run_dir) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_latency_is_the_models_and_the_wait_for_a_slot_is_queue_time(project, tmp_path):
    with FakeLLMServer(sentiment_answer, latency_s=0.2) as server:
        assert run_cli("run", project(base_url=server.base_url), "-j", "1", "--prompt", "terse",
                       "--out", tmp_path / "run") == 0
    responses = [r["response"] for r in rows(tmp_path / "run")]
    assert all(150 < r["latency_ms"] < 1000 for r in responses)  # each call's own time, never the queue's
    assert max(r["queue_ms"] for r in responses) > 500  # with one slot, the last of 6 waited for 5 answers
    variant = json.loads((tmp_path / "run" / "run.json").read_text())["variants"][0]
    assert variant["latency_p95_ms"] < 1000


@contextlib.asynccontextmanager
async def _two_slot_server(spec: ModelSpec) -> AsyncIterator[Endpoint]:
    base = spec.params["api_base"]
    yield Endpoint(model="openai/fake", kwargs={"api_base": base, "api_key": "sk-test"}, address=base, capacity=2)


def test_a_server_that_answers_two_at_a_time_is_sent_two_at_a_time(tmp_path):
    harness.provider("twoslot")(_two_slot_server)
    with FakeLLMServer(sentiment_answer, latency_s=0.1) as server:
        suite = tmp_path / "suite.yaml"
        suite.write_text(f"name: slots\nprompts: [{{id: p, text: 'Review: {{{{ r }}}}'}}]\n"
                         f"models: [{{model: twoslot, params: {{api_base: '{server.base_url}'}}}}]\n"
                         "cases: [" + ", ".join(f"{{id: c{i}, vars: {{r: great {i}}}}}" for i in range(8)) + "]\n"
                         "scorers: [{type: contains, value: Positive}]\n")
        assert run_cli("run", suite, "-j", "8", "--out", tmp_path / "run") == 0
        assert server.count == 8 and server.peak_in_flight == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_server_that_cannot_be_reached_stops_the_run_with_exit_2(project, tmp_path, capsys):
    address = f"http://127.0.0.1:{_closed_port()}/v1"
    started = time.monotonic()

    code = run_cli("run", project(base_url=address), "--out", tmp_path / "run")

    assert code == 2 and time.monotonic() - started < 15  # not 12 trials x 5 attempts of backoff
    err = capsys.readouterr().err
    assert f"cannot reach {address}" in err and "Connect call failed" in err and "--resume" in err
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["status"] == "failed"


def test_the_run_took_what_its_duration_says_loading_and_planning_included(project, server, tmp_path):
    suite = project()
    (suite.parent / "slow_plugin.py").write_text("import time\ntime.sleep(0.6)\n")
    suite.write_text(suite.read_text().replace("scorers:\n", "plugins: [slow_plugin.py]\nscorers:\n"))
    started = time.monotonic()
    run = harness.run_suite(suite, out_dir=tmp_path / "run")
    took = time.monotonic() - started
    assert took - 0.2 <= run.manifest.duration_s <= took + 0.1


def test_every_kind_of_error_is_counted_where_errors_are_shown(project, tmp_path, capsys):
    def answer(request: dict) -> Reply | str:
        return Reply(status=400, text="rejected") if "pasta" in json.dumps(request) else sentiment_answer(request)

    with FakeLLMServer(answer) as server:
        suite = project(base_url=server.base_url)
        (suite.parent / "flaky.py").write_text("def flaky(output, case):\n    if case.id == 'mochi':\n"
                                               "        raise ValueError('no')\n    return 1.0\n")
        suite.write_text(suite.read_text().replace("scorers:\n", "scorers:\n  - type: flaky.py:flaky\n"))
        run_cli("run", suite, "--prompt", "terse", "--out", tmp_path / "run")
    counts = json.loads((tmp_path / "run" / "run.json").read_text())["counts"]
    assert counts["errors"] == 1 and counts["scorer_errors"] == 1 and counts["judge_errors"] == 0
    assert "1 model-call error · 1 scorer error" in capsys.readouterr().out
    assert "1 model-call error · 1 scorer error" in (tmp_path / "run" / "report.html").read_text()


def test_with_no_thresholds_a_run_in_which_every_trial_failed_fails(tmp_path, capsys):
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: hopeless\nprompts: [{id: p, text: 'say {{ w }}'}]\nmodels: [echo]\n"
                     "cases: [{id: a, vars: {w: x}}, {id: b, vars: {w: y}}]\nscorers: [{type: contains, value: z}]\n")
    assert run_cli("run", suite, "--out", tmp_path / "run") == 1
    out = capsys.readouterr().out
    assert "pass_rate = 0 for the whole run (needs > 0 (with no thresholds set, at least one trial must pass))" in out
    assert "no thresholds set" in out
    suite.write_text(suite.read_text().replace("value: z", "value: x"))  # one trial passes: the run passes
    assert run_cli("run", suite, "--out", tmp_path / "again") == 0
