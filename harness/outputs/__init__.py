"""Outputs: what harness makes of a finished run, each a registered plugin.

Built-ins: ``report`` (report.html) and ``summary`` (summary.md), written into every run folder;
``junit`` (JUnit XML, where --junit says); ``console`` (the terminal's summary table). A package
adds its own through the ``harness.outputs`` entry point group; ``harness run --output NAME=PATH``
writes any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import plugins
from harness.errors import HarnessError, did_you_mean

Writer = Callable[[Any, Path], Path | None]


def output(name: str, *, filename: str | None = None, description: str = "") -> Callable[[Writer], Writer]:
    """Register ``write(run, path)`` as the output ``name``; with a ``filename`` it is written into every run folder."""

    def register(write: Writer) -> Writer:
        plugins.OUTPUTS.register(name, plugins.Output(name, write, filename, description or (write.__doc__ or "")),
                                 module=write.__module__)
        return write

    return register


def get(name: str) -> plugins.Output:
    found = plugins.OUTPUTS.get(name)
    if found is None:
        names = plugins.OUTPUTS.names()
        raise HarnessError(f"unknown output '{name}'{did_you_mean(name, names)}", hint="outputs: " + ", ".join(names))
    return found


def write(name: str, run: Any, path: Path | None) -> Path | None:
    """Write output ``name`` of ``run`` to ``path`` (its folders made)."""
    try:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return get(name).write(run, path)
    except OSError as exc:
        raise HarnessError(f"cannot write the {name} output: {exc.strerror}", file=path,
                           hint="the run itself is saved; write it again with harness report") from None
