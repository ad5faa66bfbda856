"""Files on disk: where harness keeps its data, writes a crash cannot tear, and JSON Lines any text survives.

JSON Lines are split on "\\n" only. Python's str.splitlines also breaks at U+2028, U+2029, U+0085,
\\x0b, \\x0c and \\x1c-\\x1e, which JSON leaves unescaped inside strings: a model's output holding one of
them would cut its line in two. Lone surrogates (a model's JSON may carry "\\ud800") are written as
JSON escapes, so they round-trip instead of failing to encode.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from harness.errors import HarnessError

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_BOM = "\ufeff".encode()


def cache_dir() -> Path:
    """Where harness keeps data between runs: $HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/harness."""
    explicit = os.environ.get("HARNESS_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness"
    base.mkdir(parents=True, exist_ok=True)
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
    counted in ``seen.torn`` and dropped (the trial it held runs again on --resume).
    """
    with path.open("rb") as handle:  # binary lines end at b"\n" only
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
