"""End to end: YAML suite -> Jinja template -> litellm -> real HTTP server -> scorers -> results -> report."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import harness
from harness.testing import FakeLLMServer, Reply, last_user_message
from tests.conftest import embedded_data, run_cli, sentiment_answer


def only_run_dir(root: Path) -> Path:
    runs = sorted((root / "reports").glob("sentiment-*"))
    assert len(runs) == 1, runs
    return runs[0]


def outputs(run_dir: Path) -> list[str]:
    return [json.loads(x)["response"]["text"] for x in (run_dir / "results.jsonl").read_text().splitlines()]


def test_run_writes_results_metrics_and_report(project, server, tmp_path, capsys):
    suite = project()

    assert run_cli("run", suite) == 0

    run_dir = only_run_dir(tmp_path)
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 12 == server.count  # 6 cases x 2 prompts, each sent over HTTP once
    by_trial = {(r["case_id"], r["prompt_id"]): r for r in rows}
    mochi = by_trial[("mochi", "critic")]
    assert mochi["messages"][0] == {"role": "system", "content": "You are a restaurant critic."}
    assert mochi["messages"][1]["content"] == "Review: The mochi is excellent!\nSentiment:"
    assert mochi["response"]["text"] == "Positive"
    assert mochi["scores"][0]["metadata"]["predicted"] == "positive"
    assert mochi["passed"] is True
    pasta = by_trial[("cold-pasta", "terse")]
    assert pasta["response"]["text"] == "The sentiment is negative."
    assert pasta["scores"][0]["passed"] is True
    sarcasm = by_trial[("sarcasm", "terse")]
    assert sarcasm["passed"] is False and sarcasm["scores"][0]["metadata"]["predicted"] == "positive"
    assert all(r["response"]["latency_ms"] > 0 and r["response"]["prompt_tokens"] > 0 for r in rows)

    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["passed"] is True
    assert manifest["counts"] == {"planned": 12, "completed": 12, "cached": 0, "errors": 0, "judge_errors": 0,
                                  "scorer_errors": 0, "transform_errors": 0}
    terse = next(v for v in manifest["variants"] if v["prompt_id"] == "terse")
    assert terse["pass_rate"] == pytest.approx(5 / 6)
    assert terse["pass_rate_ci"] == pytest.approx([0.4365, 0.9699], abs=1e-3)  # Wilson, 5 of 6
    label = terse["scorers"]["label"]
    assert label["accuracy"] == pytest.approx(5 / 6)
    assert label["classification"]["confusion"]["negative"] == {"negative": 2, "positive": 1, "(none)": 0}
    assert label["classification"]["confusion"]["positive"] == {"negative": 0, "positive": 3, "(none)": 0}
    assert label["macro_f1"] == pytest.approx((0.8 + 6 / 7) / 2)
    assert terse["latency_p50_ms"] > 0 and terse["prompt_tokens"] > 0

    report = (run_dir / "report.html").read_text()
    assert "83.3%" in report and "Confusion matrices" in report
    assert any(r["vars"]["review"] == "Oh great, cold fries again." for r in embedded_data(report)["rows"])
    out = capsys.readouterr().out
    assert "83.3%" in out and "0/12 trials from cache" in out


def test_rerun_is_answered_from_cache_without_calling_the_model(project, server, tmp_path, capsys):
    suite = project()
    assert run_cli("run", suite, "--out", tmp_path / "first") == 0
    assert server.count == 12

    assert run_cli("run", suite, "--out", tmp_path / "second") == 0

    assert server.count == 12
    manifest = json.loads((tmp_path / "second" / "run.json").read_text())
    assert manifest["counts"]["cached"] == 12
    assert "12/12 trials from cache" in capsys.readouterr().out
    assert outputs(tmp_path / "first") == outputs(tmp_path / "second")

    assert run_cli("run", suite, "--no-cache", "--out", tmp_path / "third") == 0
    assert server.count == 24


def test_repeats_are_distinct_cache_entries(project, server):
    suite = project()
    assert run_cli("run", suite, "--repeat", "3", "--prompt", "terse") == 0
    assert server.count == 18
    assert run_cli("run", suite, "--repeat", "3", "--prompt", "terse") == 0
    assert server.count == 18


def test_missed_threshold_exits_1_and_names_it(project, server, tmp_path, capsys):
    suite = project()
    suite.write_text(suite.read_text().replace("pass_rate: 0.5", "pass_rate: 0.9"))

    assert run_cli("run", suite) == 1

    manifest = json.loads((only_run_dir(tmp_path) / "run.json").read_text())
    assert manifest["passed"] is False
    missed = [c for c in manifest["thresholds"] if not c["passed"]]
    assert {(c["prompt_id"], c["metric"]) for c in missed} == {("terse", "pass_rate"), ("critic", "pass_rate")}
    assert "threshold missed: pass_rate = 0.833 for terse × fake (needs ≥ 0.9)" in capsys.readouterr().out


def test_provider_errors_are_recorded_per_trial_and_the_run_goes_on(project, tmp_path):
    def answer(request):
        if "cold." in last_user_message(request):
            return Reply("bad request: this prompt is not allowed", status=400)
        return sentiment_answer(request)

    with FakeLLMServer(answer) as failing:
        suite = project(base_url=failing.base_url)
        assert run_cli("run", suite) == 1  # 1 error in 6 trials is over the default max_error_rate of 0.1
        assert failing.count == 12  # a 400 is not retried

    run_dir = only_run_dir(tmp_path)
    rows = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    errors = [r for r in rows if r["response"]["error"]]
    assert {r["case_id"] for r in errors} == {"cold-pasta"}
    assert "400" in errors[0]["response"]["error"] and errors[0]["scores"] == []
    manifest = json.loads((run_dir / "run.json").read_text())
    terse = next(v for v in manifest["variants"] if v["prompt_id"] == "terse")
    assert terse["errors"] == 1 and terse["scored"] == 5 and terse["pass_rate"] == pytest.approx(4 / 5)
    failed = {(c["prompt_id"], c["metric"]) for c in manifest["thresholds"] if not c["passed"]}
    assert failed == {("terse", "error_rate"), ("critic", "error_rate")}
    assert "error" in (run_dir / "report.html").read_text()


def test_rate_limits_are_retried_after_the_servers_retry_after(project, tmp_path):
    seen: dict[str, list[float]] = {}

    def answer(request):
        text = last_user_message(request)
        seen.setdefault(text, []).append(time.monotonic())
        if "mochi" in text and len(seen[text]) == 1:
            return Reply(status=429, headers={"Retry-After": "0.6"})
        if "pasta" in text and len(seen[text]) <= 2:
            return Reply(status=503)
        return sentiment_answer(request)

    with FakeLLMServer(answer) as flaky:
        suite = project(base_url=flaky.base_url)
        assert run_cli("run", suite, "--prompt", "terse") == 0

    mochi = next(times for text, times in seen.items() if "mochi" in text)
    assert len(mochi) == 2 and mochi[1] - mochi[0] >= 0.55
    rows = [json.loads(line) for line in (only_run_dir(tmp_path) / "results.jsonl").read_text().splitlines()]
    attempts = {r["case_id"]: r["response"]["attempts"] for r in rows}
    assert attempts["mochi"] == 2 and attempts["cold-pasta"] == 3 and attempts["dumplings"] == 1
    assert all(r["response"]["error"] is None for r in rows)


def test_model_output_is_escaped_in_the_report(project, tmp_path):
    payload = '<script>alert(1)</script><img src=x onerror=alert(2)>'
    with FakeLLMServer(lambda _r: payload) as evil:
        suite = project(base_url=evil.base_url)
        run_cli("run", suite)
    report = (only_run_dir(tmp_path) / "report.html").read_text()
    assert "<script>alert" not in report and "<img src=x" not in report and "</script><img" not in report
    assert embedded_data(report)["rows"][0]["c"][0]["o"] == payload  # intact as data, inert as markup


def test_api_keys_never_reach_results_reports_or_output(project, server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-000111222")
    suite = project()
    run_cli("run", suite)
    out = capsys.readouterr()
    for path in only_run_dir(tmp_path).iterdir():
        text = path.read_text()
        assert "sk-test-key-123456" not in text and "sk-ant-secret" not in text, path
    assert "sk-test-key-123456" not in out.out + out.err


def test_model_flag_replaces_the_suite_models_and_litellm_env_vars_work(project, server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-abcdef")
    suite = project()

    assert run_cli("run", suite, "--model", "openai/other-model", "--prompt", "terse") == 0

    assert {r["model"] for r in server.requests} == {"other-model"}
    assert {r["temperature"] for r in server.requests} == {0}  # the suite's params still apply
    manifest = json.loads((only_run_dir(tmp_path) / "run.json").read_text())
    assert [v["model_id"] for v in manifest["variants"]] == ["openai/other-model"]


def test_python_api_runs_a_suite_and_loads_it_as_a_dataframe(project, server):
    run = harness.run_suite(project(), concurrency=4, prompts=["critic"])

    frame = harness.load_run(run.directory).to_dataframe()
    assert len(frame) == 6 and set(frame["prompt_id"]) == {"critic"}
    assert frame["passed"].sum() == 5
    assert frame.set_index("case_id").loc["mochi", "score.label"] == 1.0


def test_report_command_rerenders_without_calling_a_model(project, server, tmp_path):
    run_cli("run", project(), "--out", tmp_path / "run")
    calls = server.count
    (tmp_path / "run" / "report.html").unlink()

    assert run_cli("report", tmp_path / "run", "--out", tmp_path / "again.html") == 0

    assert server.count == calls
    assert "83.3%" in (tmp_path / "again.html").read_text()


def test_console_script_and_module_entry_points(project, server, tmp_path):
    suite = project()
    done = subprocess.run([sys.executable, "-m", "harness", "run", str(suite), "--prompt", "terse"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "terse" in done.stdout and "results:" in done.stdout
    help_text = subprocess.run(["harness", "--help"], capture_output=True, text=True, timeout=30)
    assert help_text.returncode == 0 and "Exit codes" in help_text.stdout


def test_results_are_stored_in_suite_order_whatever_order_answers_arrive(project, tmp_path):
    def slow_first(request):
        text = last_user_message(request)
        return Reply(sentiment_answer(request), delay_s=0.3 if "mochi" in text else 0.0)

    with FakeLLMServer(slow_first) as server:
        run_cli("run", project(base_url=server.base_url), "--prompt", "terse", "-j", "6")

    run_dir = only_run_dir(tmp_path)
    stored = [json.loads(x)["case_id"] for x in (run_dir / "results.jsonl").read_text().splitlines()]
    assert stored == ["mochi", "dumplings", "reservation", "tablecloths", "cold-pasta", "sarcasm"]
    rows = embedded_data((run_dir / "report.html").read_text())["rows"]
    assert [r["id"] for r in rows] == stored


def test_ctrl_c_keeps_what_completed_and_exits_130(project, tmp_path):
    with FakeLLMServer(lambda r: Reply(sentiment_answer(r), delay_s=0.4)) as slow:
        suite = project(base_url=slow.base_url)
        process = subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "-j", "1",
                                    "--out", str(tmp_path / "run")], cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        results = tmp_path / "run" / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 2):
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)

    assert process.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    kept = results.read_text().splitlines()
    assert manifest["status"] == "interrupted" and manifest["passed"] is False
    assert 2 <= len(kept) < 12 and manifest["counts"]["completed"] == len(kept)
    assert (tmp_path / "run" / "report.html").is_file()


def test_a_used_run_folder_is_refused_rather_than_mixed(project, server, tmp_path, capsys):
    suite = project()
    assert run_cli("run", suite, "--out", tmp_path / "run", "--prompt", "terse") == 0
    assert run_cli("run", suite, "--out", tmp_path / "run", "--prompt", "terse") == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err
    assert len((tmp_path / "run" / "results.jsonl").read_text().splitlines()) == 6


def test_the_cache_tells_apart_servers_set_by_environment(project, server, tmp_path, monkeypatch):
    suite = project()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key-abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    run_cli("run", suite, "--model", "openai/m", "--prompt", "terse")
    with FakeLLMServer(lambda _r: "negative") as other:
        monkeypatch.setenv("OPENAI_BASE_URL", other.base_url)
        run_cli("run", suite, "--model", "openai/m", "--prompt", "terse")
        assert other.count == 6


def test_suite_params_reach_every_model_and_credentials_stay_out_of_run_json(project, server, tmp_path):
    suite = project()
    text = suite.read_text()
    models = text[text.index("models:"):text.index("params:\n  temperature")]
    suite.write_text(text.replace(models, "models: [openai/from-suite-params]\n").replace(
        "params:\n  temperature: 0\n",
        f"params:\n  temperature: 0\n  timeout: 30\n  api_base: {server.base_url}\n  api_key: sk-suite-level-key-1\n"
        "  extra_headers: {Authorization: Bearer sk-header-secret-2}\n"))

    assert run_cli("run", suite, "--prompt", "terse") == 0

    assert {r["model"] for r in server.requests} == {"from-suite-params"}
    run_json = next((tmp_path / "reports").glob("*/run.json")).read_text()
    assert "sk-suite-level-key-1" not in run_json and "sk-header-secret" not in run_json
    assert '"timeout": 30' in run_json


def test_model_flag_can_pick_a_suite_model_by_id(project, server):
    assert run_cli("run", project(), "--model", "fake", "--prompt", "terse") == 0
    assert {r["model"] for r in server.requests} == {"fake-model"}


@pytest.mark.parametrize("model, message", [
    ("openai/gpt-4o-mini", "model 'openai/gpt-4o-mini' needs OPENAI_API_KEY in the environment"),
    ("nosuch/model", "model 'nosuch/model': litellm knows no provider 'nosuch'"),
])
@pytest.mark.parametrize("batch", [[], ["--batch"]])
def test_a_model_that_cannot_be_called_fails_fast_with_what_to_set(project, server, model, message, batch, capsys):
    started = time.monotonic()
    assert run_cli("run", project(), "--model", model, *batch) == 2
    assert message in capsys.readouterr().err
    assert time.monotonic() - started < 10 and server.count == 0 and not server.files


def test_the_python_api_works_inside_a_running_event_loop_as_in_a_notebook(project, server):
    async def notebook_cell():
        return harness.run_suite(project(), prompts=["terse"])

    import asyncio

    run = asyncio.run(notebook_cell())
    assert run.manifest.status == "completed" and len(run.results) == 6


def test_resume_after_kill_9_completes_the_run_without_asking_twice(project, tmp_path):
    """A real SIGKILL mid-run; --resume sends only the trials not yet recorded; results equal an uninterrupted run."""
    with FakeLLMServer(lambda r: Reply(sentiment_answer(r), delay_s=0.3)) as slow:
        suite = project(base_url=slow.base_url)
        process = subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "-j", "1", "--no-cache",
                                    "--out", str(tmp_path / "run")], cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results = tmp_path / "run" / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 3):
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        recorded = {json.loads(x)["trial_id"] for x in results.read_text().splitlines() if x.endswith("}")}
        with results.open("a") as torn:
            torn.write('{"case_id": "half-written')  # as a kill in the middle of a write leaves it
        asked_before = [last_user_message(r) for r in slow.requests]
        assert 3 <= len(recorded) < 12
        assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "running"

        assert run_cli("run", "--resume", tmp_path / "run", "--no-cache") == 0

        asked_after = [last_user_message(r) for r in slow.requests[len(asked_before):]]
    assert len(asked_after) == 12 - len(recorded)  # the recorded trials were not sent again
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    assert len(rows) == 12 and len({r["trial_id"] for r in rows}) == 12
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["status"] == "completed" and manifest["counts"]["completed"] == 12

    with FakeLLMServer(sentiment_answer) as fresh:
        run_cli("run", project(base_url=fresh.base_url), "--no-cache", "--out", tmp_path / "uninterrupted")
    expected = {json.loads(x)["trial_id"]: json.loads(x)["response"]["text"]
                for x in (tmp_path / "uninterrupted" / "results.jsonl").read_text().splitlines()}
    assert {r["trial_id"]: r["response"]["text"] for r in rows} == expected
