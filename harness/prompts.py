"""Prompts: Jinja templates rendered into chat messages.

One file holds a whole chat prompt: the body is the user message and an optional
``{% block system %}...{% endblock %}`` is the system message. StrictUndefined makes a
missing variable an error that names the template, the case and the variable, instead of
an empty string silently sent to a paid model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.spec import Case, PromptSpec, Suite

Message = dict[str, str]
SYSTEM_BLOCK = "system"


@dataclass(frozen=True)
class Prompt:
    id: str
    source: str
    template: jinja2.Template


def locate_template(spec: PromptSpec, suite: Suite, *, line: int | None = None) -> Path | None:
    """The template file for ``spec`` (None for inline text).

    Looked up beside the suite, then in a ``prompts/`` folder of the suite's folder or any
    parent, then in ``./prompts``: so ``suites/x.yaml`` finds ``prompts/task/v1.j2`` from
    anywhere in the project.
    """
    if spec.template is None:
        return None
    for root in _search_roots(suite.directory):
        candidate = root / spec.template
        if candidate.is_file():
            return candidate
    raise HarnessError(f"template '{spec.template}' of prompt '{spec.id}' not found", file=suite.path, line=line,
                       hint="looked in: " + ", ".join(str(r) for r in _search_roots(suite.directory)))


def _search_roots(suite_dir: Path) -> list[Path]:
    suite_dir = suite_dir.resolve()
    roots = [suite_dir] + [d / "prompts" for d in (suite_dir, *suite_dir.parents)] + [Path.cwd() / "prompts"]
    return list(dict.fromkeys(r for r in roots if r.is_dir()))


# The harness's own templates (the judges'), shipped inside the package; a project's prompts/ folder
# comes first, so a file of the same name there overrides one of these.
BUNDLED_TEMPLATES = Path(__file__).resolve().parent / "templates"


def judge_template_roots(directory: Path) -> tuple[Path, ...]:
    """Where judge templates are looked up, first match wins: the project's prompt folders, then ours."""
    return tuple(dict.fromkeys([*_search_roots(directory), BUNDLED_TEMPLATES]))


def judge_template(name: str, directory: Path) -> jinja2.Template:
    """A judge template such as ``judges/factuality.j2``: the project's own copy if it has one, else ours."""
    roots = judge_template_roots(directory)
    try:
        return _environment(roots).get_template(name)
    except jinja2.TemplateNotFound as exc:
        raise HarnessError(f"judge template '{exc.name}' not found",
                           hint="looked in: " + ", ".join(str(r) for r in roots)) from None
    except jinja2.TemplateSyntaxError as exc:
        raise HarnessError(f"template syntax error: {exc.message}", file=exc.filename, line=exc.lineno) from None


@lru_cache(maxsize=16)
def _environment(roots: tuple[Path, ...]) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(list(roots)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=False, autoescape=False)


def compile_prompts(suite: Suite) -> dict[str, Prompt]:
    """Parse every prompt of the suite once; syntax errors name the template file and line."""
    env = _environment(tuple(_search_roots(suite.directory)))
    compiled = {}
    for spec in suite.prompts:
        path = locate_template(spec, suite)
        source = str(path) if path else f"{suite.path}: prompt '{spec.id}'"
        try:
            template = env.from_string(path.read_text(encoding="utf-8") if path else spec.text or "")
        except jinja2.TemplateSyntaxError as exc:
            raise HarnessError(f"template syntax error: {exc.message}", file=path or suite.path,
                               line=exc.lineno if path else None) from None
        compiled[spec.id] = Prompt(id=spec.id, source=source, template=template)
    return compiled


def render(prompt: Prompt, case: Case) -> list[Message]:
    """The chat messages for one case: [system?, user]."""
    variables = {**case.vars, "expected": case.expected, "case_id": case.id}
    return render_messages(prompt.template, variables, source=prompt.source, what=f"case '{case.id}'")


def render_messages(template: jinja2.Template, variables: dict, *, source: str, what: str) -> list[Message]:
    """A template's chat messages for these variables; ``what`` names the case in errors."""
    try:
        context = template.new_context(variables)
        system = ""
        if SYSTEM_BLOCK in template.blocks:
            system = "".join(template.blocks[SYSTEM_BLOCK](context))
            # Render the body with the system block blanked, so it is not repeated in the user message.
            context = template.new_context(variables)
            context.blocks[SYSTEM_BLOCK] = [lambda _ctx: iter(())]
        user = "".join(template.root_render_func(context))
    except jinja2.UndefinedError as exc:
        name = _undefined_name(str(exc))
        available = ", ".join(sorted(variables)) or "none"
        raise HarnessError(f"{what}: template variable '{name}' is undefined", file=source,
                           hint=f"the case has: {available}") from None
    except jinja2.TemplateError as exc:
        raise HarnessError(f"{what}: template error: {exc}", file=source) from None
    messages = [{"role": "system", "content": system.strip()}] if system.strip() else []
    if not user.strip():
        raise HarnessError(f"{what}: the template renders an empty user message", file=source)
    messages.append({"role": "user", "content": user.strip()})
    return messages


def _undefined_name(message: str) -> str:
    match = re.search(r"'([^']+)' is undefined", message) or re.search(r"has no attribute '([^']+)'", message)
    return match.group(1) if match else message
