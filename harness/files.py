"""Files on disk: where harness keeps its data between runs, and writes that a crash cannot tear."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where harness keeps data between runs: $HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"
    base.mkdir(parents=True, exist_ok=True)
    return base


def write_atomically(path: Path, text: str) -> Path:
    """Replace ``path`` with ``text`` all at once: a reader (or a crash) never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path
