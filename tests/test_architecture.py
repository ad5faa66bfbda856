"""The package's shape, enforced: layers import downward only, no import circles, small modules and functions.

harness/ is layered (see docs/architecture.md). A module may import from its own layer or the
layers below, never above; within a layer, imports must not go round in a circle. Imports under
``if TYPE_CHECKING:`` are for type checkers only and are not counted. Imports made by name at run
time (entry points, a suite's plugins) are not imports of the package and are not seen here: that
is how a lower layer reaches the plugins registered from above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harness"

# From the bottom up: each name is a module or subpackage directly under harness/.
LAYERS = [
    {"errors", "spec", "chat", "records", "stats", "formatting", "redaction", "files", "yamlfile", "located",
     "interrupts", "expressions", "jsonpaths"},
    {"prompts", "plugins", "cases", "messages", "prompt_functions"},
    {"providers", "scorers", "cache", "results", "metrics", "derived_metrics"},
    {"suite", "comparison", "baseline", "history", "scaffold"},
    {"run", "importers"},
    {"outputs", "commands", "cli", "pytest_plugin", "testing", "__init__", "__main__"},
]
LAYER_OF = {unit: level for level, units in enumerate(LAYERS) for unit in units}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path) -> set[str]:
    """The harness modules ``module`` imports (at any depth of its code, but not for type checking only)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from harness.run import batch` imports the module harness.run.batch
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_module_belongs_to_a_layer():
    assert {_unit(m) for m in MODULES} - set(LAYER_OF) == set()


def test_imports_point_down_the_layers_only():
    upward = [f"{module} (layer {LAYER_OF[_unit(module)]}) imports {target} (layer {LAYER_OF[_unit(target)]})"
              for module, targets in GRAPH.items() for target in sorted(targets)
              if LAYER_OF[_unit(target)] > LAYER_OF[_unit(module)]]
    assert upward == []


def test_no_import_circles():
    """Tarjan's strongly connected components: any component of more than one module is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in GRAPH[module]:
            if target not in index:
                connect(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            connect(module)
    assert circles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_are_small_and_say_what_they_are_for(module):
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_MODULE_LINES
    assert ast.get_docstring(tree), f"{module} has no docstring saying what it is for"
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines)" for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []
