"""Plugins: the registries of scorers, providers and outputs, and the code a suite brings in.

Built-ins register exactly as a third-party package does: an entry point of the group
``harness.scorers``, ``harness.providers`` or ``harness.outputs`` names a module, and importing
it runs its ``@scorer`` / ``@provider`` / ``@output`` decorators (as pytest11 plugins do). A
group's entry points load on its first lookup, so ``harness --help`` imports none of them, and
every registration remembers the package it came from, for ``harness plugins``.

A suite's own code comes in here too: the files or modules under its ``plugins:`` and a scorer
named ``type: file.py:function`` (or ``module:function``). Suite files are code, trusted like
tests; they are imported by name, never found by scanning.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from harness.errors import HarnessError, did_you_mean
from harness.files import confined

T = TypeVar("T")
GROUP_PREFIX = "harness."


@dataclass(frozen=True)
class Origin:
    """Where a registered plugin came from: an installed package's entry point, or a suite's own file."""

    package: str
    version: str | None = None
    entry_point: str | None = None

    def __str__(self) -> str:
        text = self.package + (f" {self.version}" if self.version else "")
        return text + (f" (entry point {self.entry_point})" if self.entry_point else "")


_loading: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("harness_plugin_origin", default=None)
CALLER = Origin("your code")  # registered outside any entry point: a suite's plugin file, a test, a notebook


@dataclass(frozen=True)
class Registered(Generic[T]):
    name: str
    item: T
    origin: Origin


class Registry(Generic[T]):
    """Named plugins of one kind. Entry points load before the first lookup or registration, so a
    suite's own plugin registered under a built-in's name replaces it rather than being replaced."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Registered[T]] = {}
        self._origins: dict[str, Origin] = {}  # an entry point's module -> its origin
        self._state = "new"  # new -> loading -> loaded

    @property
    def group(self) -> str:
        return GROUP_PREFIX + self.kind

    def register(self, name: str, item: T, *, module: str | None = None) -> T:
        """Register ``item`` (made by code in ``module``, which tells where it came from).

        A suite's own code may not take the name of an installed plugin (harness's built-ins among
        them): the suite would silently stop meaning what its readers think it means.
        """
        self.load()
        origin = _loading.get() or self._origins.get(module or "") or CALLER
        existing = self._items.get(name)
        if existing is not None and existing.origin.entry_point and not origin.entry_point:
            raise HarnessError(f"{origin.package} registers a {self.kind[:-1]} '{name}', which {existing.origin} "
                               "already has", hint="give yours another name")
        self._items[name] = Registered(name, item, origin)
        return item

    def get(self, name: str) -> T | None:
        self.load()
        found = self._items.get(name)
        return found.item if found else None

    def names(self) -> list[str]:
        self.load()
        return sorted(self._items)

    def entries(self) -> list[Registered[T]]:
        self.load()
        return [self._items[name] for name in sorted(self._items)]

    def load(self) -> None:
        if self._state != "new":
            return
        self._state = "loading"
        entry_points = sorted(importlib.metadata.entry_points(group=self.group), key=_builtins_first)
        self._origins = {entry_point.module: _origin(entry_point) for entry_point in entry_points}
        try:
            for entry_point in entry_points:
                origin = self._origins[entry_point.module]
                token = _loading.set(origin)
                try:
                    entry_point.load()
                except Exception as exc:
                    raise HarnessError(f"the {self.kind} plugin '{entry_point.name}' of {origin.package} failed to "
                                       f"load: {type(exc).__name__}: {exc}",
                                       hint=f"fix or uninstall {origin.package} (pip uninstall {origin.package})"
                                       ) from None
                finally:
                    _loading.reset(token)
        finally:
            self._state = "loaded"


def _origin(entry_point: importlib.metadata.EntryPoint) -> Origin:
    dist = getattr(entry_point, "dist", None)
    return Origin(dist.name if dist else entry_point.module, dist.version if dist else None, entry_point.name)


