"""Importers: another tool's evals as a harness suite, in one command (``harness import TOOL CONFIG``).

Each importer reads its tool's config and the files it names, and returns an Imported: the suite as data, with
whatever could not be translated kept as comments holding the original, and a tally of what was translated.
``write`` puts it in a file, never over one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.errors import HarnessError
from harness.files import read_text, write_atomically
from harness.importers import openai_evals, promptfoo, yamlout
from harness.importers.common import Imported

IMPORTERS: dict[str, Callable[[Path], Imported]] = {
    "promptfoo": promptfoo.import_config,
    "openai-evals": openai_evals.import_registry,
}


def import_file(tool: str, path: Path) -> Imported:
    """``path`` (a config of ``tool``) as a harness suite; HarnessError on a file that is not one."""
    if tool not in IMPORTERS:
        raise HarnessError(f"no importer for '{tool}'", hint="importers: " + ", ".join(IMPORTERS))
    return IMPORTERS[tool](Path(path))


def default_out(imported: Imported) -> Path:
    """Where a suite goes unless told: beside the config, named after it (promptfooconfig.harness.yaml)."""
    return imported.source.with_name(imported.source.stem + ".harness.yaml")


def render(imported: Imported) -> str:
    """The suite's YAML text, with a header saying where it came from and how much of it was translated."""
    tally = imported.tally
    header = [f"harness suite imported from {imported.source.name} by `harness import {imported.tool}`",
              f"assertions translated: {sum(tally.translated.values())} of {sum(tally.total.values())}; "
              "what was not is kept below as comments, with the original"]
    return yamlout.dump(imported.suite, header)


def write(imported: Imported, out: Path, *, force: bool = False) -> Path:
    """Write the suite to ``out`` (never over an existing file unless ``force``)."""
    out = Path(out)
    if out.exists() and not force:
        raise HarnessError(f"{out} exists already", hint="pass --force to replace it, or --out another file")
    if out.is_dir():
        raise HarnessError(f"{out} is a folder", hint="give --out a file name such as suite.yaml")
    if not out.parent.is_dir():
        raise HarnessError(f"no folder {out.parent} to write {out.name} in")
    companions = {out.parent / name: text for name, text in imported.files.items()}
    companions.update(_copies(imported, out.parent))
    for path in companions:
        if path.exists() and not force:
            raise HarnessError(f"{path} exists already (the suite names it)", hint="pass --force to replace it")
    for path, text in companions.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    return write_atomically(out, render(imported))


def _copies(imported: Imported, folder: Path) -> dict[Path, str]:
    """The files to copy beside the suite, with their text: not those that are there already (the suite written in
    the config's own folder names the originals)."""
    found = {}
    for name, source in imported.copies.items():
        target = folder / name
        text = read_text(source)
        if target.resolve() != source.resolve() and not (target.is_file() and read_text(target) == text):
            found[target] = text
    return found
