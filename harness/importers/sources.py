"""The files an imported config names (``file://`` paths and globs): resolved against the config's folder, kept
inside its folder tree (harness.files.confined), read with harness's own readers, and the missing ones collected so
that one error names them all.

YAML goes through harness.yamlfile (safe, every error located), JSON Lines through harness.files.read_json_lines,
CSV through the csv module (rows as dicts, header names stripped).
"""

from __future__ import annotations

import csv
import glob
import io
import json
from pathlib import Path
from typing import Any

from harness import yamlfile
from harness.errors import HarnessError
from harness.files import confined, read_json_lines, read_text

FILE_PREFIX = "file://"
GLOB_CHARS = set("*?[")


class Sources:
    """Reading the files one config names. ``missing`` collects (reference, file, line) for ``check()``."""

    def __init__(self, config: Path, base: Path | None = None):
        self.config = config
        self.base = (base or config.parent).resolve()
        self.missing: list[tuple[str, str, int | None]] = []

    def path(self, reference: str, *, file: Path | str | None = None, line: int | None = None,
             base: Path | None = None) -> Path | None:
        """The file ``reference`` (with or without file://) names, or None (recorded as missing) if there is none."""
        found = self.paths(reference, file=file, line=line, base=base)
        return found[0] if found else None

    def paths(self, reference: str, *, file: Path | str | None = None, line: int | None = None,
              base: Path | None = None) -> list[Path]:
        """Every file a reference or glob names, sorted; none is recorded as missing. A path that leaves the config's
        folder is a HarnessError."""
        relative = reference.removeprefix(FILE_PREFIX)
        where = file or self.config
        target = (base or self.base) / relative
        self._inside(_fixed_part(target), reference, where, line)
        if GLOB_CHARS & set(relative):
            found = sorted(Path(p) for p in glob.glob(str(target), recursive=True) if Path(p).is_file())
        else:
            found = [target] if target.is_file() else []
        if not found:
            self.missing.append((reference, str(where), line))
        return [self._inside(p, reference, where, line) for p in found]

    def _inside(self, path: Path, reference: str, file: Path | str, line: int | None) -> Path:
        try:
            return confined(path, [self.base], what="path")
        except HarnessError:
            raise HarnessError(f"'{reference}' leaves the config's folder {self.base}", file=file, line=line,
                               hint="an imported config may name files inside its own folder only: copy them "
                                    "there") from None

    def inside(self, path: Path, *, file: Path | str | None = None, line: int | None = None) -> Path:
        """``path`` resolved, if it is inside the folder tree the config may read; else a HarnessError."""
        return self._inside(path, str(path), file or self.config, line)

    def check(self) -> None:
        """A HarnessError naming every missing file, at the first one's line."""
        if not self.missing:
            return
        reference, file, line = self.missing[0]
        listed = ", ".join(dict.fromkeys(f"{r} ({Path(f).name}:{n})" if n else r for r, f, n in self.missing))
        raise HarnessError(f"{len(self.missing)} file(s) it names cannot be found: {listed}", file=file, line=line,
                           hint=f"paths are relative to the config's folder ({self.base})")

    def text(self, path: Path) -> str:
        return read_text(path)

    def data(self, path: Path) -> tuple[Any, Any]:
        """A YAML or JSON file's data and its YAML node tree (None for JSON) for locating errors."""
        text = read_text(path)
        if path.suffix == ".json":
            try:
                return json.loads(text), None
            except ValueError as exc:
                raise HarnessError(f"not JSON: {getattr(exc, 'msg', exc)}", file=path,
                                   line=getattr(exc, "lineno", None)) from None
        return yamlfile.load(text, path, words_as_text=True)  # promptfoo's YAML reader is YAML 1.2

    def json_lines(self, path: Path) -> list[tuple[int, Any]]:
        return list(read_json_lines(path))

    def csv_rows(self, path: Path) -> list[tuple[int, dict[str, str]]]:
        """(line, row) for each row of a CSV file with a header row; header names are stripped."""
        reader = csv.reader(io.StringIO(read_text(path), newline=""), strict=True)
        rows: list[tuple[int, dict[str, str]]] = []
        try:
            header = [name.strip() for name in next(reader, [])]
            for record in reader:
                if not any(cell.strip() for cell in record):
                    continue
                if len(record) != len(header):
                    raise HarnessError(f"row has {len(record)} fields, the header {len(header)}", file=path,
                                       line=reader.line_num, hint="quote values that contain commas")
                rows.append((reader.line_num, dict(zip(header, record, strict=True))))
        except csv.Error as exc:
            raise HarnessError(f"malformed CSV: {exc}", file=path, line=reader.line_num) from None
        return rows


def _fixed_part(path: Path) -> Path:
    """The part of a glob before its first wildcard (the folder every match is under)."""
    parts = []
    for part in path.parts:
        if GLOB_CHARS & set(part):
            break
        parts.append(part)
    return Path(*parts)


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FILE_PREFIX)
