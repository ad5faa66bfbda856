"""Prompts: Jinja templates rendered, in a sandbox, into chat messages.

One file holds a whole chat prompt: the body is the user message and an optional
``{% block system %}...{% endblock %}`` is the system message. Templates are data a suite points
at, not code: they render in Jinja's SandboxedEnvironment (no Python internals, no huge ranges),
with a cap on what one render may produce and how long it may take, and may include only files
inside the project. StrictUndefined makes a missing variable an error naming the template, its
line and the case, instead of an empty string silently sent to a paid model.
"""

from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.debug import rewrite_traceback_stack
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from harness.errors import HarnessError, did_you_mean
from harness.files import confined, printable, project_root

if TYPE_CHECKING:
    from harness.spec import PromptSpec, Suite

Message = dict[str, str]
SYSTEM_BLOCK = "system"
MAX_RENDERED_CHARS = 1_000_000  # one prompt; a model's context is far smaller
MAX_RENDER_S = 5.0
# The harness's own templates (the judges'), shipped inside the package; a project's prompts/ folder
# comes first, so a file of the same name there overrides one of these.
BUNDLED_TEMPLATES = Path(__file__).resolve().parent / "templates"


class Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, and no product that would not fit in memory ('x' * 10**10, 9 ** 10**9)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*" and isinstance(right, int) and isinstance(left, str | list | tuple):
            left, right = right, left
        if operator == "*" and isinstance(left, int) and isinstance(right, str | list | tuple):
            if left * len(right) > MAX_RENDERED_CHARS:
                raise SecurityError(f"a repetition of {left:,} would be larger than {MAX_RENDERED_CHARS:,}")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 1000:
            raise SecurityError(f"a power of {right} is too large to compute")
        return super().call_binop(context, operator, left, right)


class ConfinedLoader(jinja2.FileSystemLoader):
    """Includes and extends load only files inside the allowed folders (a symlink pointing out is refused)."""

    def __init__(self, searchpath: list[Path], allowed: list[Path]):
        super().__init__([str(p) for p in searchpath])
        self.allowed = allowed

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        confined(Path(filename), self.allowed, what=f"template '{template}'")
        return source, filename, uptodate


@dataclass(frozen=True)
class Compiled:
    """A compiled template and where it came from: its frames are named ``file``, and a template written inline in
    a suite starts at line ``line_offset`` + 1 of it."""

    template: jinja2.Template
    file: str
    line_offset: int = 0


def allowed_roots(suite: Suite) -> list[Path]:
    """Where a suite may read files: its project, and the folders it lists under allow_outside."""
    return [project_root(suite.directory), *((suite.directory / p).resolve() for p in suite.allow_outside)]


def _search_roots(suite_dir: Path, allowed: list[Path]) -> list[Path]:
    """The suite's folder, then a prompts/ folder of it or any parent up to the project's root, then ./prompts."""
    suite_dir = suite_dir.resolve()
    root = allowed[0]
    parents = [d for d in (suite_dir, *suite_dir.parents) if d.is_relative_to(root)]
    roots = [suite_dir] + [d / "prompts" for d in parents] + [Path.cwd() / "prompts"]
    return list(dict.fromkeys(r for r in roots if r.is_dir() and any(r.resolve().is_relative_to(a) for a in allowed)))


