"""Files on disk: where harness keeps its data, writes a crash cannot tear, JSON Lines any text survives, locks,
and the project a suite may read files from.

JSON Lines are split on "\\n" only. Python's str.splitlines also breaks at U+2028, U+2029, U+0085,
\\x0b, \\x0c and \\x1c-\\x1e, which JSON leaves unescaped inside strings: a model's output holding one of
them would cut its line in two. Lone surrogates (a model's JSON may carry "\\ud800") are written as
JSON escapes, so they round-trip instead of failing to encode.

Locks are OS locks (flock) on a lock file: the system releases them however the holder ends (exit,
crash, kill -9), so a lock is never left stale. A process forked while one is held does not keep it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shlex
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from harness.errors import HarnessError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
LOCK_FILE = ".harness.lock"
# The lock files this process holds, by descriptor: a forked child closes its copies (see _close_inherited_locks).
_held: set[int] = set()


# A folder holding one of these is a project's root (the nearest, from the suite's folder up).
PROJECT_MARKERS = ("pyproject.toml", ".git", "prompts")


def project_root(start: Path) -> Path:
    """The project a suite belongs to: the nearest of its folder and their parents holding a pyproject.toml, a
    .git or a prompts/ folder; else the suite's own folder. Its templates, data and plugins stay inside it."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return start


def confined(path: Path, roots: list[Path], *, what: str, file: Path | str | None = None,
             line: int | None = None) -> Path:
    """``path`` resolved (symlinks followed), if that is inside one of ``roots``; else a HarnessError.

    A suite names its templates, data files and plugins; a path that leaves the project (``../..``, an
    absolute path, a symlink pointing out) could read or run anything on the machine, so it is refused
    unless the suite lists its folder under ``allow_outside:``.
    """
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, a name too long
        raise HarnessError(f"{what} {path}: {exc}", file=file, line=line) from None
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        link = " (through a symbolic link)" if path.resolve(strict=False) != Path(os.path.abspath(path)) else ""
        raise HarnessError(f"{what} {path} leaves the project{link}: it is outside {roots[0]}", file=file, line=line,
                           hint="move it into the project, or list its folder under the suite's allow_outside:")
    return resolved


_BOM = "\ufeff".encode()


def cache_dir() -> Path:
    """Where harness keeps data between runs: $HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        source = "HARNESS_CACHE_DIR" if explicit else "the cache folder"
        raise HarnessError(f"{source} {base} cannot be a folder here: {exc.strerror}",
                           hint="point HARNESS_CACHE_DIR at a folder harness may write") from None
    return base


def write_atomically(path: Path, text: str | Iterable[str]) -> Path:
    """Replace ``path`` with ``text`` all at once: a reader (or a crash) never sees half a file. ``text`` may come
    in pieces (a generator), so a big file is written without ever being whole in memory."""
    pieces = [text] if isinstance(text, str) else text
    return _replace(path, lambda out: out.writelines(printable(piece).encode() for piece in pieces))


def rewrite_lines(path: Path, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Replace ``path`` (atomically) with its lines at these (offset, length) byte spans, in this order: how a
    file of any size is reordered, or rid of lines, without reading it into memory. Each line keeps (or gets)
    its newline. Returns the lines' new spans; nothing is written when the spans already are the file, in order."""
    if _whole(path, spans):
        return list(spans)
    placed: list[tuple[int, int]] = []

    def copy(out: BinaryIO) -> None:
        with path.open("rb") as source:
            for offset, length in spans:
                source.seek(offset)
                line = source.read(length)
                line = line.removeprefix(_BOM) if offset == 0 else line
                line = line if line.endswith(b"\n") else line + b"\n"
                placed.append((out.tell(), len(line)))
                out.write(line)

    _replace(path, copy)
    return placed


def _whole(path: Path, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether the spans are the file's every byte, in order, each line ending in a newline (or, for no file,
    none)."""
    if not path.exists():
        return not spans
    expected = 0
    for offset, length in spans:
        if offset != expected:
            return False
        expected += length
    if expected != path.stat().st_size:
        return False
    if expected == 0:
        return True
    with path.open("rb") as handle:
        handle.seek(expected - 1)
        return handle.read(1) == b"\n"


def _replace(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with temporary.open("wb") as out:
            write(out)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_text(path: Path) -> str:
    """A file people write (a suite, a data file) as text: UTF-8, tolerating the byte-order mark spreadsheets
    write; a byte that is not UTF-8 is an error naming its line."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"cannot read it: {exc.strerror}", file=path) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"not UTF-8 text (byte {exc.start})", file=path, line=data.count(b"\n", 0, exc.start) + 1,
                           hint="save the file as UTF-8") from None


def printable(text: str) -> str:
    """Text as it can be shown or written for people (a report, a summary, a terminal): a lone surrogate,
    which no encoding can hold, becomes U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def json_text(value: Any, *, indent: int | None = None, default: Any = None) -> str:
    """JSON that any text survives: Unicode kept readable, lone surrogates escaped (json.loads restores them).
    Without ``indent``, one JSON Lines record (no newline)."""
    separators = None if indent else (",", ":")
    text = json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, default=default)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


@dataclass
class LinesRead:
    """What reading a JSON Lines file found besides its records: a torn last line (a killed writer) is no error."""

    torn: int = 0
    skipped: list[str] = field(default_factory=list)


class JsonLine(NamedTuple):
    """A record of a JSON Lines file and where it is: its line number, and its bytes' offset and length."""

    number: int
    offset: int
    length: int
    record: Any


