"""The response cache: identical requests are answered from disk, not sent twice.

A key is the SHA-256 of the canonical JSON of
``{"v": 1, "model": <endpoint identity>, "messages": [...], "params": {...}, "repeat": i}``:
the model's public identity (litellm model string and base URL, or the local model's
checksum; never a key), the rendered messages, the request parameters that shape the answer
(temperature, max_tokens, ...), and the repeat index, so each repeat is its own entry.
Only successful responses are stored. SQLite in WAL mode keeps concurrent writers safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness.models import Response

KEY_VERSION = 1


def cache_dir() -> Path:
    """Where harness keeps data between runs: $HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"
    base.mkdir(parents=True, exist_ok=True)
    return base


def cache_key(identity: str, messages: list[dict[str, str]], params: dict[str, Any], repeat: int) -> str:
    payload = {"v": KEY_VERSION, "model": identity, "messages": messages, "params": params, "repeat": repeat}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "responses.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL,"
                         " created REAL NOT NULL)")

    def get(self, key: str) -> Response | None:
        row = self._db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return replace(Response(**json.loads(row[0])), cached=True) if row else None

    def put(self, key: str, response: Response) -> None:
        if response.error is None:
            record = json.dumps(asdict(replace(response, cached=False)))
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, record, time.time()))

    def stats(self) -> dict[str, Any]:
        query = "SELECT COUNT(*), MIN(created), MAX(created) FROM responses"
        entries, oldest, newest = self._db.execute(query).fetchone()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))  # with the WAL files
        return {"path": str(self.path), "entries": entries, "bytes": size, "oldest": oldest, "newest": newest}

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        removed = self._db.execute("DELETE FROM responses").rowcount
        self._db.execute("VACUUM")
        return removed

    def close(self) -> None:
        self._db.close()