def locate_template(spec: PromptSpec, suite: Suite, *, line: int | None = None, what: str = "template") -> Path | None:
    """The template file for ``spec`` (None for inline text), inside the project.

    Looked up beside the suite, then in a ``prompts/`` folder of the suite's folder or any
    parent, then in ``./prompts``: so ``suites/x.yaml`` finds ``prompts/task/v1.j2`` from
    anywhere in the project.
    """
    if spec.template is None:
        return None
    allowed = allowed_roots(suite)
    roots = _search_roots(suite.directory, allowed)
    for root in roots:
        candidate = root / spec.template
        try:
            found = candidate.is_file()
        except OSError as exc:  # a name longer than the system allows
            raise HarnessError(f"{what} '{spec.template}' of prompt '{spec.id}': {exc.strerror}", file=suite.path,
                               line=line) from None
        if found:
            return confined(candidate, allowed, what=f"{what} '{spec.template}' of prompt '{spec.id}'",
                            file=suite.path, line=line)
    raise HarnessError(f"{what} '{spec.template}' of prompt '{spec.id}' not found", file=suite.path, line=line,
                       hint="looked in: " + ", ".join(str(r) for r in roots))


def judge_template_roots(directory: Path) -> tuple[Path, ...]:
    """Where judge templates are looked up, first match wins: the project's prompt folders, then ours."""
    allowed = [project_root(directory)]
    return tuple(dict.fromkeys([*_search_roots(directory, allowed), BUNDLED_TEMPLATES]))


def judge_template(name: str, directory: Path) -> jinja2.Template:
    """A judge template such as ``judges/factuality.j2``: the project's own copy if it has one, else ours."""
    roots = judge_template_roots(directory)
    try:
        return _environment(roots, (*roots[:-1], BUNDLED_TEMPLATES, project_root(directory))).get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise HarnessError(f"judge template '{exc.name}' not found",
                           hint="looked in: " + ", ".join(str(r) for r in roots)) from None
    except jinja2.TemplateSyntaxError as exc:
        raise HarnessError(f"template syntax error: {exc.message}", file=exc.filename, line=exc.lineno) from None


@lru_cache(maxsize=16)
def _environment(roots: tuple[Path, ...], allowed: tuple[Path, ...]) -> Sandbox:
    return Sandbox(loader=ConfinedLoader(list(roots), list(allowed)), undefined=jinja2.StrictUndefined,
                   keep_trailing_newline=False, autoescape=False)


def environment(suite: Suite) -> Sandbox:
    """The sandbox a suite's templates render in: includes found in its prompt folders, inside the project."""
    allowed = allowed_roots(suite)
    return _environment(tuple(_search_roots(suite.directory, allowed)), tuple(allowed))


def compile_template(env: jinja2.Environment, source: str, *, file: str, line_offset: int = 0,
                     name: str = "template") -> Compiled:
    """Parse a template once; a syntax error names the file and line (in the suite, for an inline one)."""
    try:
        code = env.compile(source, name=name, filename=file)
    except jinja2.TemplateSyntaxError as exc:
        raise HarnessError(f"template syntax error: {exc.message}", file=file,
                           line=(exc.lineno or 1) + line_offset) from None
    return Compiled(env.template_class.from_code(env, code, env.make_globals(None)), file, line_offset)


