"""promptfoo's ``python`` assertions as checks of harness's python scorer.

- An expression that is plainly a truth value (a comparison, ``in``, ``not``, ``and`` / ``or`` of those, ``any``,
  ``all``, ``isinstance``, ``str.startswith``, ...) reading nothing of promptfoo's context but its vars is kept as
  it is written, as an ``expr`` (``context['vars']`` read as ``vars``).
- Anything else (an expression that returns a number or a GradingResult, or reads more of the context; a function
  body; a file, ``file://check.py`` or ``file://check.py:function``) becomes a function of a checks file written
  beside the suite (``<suite>_checks.py``): it runs the original with promptfoo's ``(output, context)`` and reads
  what it returns as promptfoo does (see harness.importers.promptfoo_checks, which it imports). A body is written
  into the file as the function promptfoo makes of it; a file is loaded from beside the suite, where the import
  copies it (from the config's folder) unless it is there already.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.importers.common import Context, Untranslatable

# Calls whose value is True or False.
_TRUTH_FUNCTIONS = {"any", "all", "bool", "isinstance", "callable", "hasattr"}
_TRUTH_METHODS = {"startswith", "endswith", "isdigit", "isalpha", "isalnum", "isupper", "islower", "isspace",
                  "istitle", "isnumeric", "isdecimal", "isidentifier", "isascii"}
_CONTEXT_VARS = re.compile(r"""context(?:\[\s*(['"])vars\1\s*\]|\.get\(\s*(['"])vars\2\s*(?:,\s*\{\s*\}\s*)?\))""")
_HEADER = '''"""The python assertions of {config}, as checks for harness's python scorer.

Written by `harness import promptfoo`. Each check_N function is one assertion: harness's python scorer calls it
with the names it takes, and it runs the original with promptfoo's (output, context), reading what that returns
as promptfoo does (harness.importers.promptfoo_checks).
"""

import json  # noqa: F401  (promptfoo's assertion bodies may use it, as promptfoo gives it to them)
from pathlib import Path

from harness.importers.promptfoo_checks import check, load  # noqa: F401

HERE = Path(__file__).parent
'''


@dataclass
class ChecksFile:
    """The checks file of one import: its functions, each written once for what it runs, and the check files it
    loads (copied beside the suite: destination name -> source)."""

    name: str
    config: str
    loads: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    functions: dict[tuple[Any, ...], str] = field(default_factory=dict)
    loaded: dict[str, str] = field(default_factory=dict)  # file.py:function -> the name it is loaded as
    copies: dict[str, Path] = field(default_factory=dict)
    taken: set[str] = field(default_factory=lambda: {"check", "load", "json", "Path", "HERE"})

    @classmethod
    def named_after(cls, suite: str, config: Path) -> ChecksFile:
        return cls(re.sub(r"\W+", "_", suite).strip("_") + "_checks.py", config.name)

    def text(self) -> str:
        loads = "".join(self.loads) and "\n" + "".join(self.loads)
        return _HEADER.format(config=self.config) + loads + "".join(self.parts)

    def check(self, call: str, config: Any, threshold: float | None) -> str:
        """The function that runs ``call`` (a function of this file) through promptfoo_checks.check."""
        key = ("check", call, repr(config), threshold)
        if key not in self.functions:
            name = self._fresh("check")
            given = (("config", config), ("threshold", threshold))
            options = "".join(f", {key}={value!r}" for key, value in given if value is not None)
            self.parts.append(f"\n\nasync def {name}(output, case, response):\n"
                              f"    return await check({call}, output, case, response{options})\n")
            self.functions[key] = name
        return f"{self.name}:{self.functions[key]}"

    def body(self, code: str) -> str:
        """The function promptfoo makes of an assertion's code (its lines, or ``return`` and the expression)."""
        key = ("body", code)
        if key not in self.functions:
            name = self._fresh("_assertion")
            self.parts.append(f"\n\n{function_source(name, code)}")
            self.functions[key] = name
        return self.functions[key]

    def load(self, reference: str, source: Path) -> str:
        """The name a check file's function is loaded as (once), the file copied beside the suite."""
        if reference not in self.loaded:
            file, _, function = reference.partition(":")
            name = self._fresh(re.sub(r"\W+", "_", f"{Path(file).stem}_{function}").strip("_"), numbered=False)
            self.loads.append(f"{name} = load({reference!r}, HERE)\n")
            self.loaded[reference] = name
            self.copies[file] = source
        return self.loaded[reference]

    def _fresh(self, base: str, *, numbered: bool = True) -> str:
        """The first of ``base_1``, ``base_2``, ... (``base``, ``base_2``, ... unless ``numbered``) that the file
        does not use yet (and take it)."""
        number = 1
        name = f"{base}_1" if numbered else base
        while name in self.taken:
            number += 1
            name = f"{base}_{number}"
        self.taken.add(name)
        return name


def function_source(name: str, code: str) -> str:
    """``def name(output, context):`` with ``code`` as its body: its lines as they are, or a one-line expression
    returned (as promptfoo runs a python assertion)."""
    body = textwrap.dedent(code).strip("\n") if "\n" in code.strip() else f"return {code.strip()}"
    return f"def {name}(output, context):\n{textwrap.indent(body, '    ')}\n"


def translate(assertion: dict[str, Any], value: Any, ctx: Context) -> dict[str, Any]:
    """A python assertion's scorer: an ``expr``, or a function of the checks file."""
    threshold = assertion.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
        raise Untranslatable(assertion["type"], f"a threshold of {threshold!r}")
    config = assertion.get("config")
    if isinstance(value, str) and value.startswith("file://"):
        call = _file(value.removeprefix("file://"), ctx)
    else:
        code = _code(value)
        expression = _truth_expression(code) if config is None else None
        if expression is not None:
            return {"type": "python", "expr": expression}
        call = ctx.checks.body(code)
    return {"type": "python", "function": ctx.checks.check(call, config, threshold)}


def _code(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
        raise Untranslatable("python", "its value is not code")
    code = str(value)
    try:
        compile(function_source("_assertion", code), "<assertion>", "exec")
    except SyntaxError as exc:
        raise Untranslatable("python (not Python)", f"it does not compile: {exc.msg} (line {exc.lineno})") from None
    return code


def _file(reference: str, ctx: Context) -> str:
    """The loaded function of a check file (of the config's folder) that this reference names."""
    file, _, function = reference.partition(":")
    if not file.endswith(".py"):
        raise Untranslatable("python (file)", "not a Python file")
    path = ctx.sources.path(f"file://{file}", file=ctx.file)
    if path is None:
        return "None"  # missing: Sources.check names it, and the import stops there
    relative = path.relative_to(ctx.sources.base).as_posix()
    return ctx.checks.load(f"{relative}:{function or 'get_assert'}", path)  # promptfoo's default function


def _truth_expression(code: str) -> str | None:
    """``code`` as an expr of harness's python scorer, when it is one expression plainly giving True or False that
    reads of promptfoo's names only ``output`` and the vars; else None."""
    if "\n" in code.strip():
        return None
    code = _CONTEXT_VARS.sub("vars", code.strip())
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return None
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    if names & {"context", "json"} or not _is_truth(tree.body):  # json: promptfoo's is the module, harness's the output
        return None
    return code


def _is_truth(node: ast.expr) -> bool:
    if isinstance(node, ast.Compare) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
        return True
    if isinstance(node, ast.BoolOp):
        return all(_is_truth(value) for value in node.values)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, bool)
    if isinstance(node, ast.Call):
        function = node.func
        return (isinstance(function, ast.Name) and function.id in _TRUTH_FUNCTIONS) or (
            isinstance(function, ast.Attribute) and function.attr in _TRUTH_METHODS)
    return False