def _builtins_first(entry_point: importlib.metadata.EntryPoint) -> tuple[bool, str]:
    dist = getattr(entry_point, "dist", None)
    return (dist is None or dist.name != "harness", entry_point.name)


@contextlib.contextmanager
def registering_as(origin: Origin) -> Iterator[None]:
    """Attribute registrations made inside the block to ``origin`` (a suite's plugin file)."""
    token = _loading.set(origin)
    try:
        yield
    finally:
        _loading.reset(token)


# --- a suite's own code -------------------------------------------------------------------------

def import_code(target: str, *, base: Path, file: Path | str | None = None, line: int | None = None) -> Any:
    """Import a suite's Python file (``x.py``, relative to ``base``) or module; errors name the suite line, or
    the plugin's own line where its code failed. A plugin calling sys.exit cannot end harness."""
    if not target.endswith(".py"):
        try:
            with registering_as(Origin(target)):
                return importlib.import_module(target)
        except ImportError as exc:
            raise HarnessError(f"cannot import plugin module '{target}': {exc}", file=file, line=line) from None
    path = (base / target).resolve()
    if not path.is_file():
        raise HarnessError(f"plugin file not found: {path}", file=file, line=line)
    module_name = f"harness_plugin_{path.stem}_{abs(hash(str(path)))}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    try:
        with registering_as(Origin(str(path))):
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise HarnessError(f"syntax error in plugin: {exc.msg}", file=path, line=exc.lineno) from None
    except HarnessError:
        raise
    except (Exception, SystemExit) as exc:
        what = f"called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        raise HarnessError(f"plugin failed to import: {what}", file=path, line=line_in(exc, path),
                           hint="a plugin is imported when the suite loads: it must only define things") from None
    sys.modules[module_name] = module
    return module


def line_in(exc: BaseException, path: Path) -> int | None:
    """The last line of ``path`` on the exception's traceback: where the plugin's own code failed."""
    line, tb = None, exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def import_function(target: str, *, base: Path, file: Path | str | None = None, line: int | None = None,
                    roots: list[Path] | None = None, what: str = "file") -> Callable[..., Any]:
    """``file.py:function`` or ``module:function``; with ``roots``, a file must be inside one of them (a suite's
    project: see harness.files.confined), ``what`` naming it in the error."""
    where, _, name = target.rpartition(":")
    if roots is not None and where.endswith(".py"):
        confined(base / where, roots, what=f"{what} '{where}'", file=file, line=line)
    module = import_code(where, base=base, file=file, line=line)
    fn = getattr(module, name, None)
    if not callable(fn):
        functions = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise HarnessError(f"'{where}' has no function '{name}'{did_you_mean(name, functions)}", file=file,
                           line=line)
    return fn


# --- the three registries -------------------------------------------------------------------------
# A scorer's and a provider's records are defined beside the decorator that makes them (harness.scorers,
# harness.providers); an output's here, since a run writes the outputs while they sit above it.

@dataclass(frozen=True)
class Output:
    """A registered output: ``write(run, path)`` writes what it makes of a finished run (a harness.results.Run)
    to ``path`` and returns where it wrote. One with a ``filename`` is written into every run folder."""

    name: str
    write: Callable[[Any, Path], Path | None]
    filename: str | None = None
    description: str = ""


SCORERS: Registry[Any] = Registry("scorers")
PROVIDERS: Registry[Any] = Registry("providers")
OUTPUTS: Registry[Any] = Registry("outputs")
REGISTRIES = (SCORERS, PROVIDERS, OUTPUTS)


def installed() -> list[tuple[str, Registered[Any]]]:
    """Every registered plugin as (kind, entry), for ``harness plugins``: built-ins and installed packages'."""
    return [(registry.kind, entry) for registry in REGISTRIES for entry in registry.entries()]
