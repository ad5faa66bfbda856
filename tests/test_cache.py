from __future__ import annotations

import json

import pytest

from harness.cache import ResponseCache, cache_key
from harness.records import Response

MESSAGES = [{"role": "user", "content": "hi"}]


def test_key_depends_on_model_messages_params_and_repeat():
    base = cache_key("openai/x", MESSAGES, {"temperature": 0}, 0)
    assert base == cache_key("openai/x", MESSAGES, {"temperature": 0}, 0)
    assert len({base, cache_key("openai/y", MESSAGES, {"temperature": 0}, 0),
                cache_key("openai/x", [{"role": "user", "content": "hi!"}], {"temperature": 0}, 0),
                cache_key("openai/x", MESSAGES, {"temperature": 1}, 0),
                cache_key("openai/x", MESSAGES, {"temperature": 0}, 1)}) == 5


def test_round_trip_marks_cached_and_skips_errors(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("ok", Response(text="hello", latency_ms=12.5, prompt_tokens=3, completion_tokens=1))
    cache.put("bad", Response(text="", error="RateLimitError (429)"))
    hit = cache.get("ok")
    assert hit.text == "hello" and hit.cached and hit.latency_ms == 12.5 and hit.prompt_tokens == 3
    assert cache.get("bad") is None and cache.get("missing") is None
    cache.close()
    assert ResponseCache(tmp_path / "c.sqlite").get("ok").text == "hello"


def test_cache_stats_and_clear_commands(project, server, tmp_path, capsys):
    from tests.conftest import run_cli

    run_cli("run", project(), "--prompt", "terse")
    capsys.readouterr()
    assert run_cli("cache", "stats") == 0
    out = capsys.readouterr().out
    assert "entries: 6" in out and str(tmp_path / "cache" / "responses.sqlite") in out

    assert run_cli("cache", "clear") == 0
    assert "removed 6 cached responses" in capsys.readouterr().out
    run_cli("run", project(), "--prompt", "terse")
    assert server.count == 12  # nothing was answered from the cleared cache


def _hammer(path, worker: int) -> None:
    cache = ResponseCache(path)
    for i in range(300):
        cache.put(f"own-{worker}-{i}", Response(text=f"{worker}:{i}"))
        cache.put(f"shared-{i % 50}", Response(text=f"shared {i % 50}"))  # every writer races on these
        assert cache.get(f"own-{worker}-{i}").text == f"{worker}:{i}"
    cache.close()


def test_concurrent_writer_processes_lose_nothing(tmp_path):
    """Four processes writing at once (as --workers and parallel CI jobs do): every entry lands, none is torn."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_hammer, args=(tmp_path / "c.sqlite", w)) for w in range(4)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
    assert [p.exitcode for p in writers] == [0, 0, 0, 0]
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.stats()["entries"] == 4 * 300 + 50
    assert all(cache.get(f"own-{w}-{i}").text == f"{w}:{i}" for w in range(4) for i in range(300))
    assert cache.get("shared-7").text == "shared 7"


def _open_and_write(path, barrier, worker: int) -> None:
    barrier.wait()  # every process opens the (new, or corrupt) cache at the same moment
    cache = ResponseCache(path)
    cache.put(f"key-{worker}", Response(text=f"answer {worker}"))
    cache.close()


def _at_once(path, processes: int) -> list[int | None]:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes)
    started = [context.Process(target=_open_and_write, args=(path, barrier, w)) for w in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join(60)
    return [p.exitcode for p in started]


def test_processes_opening_a_new_cache_at_the_same_moment_all_write_to_it(tmp_path):
    """Setting the database up in place from several processes at once failed with "database is locked"."""
    for attempt in range(5):
        path = tmp_path / f"new-{attempt}.sqlite"
        assert _at_once(path, 8) == [0] * 8
        cache = ResponseCache(path)
        assert cache.stats()["entries"] == 8 and cache.get("key-3").text == "answer 3"
        assert cache._execute("PRAGMA journal_mode").fetchone() == ("wal",)
        cache.close()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("new-")) == []  # no temporary left


def _run_when_all_are_ready(barrier, *args: str) -> None:
    from harness.cli import main

    barrier.wait()
    main(list(args))


def test_four_runs_at_once_on_a_new_cache_folder_all_succeed_and_share_it(project, tmp_path, monkeypatch):
    """Four real runs (forked from here, litellm imported once, so they start together), one new cache folder."""
    import multiprocessing

    from harness.providers._litellm import litellm_module
    from harness.run import run_suite
    from harness.testing import FakeLLMServer, Reply
    from tests.conftest import sentiment_answer

    cache_dir = tmp_path / "shared-cache"
    cache_dir.mkdir()
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache_dir))
    litellm_module()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    with FakeLLMServer(lambda r: Reply(sentiment_answer(r), delay_s=0.3)) as server:
        suite = project(base_url=server.base_url)
        runs = [context.Process(target=_run_when_all_are_ready,
                                args=(barrier, "run", str(suite), "-j", "2", "--out", str(tmp_path / f"run{i}")))
                for i in range(4)]
        for run in runs:
            run.start()
        for run in runs:
            run.join(60)
        asked = server.count
        again = run_suite(suite, out_dir=tmp_path / "again")
        assert server.count == asked  # the re-run is answered from the cache

    assert [run.exitcode for run in runs] == [0, 0, 0, 0]
    counts = [json.loads((tmp_path / f"run{i}" / "run.json").read_text())["counts"] for i in range(4)]
    assert [(c["completed"], c["cached"]) for c in counts] == [(12, 0)] * 4  # each asked the model, and wrote
    assert asked == 48 and again.manifest.counts.cached == 12
    assert ResponseCache(cache_dir / "responses.sqlite").stats()["entries"] == 12


GARBAGE = b"\x00not a database\xff" * 300


@pytest.mark.parametrize("command", [("run", "SUITE", "--prompt", "terse"), ("cache", "stats"), ("cache", "clear")])
def test_a_corrupt_cache_is_moved_aside_with_one_warning_and_started_anew(project, server, tmp_path, capsys, command):
    from tests.conftest import run_cli

    database = tmp_path / "cache" / "responses.sqlite"
    database.parent.mkdir(exist_ok=True)
    database.write_bytes(GARBAGE)
    assert run_cli(*[project() if arg == "SUITE" else arg for arg in command]) == 0

    err = capsys.readouterr().err
    [aside] = database.parent.glob("responses.sqlite.corrupt-*")
    assert aside.read_bytes() == GARBAGE
    assert err.count("warning") == 1 and "Traceback" not in err
    assert f"the response cache {database} could not be read (file is not a database); moved it to {aside}" in err
    assert ResponseCache(database).stats()["entries"] == (6 if command[0] == "run" else 0)


def test_processes_finding_the_cache_corrupt_at_once_move_it_aside_once(tmp_path, capfd):
    path = tmp_path / "c.sqlite"
    path.write_bytes(GARBAGE)
    assert _at_once(path, 4) == [0] * 4
    assert len(list(tmp_path.glob("c.sqlite.corrupt-*"))) == 1
    assert capfd.readouterr().err.count("could not be read") == 1
    assert ResponseCache(path).stats()["entries"] == 4  # every process wrote to the new one


def test_no_cache_neither_creates_nor_changes_the_cache_database(project, server, tmp_path):
    from tests.conftest import run_cli

    suite, cache_dir = project(), tmp_path / "cache"
    assert run_cli("run", suite, "--prompt", "terse", "--no-cache") == 0
    assert not list(cache_dir.glob("responses.sqlite*"))
    assert run_cli("run", suite, "--prompt", "terse") == 0
    stored = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache_dir.glob("responses.sqlite*")}
    assert run_cli("run", suite, "--prompt", "terse", "--no-cache") == 0
    assert server.count == 18  # each --no-cache run asked the model for every trial
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in cache_dir.glob("responses.sqlite*")} == stored
