"""Interruptions are safe: a signal stops the run and its workers, a killed parent takes its workers with it, a
run folder has one writer at a time, and --resume completes what was cut short, asking the model nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.testing import FakeLLMServer, Reply, last_user_message
from tests.conftest import run_cli, sentiment_answer

REVIEWS = [(f"r{i:03d}", f"Review {i}: " + ("The mochi is excellent!" if i % 3 else "The pasta was cold."),
            "positive" if i % 3 else "negative") for i in range(60)]
TRIALS = 2 * len(REVIEWS)


def _start(suite: Path, out: Path, *args: str) -> subprocess.Popen:
    """``harness run`` as users start it: its own process (and session, so no signal of the test's reaches it)."""
    return subprocess.Popen([sys.executable, "-m", "harness", "run", str(suite), "--out", str(out), *args],
                            cwd=suite.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _rows(run_dir: Path) -> list[dict]:
    path = run_dir / "results.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")] if path.exists() else []


def _wait_for_rows(run_dir: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(_rows(run_dir)) < count:
        assert time.monotonic() < deadline, "the run recorded nothing"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def _alive(pid: int) -> bool:
    """Running: not gone, and not a zombie (an exited process its new parent has not reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture
def leftovers():
    """The pids of a test's workers: any still running when the test ends (it failed) are killed, not left behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _resume_asks_only_the_rest(suite: Path, slow: FakeLLMServer, run_dir: Path, *args: str) -> None:
    """--resume completes the run against a fresh server, which is asked for exactly the trials not recorded."""
    kept = _rows(run_dir)
    recorded = {last_user_message({"messages": r["messages"]}) for r in kept}
    with FakeLLMServer(sentiment_answer) as fresh:
        suite.write_text(suite.read_text().replace(slow.base_url, fresh.base_url))
        assert run_cli("run", "--resume", run_dir, "--no-cache", *args) == 0
        asked = [last_user_message(r) for r in fresh.requests]
    assert len(asked) == TRIALS - len(kept) and not recorded & set(asked)
    rows = _rows(run_dir)
    assert len(rows) == TRIALS and len({r["trial_id"] for r in rows}) == TRIALS
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


@pytest.mark.parametrize("signum, workers", [(signal.SIGTERM, 2), (signal.SIGHUP, 2), (signal.SIGTERM, 1)],
                         ids=["SIGTERM-workers", "SIGHUP-workers", "SIGTERM-one-process"])
def test_a_signal_stops_the_run_and_its_workers_and_resume_completes_it(project, tmp_path, leftovers, signum,
                                                                       workers):
    run_dir = tmp_path / "run"
    with FakeLLMServer(lambda r: Reply(sentiment_answer(r), delay_s=0.3)) as slow:
        suite = project(reviews=REVIEWS, base_url=slow.base_url)
        process = _start(suite, run_dir, "--workers", str(workers), "-j", "4", "--no-cache")
        _wait_for_rows(run_dir, 8)
        children = _children(process.pid)
        leftovers.extend(children)
        sent = time.monotonic()
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
        alive = [pid for pid in children if _alive(pid)]
        answered = slow.count

    assert len(children) == (workers if workers > 1 else 0)
    assert process.returncode == 128 + signum, err
    assert took < 5 and alive == []
    assert f"interrupted ({signal.Signals(signum).name})" in err and "Traceback" not in err
    assert f"harness run --resume {run_dir} completes it" in err
    manifest = json.loads((run_dir / "run.json").read_text())
    kept = _rows(run_dir)
    assert manifest["status"] == "interrupted" and manifest["counts"]["completed"] == len(kept) >= 8
    assert answered < TRIALS * 0.8  # stopped, not run to the end
    _resume_asks_only_the_rest(suite, slow, run_dir, "--workers", str(workers))


def test_workers_die_with_a_parent_killed_outright_and_resume_completes_the_run(project, tmp_path, leftovers):
    run_dir = tmp_path / "run"
    with FakeLLMServer(lambda r: Reply(sentiment_answer(r), delay_s=0.3)) as slow:
        suite = project(reviews=REVIEWS, base_url=slow.base_url)
        process = _start(suite, run_dir, "--workers", "2", "-j", "4", "--no-cache")
        _wait_for_rows(run_dir, 8)
        workers = _children(process.pid)
        leftovers.extend(workers)
        process.kill()
        process.wait(10)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = [pid for pid in workers if _alive(pid)]
        settled = slow.count
        time.sleep(0.5)
        assert len(workers) == 2 and alive == []
        assert slow.count == settled  # nobody calls the model for a run that is gone
        assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
        _resume_asks_only_the_rest(suite, slow, run_dir, "--workers", "2")  # the dead run's lock is gone with it


def test_two_runs_given_one_out_folder_at_once_one_runs_and_the_other_names_it(project, tmp_path):
    run_dir = tmp_path / "run"
    loser_done = threading.Event()  # the run that got the folder is slow until the other has given up
    with FakeLLMServer(lambda r: Reply(sentiment_answer(r), delay_s=0 if loser_done.is_set() else 0.5)) as server:
        suite = project(base_url=server.base_url)
        processes = [_start(suite, run_dir, "-j", "1") for _ in range(2)]
        while all(p.poll() is None for p in processes):
            time.sleep(0.05)
        loser_done.set()
        outputs = [p.communicate(timeout=60) for p in processes]

    codes = [p.returncode for p in processes]
    assert sorted(codes) == [0, 2], outputs
    winner, loser = (processes[0], outputs[1]) if codes[0] == 0 else (processes[1], outputs[0])
    assert f"{run_dir} is being written by pid {winner.pid} (harness run {suite}" in loser[1]
    assert "Traceback" not in loser[1]
    rows = _rows(run_dir)
    assert len(rows) == 12 and len({r["trial_id"] for r in rows}) == 12
    assert sorted(p.name for p in run_dir.iterdir()) == ["report.html", "results.jsonl", "run.json", "summary.md"]


@pytest.mark.parametrize("damage, where", [
    (lambda path: path.write_text(path.read_text().replace("\n", "\nnot json\n", 1)), "results.jsonl:2: not a JSON"),
    (lambda path: path.write_bytes(path.read_bytes() + b'{"case_id": "\xff"}\n'), "results.jsonl:7: not UTF-8"),
    (lambda path: (path.unlink(), path.mkdir()), "results.jsonl: cannot read it"),
], ids=["not-json", "not-utf8", "a-folder"])
def test_resume_of_a_folder_whose_results_cannot_be_read_says_where_and_what_to_do(project, server, tmp_path, capsys,
                                                                                   damage, where):
    assert run_cli("run", project(), "--prompt", "terse", "--out", tmp_path / "run") == 0
    damage(tmp_path / "run" / "results.jsonl")
    capsys.readouterr()
    assert run_cli("run", "--resume", tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert where in err and "hint:" in err and "Traceback" not in err
