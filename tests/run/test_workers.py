"""Sharding a run over worker processes: same results as one process, errors and Ctrl-C handled."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.records import Response, TrialResult
from harness.run import run_suite
from harness.testing import FakeLLMServer, Reply
from tests.conftest import run_cli, sentiment_answer

MANY = [(f"r{i:03d}", f"Review {i}: " + ("The mochi is excellent!" if i % 3 else "The pasta was cold."),
         "positive" if i % 3 else "negative") for i in range(120)]


def _rows(run_dir):
    return [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]


def test_two_workers_give_the_same_results_as_one_process(project, server, tmp_path):
    suite = project(reviews=MANY)
    sharded = run_suite(suite, workers=2, use_cache=False, out_dir=tmp_path / "two")
    assert server.count == 240 and sharded.manifest.workers == 2
    single = run_suite(suite, workers=1, use_cache=False, out_dir=tmp_path / "one")
    assert single.manifest.workers == 1

    def comparable(rows):
        return [(r["trial_id"], r["response"]["text"], [(s["name"], s["value"]) for s in r["scores"]], r["passed"])
                for r in rows]

    # Same trials, same answers and scores, stored in the same (planned) order.
    assert comparable(_rows(tmp_path / "two")) == comparable(_rows(tmp_path / "one"))
    assert sharded.metrics[0].pass_rate == single.metrics[0].pass_rate


def test_workers_write_to_the_shared_cache_and_a_rerun_is_answered_from_it(project, server, tmp_path):
    suite = project(reviews=MANY)
    run_suite(suite, workers=2, out_dir=tmp_path / "fill")
    assert server.count == 240
    again = run_suite(suite, workers=2, out_dir=tmp_path / "again")
    assert server.count == 240 and again.manifest.counts.cached == 240
    assert again.manifest.workers == 1  # nothing to call: no worker is started


def test_a_workers_error_reaches_the_user_as_a_clear_message(project, server, tmp_path, capsys):
    suite = project(reviews=MANY)
    text = suite.read_text().replace("model: openai/fake-model", "model: anthropic/claude-x")
    suite.write_text(text.replace("api_key: sk-test-key-123456", ""))
    assert run_cli("run", suite, "--workers", "2") == 2
    assert "needs ANTHROPIC_API_KEY" in capsys.readouterr().err
    assert server.count == 0


@pytest.mark.parametrize("to", ["parent", "terminal"])
def test_ctrl_c_stops_every_worker_and_keeps_what_they_finished(project, tmp_path, to):
    """A terminal's Ctrl-C reaches every process of the group, and the parent passes it on too: a worker
    gets it twice, and may get it while it sends a message."""
    with FakeLLMServer(lambda r: Reply(sentiment_answer(r), delay_s=0.3)) as slow:
        suite = project(reviews=MANY, base_url=slow.base_url)
        process = subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "-j", "4", "--workers", "2",
                                    "--no-cache", "--out", str(tmp_path / "run")], cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        results = tmp_path / "run" / "results.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 8):
            time.sleep(0.05)
        if to == "parent":
            process.send_signal(signal.SIGINT)  # it passes it on to its workers
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
        answered = slow.count

    assert process.returncode == 130, err
    assert "Traceback" not in err
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    kept = _rows(tmp_path / "run")
    assert manifest["status"] == "interrupted" and 8 <= len(kept) < 240
    assert answered < 200  # the workers stopped rather than finishing the run

    with FakeLLMServer(sentiment_answer) as fresh:
        suite.write_text(suite.read_text().replace(slow.base_url, fresh.base_url))
        assert run_cli("run", "--resume", tmp_path / "run", "--no-cache", "--workers", "2") == 0
        assert fresh.count == 240 - len(kept)  # only what was not recorded
    assert len({r["trial_id"] for r in _rows(tmp_path / "run")}) == 240


def _take_all(dealer, pause_s, connection):
    taken = []
    while (item := dealer.take()) is not None:
        taken.append(item)
        time.sleep(pause_s)
    connection.send(taken)


def test_the_dealer_gives_each_trial_to_one_worker_and_more_to_the_quicker_one():
    """Fixed shards made the quick worker wait for the slow one; taking the next trial when free, both end together."""
    import multiprocessing

    from harness.run.workers import Dealer

    context = multiprocessing.get_context("fork")
    dealer = Dealer(list(range(300)))
    pipes = [context.Pipe(duplex=False) for _ in range(2)]
    processes = [context.Process(target=_take_all, args=(dealer, pause_s, sender))
                 for pause_s, (_, sender) in zip((0.004, 0.0005), pipes, strict=True)]
    for process in processes:
        process.start()
    slow, quick = (receiver.recv() for receiver, _ in pipes)
    for process in processes:
        process.join(5)
    assert sorted(slow + quick) == list(range(300))  # every trial taken, none twice
    assert len(quick) > 2 * len(slow)


def _result(case_id: str) -> TrialResult:
    return TrialResult(case_id=case_id, prompt_id="p", model_id="m", repeat=0, messages=[], vars={}, expected=None,
                       response=Response(text="line one\nline two \u2028"), scores=[])


def test_results_finished_in_one_turn_of_a_workers_loop_travel_as_one_message():
    import multiprocessing

    from harness.run.workers import _PipeWriter, _receive

    receiver, sender = multiprocessing.Pipe(duplex=False)
    writer = _PipeWriter(sender)

    async def turns():
        for case_id in ("c0", "c1", "c2"):
            writer.write(_result(case_id))
        await asyncio.sleep(0)  # the loop's next turn sends them
        writer.write(_result("c3"))
        await asyncio.sleep(0)

    asyncio.run(turns())
    writer.write(_result("c4"))  # outside a loop nothing would send it later: it goes at once
    messages = []
    while receiver.poll(0):
        received: list[TrialResult] = []
        assert _receive(receiver, received.append) == ("results", None)
        messages.append(received)
    assert [[r.case_id for r in m] for m in messages] == [["c0", "c1", "c2"], ["c3"], ["c4"]]
    assert messages[0][0] == _result("c0")


def test_a_send_that_failed_in_the_loop_fails_the_workers_next_write():
    import multiprocessing

    from harness.run.workers import _PipeWriter

    receiver, sender = multiprocessing.Pipe(duplex=False)
    receiver.close()  # the parent is gone
    writer = _PipeWriter(sender)

    async def turns():
        writer.write(_result("c0"))
        await asyncio.sleep(0)
        with pytest.raises(BrokenPipeError):
            writer.write(_result("c1"))

    asyncio.run(turns())


def test_ctrl_c_waits_until_a_message_is_whole():
    import threading

    from harness.run.workers import _ctrl_c_held

    finished = []
    other_thread = threading.Thread(target=time.sleep, args=(0.5,))  # a worker has litellm's threads too
    other_thread.start()
    with pytest.raises(KeyboardInterrupt):
        with _ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            finished.append("the whole message")
    other_thread.join()
    assert finished == ["the whole message"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_worker_stops_once_however_often_ctrl_c_reaches_it():
    """The terminal's Ctrl-C and the parent's both reach a worker: the second must not cut short the
    wind-down the first started (the cancelled trials' cleanup, the results still to send)."""
    import threading

    from harness.run.workers import first_ctrl_c_only

    wound_down = []

    async def run():
        try:
            await asyncio.sleep(10)
        finally:
            await asyncio.sleep(0.3)
            wound_down.append(True)

    def press_twice():
        for _ in range(2):
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGINT)

    presses = threading.Thread(target=press_twice)
    presses.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(first_ctrl_c_only(run()))
    finally:
        presses.join()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    assert wound_down == [True]