def read_json_lines(path: Path, *, tolerate_torn_end: bool = False,
                    seen: LinesRead | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, parsed record) for each non-blank line of ``path``, streamed (see scan_json_lines)."""
    for line in scan_json_lines(path, tolerate_torn_end=tolerate_torn_end, seen=seen):
        yield line.number, line.record


def scan_json_lines(path: Path, *, tolerate_torn_end: bool = False,
                    seen: LinesRead | None = None) -> Iterator[JsonLine]:
    """Each non-blank line of ``path``, parsed, with where it is in the file, streamed.

    A line that is not JSON is a HarnessError naming the file and line, except, with
    ``tolerate_torn_end``, a last line without its newline: what a writer killed mid-line leaves,
    counted in ``seen.torn`` and dropped (the trial it held runs again on --resume). A file that cannot be
    read at all (a folder, no permission) is a HarnessError too.
    """
    try:
        opened = path.open("rb")  # binary lines end at b"\n" only
    except OSError as exc:
        raise HarnessError(f"cannot read it: {exc.strerror or exc}", file=path,
                           hint="it must be a readable file (restore it, or remove it to start over)") from None
    with opened as handle:
        pending: tuple[int, int, bytes] | None = None
        offset = 0
        for number, raw in enumerate(handle, start=1):
            if pending is not None:
                yield JsonLine(pending[0], pending[1], len(pending[2]), _parse(path, pending[0], pending[2]))
            pending = (number, offset, raw) if raw.strip() else None
            offset += len(raw)
        if pending is not None:
            number, offset, raw = pending
            if tolerate_torn_end and not raw.endswith(b"\n"):
                try:
                    record = json.loads(raw)
                except ValueError:
                    if seen is not None:
                        seen.torn += 1
                    return
                yield JsonLine(number, offset, len(raw), record)
                return
            yield JsonLine(number, offset, len(raw), _parse(path, number, raw))


def read_json_at(handle: BinaryIO, offset: int, length: int) -> Any:
    """The JSON record of the line at this byte span of an open file (a span scan_json_lines gave)."""
    handle.seek(offset)
    return json.loads(handle.read(length).decode("utf-8-sig" if offset == 0 else "utf-8"))


def _parse(path: Path, number: int, raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
    except UnicodeDecodeError as exc:
        raise HarnessError(f"not UTF-8 text (byte {exc.start} of the line)", file=path, line=number,
                           hint="save the file as UTF-8") from None
    except ValueError as exc:
        raise HarnessError(f"not a JSON line: {getattr(exc, 'msg', exc)}", file=path, line=number,
                           hint="each line must be one complete JSON value") from None
    except RecursionError:
        raise HarnessError("a JSON value nested too deeply to read", file=path, line=number) from None


@contextlib.contextmanager
def folder_lock(directory: Path) -> Iterator[None]:
    """Hold ``directory`` for this process alone while the block runs; its lock file names the holder (pid, command,
    start time, host). Another process holding it is a HarnessError naming that holder."""
    path = directory / LOCK_FILE
    descriptor = _acquire(path, wait=False)
    if descriptor is None:
        raise HarnessError(f"{directory} is being written by {_holder_of(path)}",
                           hint="wait for that run to end (or stop it); give this one its own --out")
    try:
        os.ftruncate(descriptor, 0)  # a killed holder's file may be left: its words are not this holder's
        os.write(descriptor, json_text(_this_process()).encode())
        yield
    finally:
        _release(path, descriptor)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Wait for, then hold, the lock file ``path`` while the block runs (one process at a time)."""
    descriptor = _acquire(path, wait=True)
    try:
        yield
    finally:
        _release(path, descriptor)


def _acquire(path: Path, *, wait: bool) -> int | None:
    """A descriptor of ``path`` holding its exclusive lock; None, without ``wait``, when another process holds it."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            return None
        if _is_file_at(descriptor, path):
            _held.add(descriptor)
            return descriptor
        os.close(descriptor)  # its holder removed it on release as we opened it: lock the file there now


def _release(path: Path, descriptor: int) -> None:
    """Remove the lock file while still holding it (whoever opened it meanwhile finds it gone), then let go."""
    path.unlink(missing_ok=True)
    _held.discard(descriptor)
    os.close(descriptor)


def _is_file_at(descriptor: int, path: Path) -> bool:
    try:
        found = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (found.st_dev, found.st_ino) == (opened.st_dev, opened.st_ino)


def _this_process() -> dict[str, Any]:
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    name = program.parent.name if program.name == "__main__.py" else program.name  # python -m harness: "harness"
    return {"pid": os.getpid(), "command": shlex.join([name, *sys.argv[1:]])[:300], "host": socket.gethostname(),
            "since": datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")}


def _holder_of(path: Path) -> str:
    """Who holds the lock file ``path``, as its holder wrote it (given a moment to write it, when it just took it)."""
    for _ in range(20):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            holder = json.loads(path.read_text(encoding="utf-8"))
            where = "" if holder["host"] == socket.gethostname() else f" on {holder['host']}"
            return f"pid {holder['pid']}{where} ({holder['command']}) since {holder['since']}"
        time.sleep(0.05)
    return "another process"


def _close_inherited_locks() -> None:
    """In a forked child (a worker): its copies of the parent's lock descriptors would keep the parent's locks held
    after the parent is gone (an OS lock belongs to the open file, shared by every copy). Closing a copy leaves the
    parent's lock as it is."""
    for descriptor in _held:
        os.close(descriptor)
    _held.clear()


os.register_at_fork(after_in_child=_close_inherited_locks)
