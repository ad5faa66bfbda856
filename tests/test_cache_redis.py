"""The response cache in Redis, shared by CI runners: against a real redis-server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cache import RedisCache, ResponseCache, open_cache
from harness.errors import HarnessError
from harness.records import Response
from harness.redaction import mask_url
from tests.conftest import run_cli

PASSWORD = "s3cret-redis-pw-0123"


def _need(what: str, hint: str) -> None:
    """Outside CI a missing tool skips these tests; in CI it fails them, so they never silently stop running."""
    message = f"the Redis cache tests need {what}: {hint}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A throwaway redis-server: no persistence, bound to 127.0.0.1 on a free port."""

    def __init__(self, directory: Path, password: str | None = None):
        self.directory, self.password = directory, password
        self.port = 0
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def start(self) -> RedisServer:
        import redis

        self.directory.mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # the free port can be taken before redis binds it
            self.port = _free_port()
            args = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
                    "--bind", "127.0.0.1", "--dir", str(self.directory), "--logfile", str(self.directory / "log")]
            if self.password:
                args += ["--requirepass", self.password]
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while self.process.poll() is None and time.monotonic() < deadline:
                try:
                    if self.client().ping():
                        return self
                except redis.RedisError:
                    time.sleep(0.02)
            self.stop()
        log = (self.directory / "log").read_text() if (self.directory / "log").exists() else ""
        raise RuntimeError(f"redis-server did not answer PING:\n{log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def redis_py() -> None:
    try:
        import redis  # noqa: F401
    except ImportError:
        _need("redis-py", "pip install -e '.[test]' (or 'redis>=5')")


@pytest.fixture
def start_redis(tmp_path: Path, redis_py) -> Iterator:
    """start_redis(password=None) -> a running RedisServer, stopped after the test."""
    if shutil.which("redis-server") is None:
        _need("redis-server", "apt-get install redis-server (Debian/Ubuntu)")
    servers: list[RedisServer] = []

    def start(password: str | None = None) -> RedisServer:
        servers.append(RedisServer(tmp_path / f"redis-{len(servers)}", password).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def redis_server(start_redis) -> RedisServer:
    return start_redis()


def test_round_trip_stats_and_clear_touch_only_the_namespace(redis_server):
    other = redis_server.client()
    other.set("someone-else:key", "theirs")  # another application sharing the database

    cache = RedisCache(redis_server.url)
    cache.put("ok", Response(text="hello", latency_ms=12.5, prompt_tokens=3, completion_tokens=1))
    cache.put("bad", Response(text="", error="RateLimitError (429)"))
    hit = cache.get("ok")
    assert hit.text == "hello" and hit.cached and hit.latency_ms == 12.5 and hit.prompt_tokens == 3
    assert cache.get("bad") is None and cache.get("missing") is None
    record = json.loads(other.get("harness:response:ok"))
    assert record["text"] == "hello" and record["cached"] is False  # the same JSON record as in SQLite

    stats = cache.stats()
    assert stats["entries"] == 1 and stats["bytes"] == len(other.get("harness:response:ok"))
    assert stats["path"] == redis_server.url and stats["oldest"] is None
    cache.close()

    again = open_cache(redis_server.url)  # another process, same server: the entry is there
    assert isinstance(again, RedisCache) and again.get("ok").text == "hello"
    assert again.clear() == 1 and again.stats()["entries"] == 0 and again.get("ok") is None
    assert other.get("someone-else:key") == b"theirs" and other.dbsize() == 1
    again.close()


def test_losing_redis_midway_is_a_clear_error(start_redis):
    redis_server = start_redis(password=PASSWORD)
    cache = RedisCache(redis_server.url)
    cache.put("ok", Response(text="hello"))
    redis_server.stop()
    for operation in (lambda: cache.get("ok"), lambda: cache.put("x", Response(text="x")), cache.stats, cache.clear):
        with pytest.raises(HarnessError, match=r"lost the Redis response cache at redis://:\*\*\*@127.0.0.1") as error:
            operation()
        assert PASSWORD not in str(error.value) and "--resume" in str(error.value)
    cache.close()


def test_open_cache_picks_the_store(tmp_path, monkeypatch, redis_server):
    assert isinstance(open_cache(), ResponseCache)  # neither an argument nor $HARNESS_CACHE_URL: SQLite
    assert isinstance(open_cache(tmp_path / "x.sqlite"), ResponseCache)
    assert isinstance(open_cache(str(tmp_path / "y.sqlite")), ResponseCache)
    monkeypatch.setenv("HARNESS_CACHE_URL", redis_server.url)
    assert isinstance(open_cache(), RedisCache)
    assert isinstance(open_cache(tmp_path / "x.sqlite"), ResponseCache)  # an explicit path wins
    monkeypatch.setenv("HARNESS_CACHE_URL", "")
    assert isinstance(open_cache(), ResponseCache)
    monkeypatch.setenv("HARNESS_CACHE_URL", "http://:pw-in-url@cache:6379")
    with pytest.raises(HarnessError, match="must be a redis:// or rediss:// URL") as error:
        open_cache()
    assert "pw-in-url" not in str(error.value)


def test_mask_url_hides_passwords():
    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("rediss://user:p%40ss@h:6380/2") == "rediss://user:***@h:6380/2"
    assert mask_url("redis://onlysecret@h") == "redis://***@h"
    assert mask_url("redis://h:6379/0?password=pw&socket_timeout=3") == "redis://h:6379/0?password=***&socket_timeout=3"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"


def _runner(suite: Path, name: str, url: str, cwd: Path) -> subprocess.CompletedProcess:
    """One CI runner: its own process and its own (empty) cache folder; only the Redis URL is shared."""
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cwd / name / "cache"), "HARNESS_CACHE_URL": url}
    command = [sys.executable, "-m", "harness", "run", str(suite), "--out", str(cwd / name / "run")]
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, env=env,
                          cwd=cwd)