def read_template(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HarnessError(f"template is not UTF-8 text (byte {exc.start})", file=path,
                           hint="save it as UTF-8") from None


def render_text(compiled: Compiled, variables: dict, *, what: str) -> str:
    """A whole template rendered (stripped; a lone surrogate as U+FFFD); errors name the template line and ``what``."""
    return printable(_rendered(compiled, variables, what, lambda t: t.root_render_func(t.new_context(variables)))
                     .strip())


def render_messages(template: jinja2.Template | Compiled, variables: dict, *, source: str = "", what: str,
                    line_offset: int = 0, system_only: bool = False) -> list[Message]:
    """A template's chat messages: an optional ``{% block system %}`` is the system message, the rest the user's
    (not rendered with ``system_only``: a case bringing its own user message needs none of the body's vars)."""
    compiled = template if isinstance(template, Compiled) else Compiled(template, source, line_offset)
    tpl = compiled.template
    system = ""
    if SYSTEM_BLOCK in tpl.blocks:
        system = _rendered(compiled, variables, what, lambda t: t.blocks[SYSTEM_BLOCK](t.new_context(variables)))

    def body(t: jinja2.Template) -> Iterable[str]:  # with the system block blanked, not repeated in the user's
        context = t.new_context(variables)
        context.blocks[SYSTEM_BLOCK] = [lambda _ctx: iter(())]
        return t.root_render_func(context)

    # A lone surrogate (from a JSON data file) cannot be sent in any request: it goes as U+FFFD.
    system = printable(system.strip())
    messages = [{"role": "system", "content": system}] if system else []
    if system_only:
        return messages
    user = printable(_rendered(compiled, variables, what, body).strip())
    if not user:
        raise HarnessError(f"{what}: the template renders an empty user message", file=compiled.file)
    messages.append({"role": "user", "content": user})
    return messages


def _rendered(compiled: Compiled, variables: dict, what: str,
              chunks: Callable[[jinja2.Template], Iterable[str]]) -> str:
    try:
        with _time_limit():
            return _text(chunks(compiled.template))
    except Exception as exc:  # anything a template does wrong is the template's problem, located
        line = _template_line(exc, compiled.template)
        raise _template_error(exc, variables, source=compiled.file, what=what,
                              line=line + compiled.line_offset if line is not None else None) from None


class _TooLong(Exception):
    pass


def _text(chunks: Iterable[str]) -> str:
    parts, size, deadline = [], 0, time.monotonic() + MAX_RENDER_S
    for chunk in chunks:
        size += len(chunk)
        parts.append(chunk)
        if size > MAX_RENDERED_CHARS:
            raise _TooLong(f"it renders more than {MAX_RENDERED_CHARS:,} characters")
        if time.monotonic() > deadline:
            raise _TooLong(f"it took more than {MAX_RENDER_S:.0f} s to render")
    return "".join(parts)


@contextlib.contextmanager
def _time_limit() -> Iterator[None]:
    """A render that produces nothing for too long (a loop of loops) is stopped by an alarm, on the main thread."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGALRM) not in (
            signal.SIG_DFL, signal.SIG_IGN, None):
        yield
        return

    def stop(_signum: int, _frame: Any) -> None:
        raise _TooLong(f"it took more than {MAX_RENDER_S:.0f} s to render")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, MAX_RENDER_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _template_error(exc: Exception, variables: dict, *, source: str, what: str, line: int | None) -> HarnessError:
    if isinstance(exc, jinja2.UndefinedError):
        name = _undefined_name(str(exc))
        if name in variables or "has no attribute" in str(exc):
            return HarnessError(f"{what}: template error: {exc}", file=source, line=line)
        return HarnessError(f"{what}: template variable '{name}' is undefined{did_you_mean(name, variables)}",
                            file=source, line=line, hint=f"the case has: {', '.join(sorted(variables)) or 'none'}")
    if isinstance(exc, SecurityError):
        return HarnessError(f"{what}: the template tried something the sandbox does not allow: {exc}", file=source,
                            line=line, hint="a template may use the case's vars and Jinja's filters, "
                                            "not Python internals")
    if isinstance(exc, jinja2.TemplateNotFound):
        return HarnessError(f"{what}: the template includes '{exc.name}', which is not found", file=source, line=line)
    problem = {RecursionError: "it recursed too deeply (a macro calling itself?)",
               MemoryError: "it needs more memory than there is"}.get(type(exc))
    text = str(exc) if isinstance(exc, _TooLong | HarnessError) else problem or f"{type(exc).__name__}: {exc}"
    return HarnessError(f"{what}: template error: {text}", file=source, line=line)


def _template_line(exc: BaseException, template: jinja2.Template) -> int | None:
    """The template line the exception being handled was raised at, from Jinja's rewritten traceback."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line, tb = None, rewrite_traceback_stack(source=None).__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == template.filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _undefined_name(message: str) -> str:
    match = re.search(r"'([^']+)' is undefined", message) or re.search(r"has no attribute '([^']+)'", message)
    return match.group(1) if match else message
