from __future__ import annotations

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