def test_two_ci_runners_share_answers_through_redis(project, server, tmp_path, start_redis):
    redis_server = start_redis(password=PASSWORD)
    suite = project()

    first = _runner(suite, "runner-1", redis_server.url, tmp_path)
    assert first.returncode == 0, first.stderr
    assert server.count == 12 and "0/12 trials from cache" in first.stdout
    second = _runner(suite, "runner-2", redis_server.url, tmp_path)
    assert second.returncode == 0, second.stderr
    assert server.count == 12  # the second runner asked the model nothing
    assert "12/12 trials from cache" in second.stdout
    results = [json.loads(line) for line in (tmp_path / "runner-2" / "run" / "results.jsonl").read_text().splitlines()]
    assert len(results) == 12 and all(r["response"]["cached"] for r in results)
    for runner in ("runner-1", "runner-2"):  # no SQLite cache anywhere: Redis only
        assert not list((tmp_path / runner).rglob("responses.sqlite*"))

    written = [p for p in (tmp_path / "runner-2" / "run").iterdir() if p.is_file()]
    for text in [first.stdout, first.stderr, second.stdout, second.stderr, *(p.read_text() for p in written)]:
        assert PASSWORD not in text


def test_cache_commands_use_redis_and_mask_the_password(project, server, tmp_path, start_redis, monkeypatch, capsys):
    redis_server = start_redis(password=PASSWORD)
    monkeypatch.setenv("HARNESS_CACHE_URL", redis_server.url)
    assert run_cli("run", project(), "--prompt", "terse") == 0
    capsys.readouterr()

    assert run_cli("cache", "stats") == 0
    out = capsys.readouterr().out
    assert "entries: 6" in out and f"redis://:***@127.0.0.1:{redis_server.port}/0" in out and PASSWORD not in out
    assert run_cli("cache", "clear") == 0
    out = capsys.readouterr().out
    assert "removed 6 cached responses from redis://:***@" in out and PASSWORD not in out
    assert run_cli("run", project(), "--prompt", "terse") == 0
    assert server.count == 12  # nothing was answered from the cleared cache


def test_unreachable_redis_is_a_clear_error_without_the_password(project, server, monkeypatch, capsys, redis_py):
    url = f"redis://:{PASSWORD}@127.0.0.1:{_free_port()}/0"  # nothing listens there
    monkeypatch.setenv("HARNESS_CACHE_URL", url)
    started = time.monotonic()
    assert run_cli("run", project(), "--prompt", "terse") == 2
    assert time.monotonic() - started < 10
    captured = capsys.readouterr()
    err = captured.err
    assert f"cannot reach the Redis response cache at {url.replace(PASSWORD, '***')} (HARNESS_CACHE_URL)" in err
    assert "hint:" in err and "--no-cache" in err and "Traceback" not in err
    assert PASSWORD not in captured.out + err
    assert server.count == 0  # stopped before any model call
    assert run_cli("cache", "stats") == 2 and PASSWORD not in capsys.readouterr().err


def test_wrong_redis_password_is_a_clear_error(project, server, start_redis, monkeypatch, capsys):
    redis_server = start_redis(password=PASSWORD)
    wrong = redis_server.url.replace(PASSWORD, "not-the-password-42")
    monkeypatch.setenv("HARNESS_CACHE_URL", wrong)
    assert run_cli("run", project(), "--prompt", "terse") == 2
    captured = capsys.readouterr()
    assert "cannot log in to the Redis response cache at redis://:***@127.0.0.1" in captured.err
    assert "not-the-password-42" not in captured.out + captured.err and PASSWORD not in captured.err


def test_redis_py_is_imported_only_for_redis(tmp_path):
    code = ("import sys; from harness.cache import open_cache; import harness.cli, harness.run; "
            "open_cache().close(); assert 'redis' not in sys.modules, 'redis-py was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "HARNESS_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr


def test_missing_redis_py_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "redis", None)  # as if redis-py were not installed
    monkeypatch.setenv("HARNESS_CACHE_URL", f"redis://:{PASSWORD}@127.0.0.1:6379/0")
    assert run_cli("cache", "stats") == 2
    err = capsys.readouterr().err
    assert "needs redis-py" in err and "pip install 'redis>=5'" in err and PASSWORD not in err
