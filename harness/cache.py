"""The response cache: identical requests are answered from the cache, not sent twice.

A key is the SHA-256 of the canonical JSON of
``{"v": 1, "model": <endpoint identity>, "messages": [...], "params": {...}, "repeat": i}``:
the model's public identity (litellm model string and base URL, the local model's checksum, an
http: model's method, URL and headers without credentials, a python: model's function and its
file's digest; never a key), the rendered messages, the request parameters that shape the answer
(temperature, max_tokens, ...), and the repeat index, so each repeat is its own entry; for an
http: model also its rendered request body (``"request"``).
Only successful responses are stored.

Two stores behind one interface (get/put/stats/clear/close); ``open_cache`` picks one:

- ``ResponseCache``: SQLite on disk (``$HARNESS_CACHE_DIR/responses.sqlite``), in WAL mode so
  concurrent writers are safe. The default.
- ``RedisCache``: a Redis server shared by many machines (CI runners), chosen by a
  ``redis://`` or ``rediss://`` URL in ``$HARNESS_CACHE_URL`` (or given as the path). Each
  entry is the key ``harness:response:<sha256>`` holding the same JSON record; stats and
  clear touch only that namespace, so the database can be shared with other applications.
  redis-py (the ``redis`` extra) is imported only when Redis is used, and a password in the
  URL is masked in everything harness prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from harness.errors import HarnessError
from harness.files import cache_dir, locked
from harness.records import Response
from harness.redaction import mask_url, url_secrets

KEY_VERSION = 1
CACHE_URL_ENV = "HARNESS_CACHE_URL"
REDIS_SCHEMES = ("redis://", "rediss://")
REDIS_NAMESPACE = "harness:response:"
BUSY_TIMEOUT_S = 30  # how long a statement waits for another process's write to end
# What SQLite says of a file that is not (or no longer) a cache database: it is moved aside and started anew.
UNUSABLE = ("file is not a database", "database disk image is malformed", "no such table: responses")


def cache_key(identity: str, messages: list[dict[str, str]], params: dict[str, Any], repeat: int,
              request: Any = None) -> str:
    """``request``: what else reaches the model (an http: model's rendered body; see providers.request_of)."""
    payload = {"v": KEY_VERSION, "model": identity, "messages": messages, "params": params, "repeat": repeat}
    if request is not None:  # only then: the keys of every other model stay what they were
        payload["request"] = request
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()  # any text has a key


def _encode(response: Response) -> str:
    """The stored record of a response (the same JSON in SQLite and Redis)."""
    return json.dumps(asdict(replace(response, cached=False)))


def _decode(record: str | bytes) -> Response:
    return replace(_RESPONSE.validate_json(record), cached=True, queue_ms=0.0)  # no queue for an answer on hand


_RESPONSE = TypeAdapter(Response)


class ResponseCache:
    """The response cache in SQLite, safe for any number of processes at once (workers, parallel runs): a new
    database is created whole, then shared in WAL mode with a busy timeout. A file that is not (or is no
    longer) a cache database is moved aside with a warning, and a new one takes its place."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "responses.sqlite"
        self._db: sqlite3.Connection | None = None
        self._file: tuple[int, int] | None = None  # the database file the connection opened (device, inode)
        self._execute("SELECT 1 FROM responses LIMIT 1")  # a corrupt cache is found now, before any model call

    def _execute(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        """Run one statement; on a database found unusable, once more on a new one."""
        for may_retry in (True, False):
            try:
                if self._db is None:
                    self._file = _identity(self.path)
                    self._db = _connect(self.path)
                return self._db.execute(sql, parameters)
            except sqlite3.DatabaseError as exc:
                if not (may_retry and any(sign in str(exc) for sign in UNUSABLE)):
                    raise HarnessError(f"cannot use the response cache: {exc}", file=self.path,
                                       hint="check the folder's permissions and free space, or run with --no-cache"
                                       ) from None
                self.close()
                _move_aside(self.path, self._file, str(exc))

    def get(self, key: str) -> Response | None:
        row = self._execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return _decode(row[0]) if row else None

    def put(self, key: str, response: Response) -> None:
        if response.error is None:
            self._execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, _encode(response), time.time()))

    def stats(self) -> dict[str, Any]:
        query = "SELECT COUNT(*), MIN(created), MAX(created) FROM responses"
        entries, oldest, newest = self._execute(query).fetchone()
        size = sum(path.stat().st_size for path in _database_files(self.path) if path.exists())
        return {"path": str(self.path), "entries": entries, "bytes": size, "oldest": oldest, "newest": newest}

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        removed = self._execute("DELETE FROM responses").rowcount
        self._execute("VACUUM")
        return removed

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _connect(path: Path) -> sqlite3.Connection:
    if not path.exists():
        _create(path)
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        db.close()
        raise
    return db


def _create(path: Path) -> None:
    """A new cache database, built under a temporary name and linked into place whole: two processes setting one
    up in place at once failed with "database is locked". If another process links its own first, it is used."""
    temporary = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    try:
        db = sqlite3.connect(temporary, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")  # kept in the file: every connection to it uses WAL
            db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, response TEXT NOT NULL, created REAL NOT NULL)")
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)  # never replaces: a rename could put this one over a database already in use
    finally:
        temporary.unlink(missing_ok=True)


def _move_aside(path: Path, found: tuple[int, int] | None, reason: str) -> None:
    """Move the unusable database ``found`` at ``path`` aside (with its WAL files), unless another process did."""
    with locked(path.with_name(f"{path.name}.recovering")):
        if found is None or _identity(path) != found:
            return
        aside = path.with_name(f"{path.name}.corrupt-{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}")
        for source, target in reversed(list(zip(_database_files(path), _database_files(aside), strict=True))):
            with contextlib.suppress(FileNotFoundError):
                os.replace(source, target)
    print(f"harness: warning: the response cache {path} could not be read ({reason}); moved it to {aside} "
          "and started a new one", file=sys.stderr)


def _database_files(path: Path) -> list[Path]:
    """The database and its WAL files (the main file first)."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


def is_redis_url(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(REDIS_SCHEMES)


class RedisCache:
    """The response cache in Redis, shared by every machine that points at the same server."""

    def __init__(self, url: str, *, source: str | None = None, namespace: str = REDIS_NAMESPACE):
        self.url = url.strip()
        self.path = mask_url(self.url)  # where the entries are, for messages (never the password)
        self.namespace = namespace
        self._source = source or "the cache URL"
        try:
            import redis  # only here: a run that uses SQLite never pays for the import
        except ImportError:
            raise HarnessError(f"the Redis response cache at {self.path} ({self._source}) needs redis-py",
                               hint="pip install 'redis>=5' (the [redis] extra), or unset it to use the local "
                               "SQLite cache") from None
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError, ValueError)
        self._client = None
        try:
            self._client = redis.Redis.from_url(self.url, socket_connect_timeout=5, socket_timeout=30)
            self._client.ping()
        except self._errors as exc:
            self.close()
            refused = isinstance(exc, redis.AuthenticationError) or "auth" in str(exc).lower()
            raise self._error("cannot log in to" if refused else "cannot reach", exc,
                              f"start Redis there or correct {self._source} (and its password); unset it to use "
                              "the local SQLite cache, or run with --no-cache") from None

    def _error(self, what: str, exc: BaseException, hint: str) -> HarnessError:
        detail = str(exc) or type(exc).__name__
        for secret in url_secrets(self.url):
            detail = detail.replace(secret, "***")
        return HarnessError(f"{what} the Redis response cache at {self.path} ({self._source}): {detail}", hint=hint)

    def _lost(self, exc: BaseException) -> HarnessError:
        return self._error("lost", exc, "a run keeps the results it recorded: complete it with harness run "
                           "--resume RUN_DIR once Redis is back (or with --no-cache)")

    def _key_batches(self) -> Iterator[list[bytes]]:
        """The namespace's keys, a thousand at a time (SCAN: never blocks the server like KEYS)."""
        batch: list[bytes] = []
        for name in self._client.scan_iter(match=self.namespace + "*", count=1000):
            batch.append(name)
            if len(batch) == 1000:
                yield batch
                batch = []
        if batch:
            yield batch

    def get(self, key: str) -> Response | None:
        try:
            record = self._client.get(self.namespace + key)
        except self._errors as exc:
            raise self._lost(exc) from None
        return _decode(record) if record else None

    def put(self, key: str, response: Response) -> None:
        if response.error is None:
            try:
                self._client.set(self.namespace + key, _encode(response))
            except self._errors as exc:
                raise self._lost(exc) from None

    def stats(self) -> dict[str, Any]:
        """Entries counted by SCAN over the namespace (not DBSIZE: other applications may share the database);
        bytes are the stored records' length. Redis keeps no creation time, so oldest and newest are None."""
        entries = size = 0
        try:
            for batch in self._key_batches():
                pipe = self._client.pipeline(transaction=False)
                for name in batch:
                    pipe.strlen(name)
                size += sum(pipe.execute())
                entries += len(batch)
        except self._errors as exc:
            raise self._lost(exc) from None
        return {"path": self.path, "entries": entries, "bytes": size, "oldest": None, "newest": None}

    def clear(self) -> int:
        """Remove every entry of the namespace (nothing else in the database); returns how many there were."""
        removed = 0
        try:
            for batch in self._key_batches():
                removed += self._client.delete(*batch)
        except self._errors as exc:
            raise self._lost(exc) from None
        return removed

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def open_cache(path_or_url: str | Path | None = None) -> Cache:
    """The cache to use: a redis:// or rediss:// URL gives a RedisCache, any other path the SQLite cache there.

    With no argument, $HARNESS_CACHE_URL decides (a Redis URL; unset or empty means SQLite under
    cache_dir()). A Redis server that cannot be reached is a HarnessError naming the (masked) URL.
    """
    if path_or_url is None:
        url = os.environ.get(CACHE_URL_ENV, "").strip()
        if not url:
            return ResponseCache()
        if not is_redis_url(url):
            raise HarnessError(f"{CACHE_URL_ENV} must be a redis:// or rediss:// URL, not '{mask_url(url)}'",
                               hint=f"e.g. {CACHE_URL_ENV}=redis://cache.internal:6379/0; unset it to use the "
                               "local SQLite cache")
        return RedisCache(url, source=CACHE_URL_ENV)
    if is_redis_url(path_or_url):
        return RedisCache(str(path_or_url))
    return ResponseCache(Path(path_or_url))


Cache = ResponseCache | RedisCache
