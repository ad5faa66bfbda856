"""YAML read safely, for files people write by hand: every error located, nothing silently lost or guessed.

On top of YAML's own rules this refuses what would otherwise be accepted and then misbehave:

- a key given twice in one mapping (YAML keeps the last one, silently): both lines are named;
- aliases that expand into a huge document (the "billion laughs"): past MAX_EXPANDED values;
- nesting deeper than MAX_DEPTH (no suite needs it; walking it would exhaust Python's stack);
- the words YAML 1.1 reads as booleans besides true/false (yes, no, on, off, in any case), unquoted:
  ``labels: [yes, no]`` or ``country: NO`` silently become booleans. Quote them, or write true/false.

Parsing uses libyaml when PyYAML has it (fast on large files, no recursion limit); the checks walk
the node tree without recursion; the data is built from the same tree, so nothing is parsed twice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from harness.errors import HarnessError

MAX_DEPTH = 64
MAX_EXPANDED = 1_000_000
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = "tag:yaml.org,2002:bool"
_STR = "tag:yaml.org,2002:str"
_MERGE = "<<"


def load(text: str, file: Path | str, *, words_as_text: bool = False) -> tuple[Any, yaml.Node | None]:
    """The data in ``text`` and its node tree (for mapping errors back to lines); HarnessError on anything amiss.

    ``words_as_text`` reads YAML 1.1's other booleans (yes, no, on, off) as the words they are, as YAML 1.2 and
    JavaScript's readers do, instead of refusing them: for another tool's files, which mean them that way."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise _located(exc, text, file) from None
    if root is None:
        return None, None
    _check(root, text, file, words_as_text)
    try:
        return yaml.constructor.SafeConstructor().construct_document(root), root
    except yaml.YAMLError as exc:  # a tag that names no plain value (!!python/object, ...): never built
        mark = getattr(exc, "problem_mark", None)
        raise HarnessError(f"{getattr(exc, 'problem', None) or exc}: a suite holds plain values only", file=file,
                           line=mark.line + 1 if mark else None, hint="remove the !!tag") from None


def _located(exc: yaml.YAMLError, text: str, file: Path | str) -> HarnessError:
    """A YAML syntax error as one located line, at the place a person would look."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow (NUL, a control character)
        line = text.count("\n", 0, exc.position) + 1
        return HarnessError(f"malformed YAML: character {exc.character!r} is not allowed in YAML", file=file,
                            line=line, hint="remove it, or write it as an escape inside double quotes (\"\\x00\")")
    line = mark.line + 1 if mark else None
    hint = None
    if mark is not None and "\t" in _line_text(text, mark.line)[: mark.column + 1]:
        problem, hint = "a tab character", "YAML indents with spaces, never tabs"
    if mark is not None and "undefined alias" in problem:
        alias = re.match(r"\*([^\s,\]}]+)", text[mark.index:]) if mark.index is not None else None
        return HarnessError(f"malformed YAML: the alias *{alias.group(1) if alias else '?'} names no anchor", file=file,
                            line=line, hint="define it first with &name, or quote the text if * was meant")
    opened = _unclosed_quote(text, mark.line) if mark is not None else None
    if opened is not None:
        return HarnessError(f"malformed YAML: the quote opened here is never closed ({problem} at line {line})",
                            file=file, line=opened, hint="close the quote, or quote with the other kind")
    context_text = getattr(exc, "context", None) or ""
    if context is not None and context.line + 1 != line and context_text:
        problem += f" ({context_text} that starts at line {context.line + 1})"
    return HarnessError(f"malformed YAML: {problem}", file=file, line=line, hint=hint)


def _unclosed_quote(text: str, before: int) -> int | None:
    """The line (1-based) of a value whose quote opens and is not closed on its line, before line ``before`` + 1:
    what usually makes the parser fail further down (a quoted value may span lines, so only on an error)."""
    for number, line in enumerate(text.split("\n")[: before + 1], start=1):
        value = re.match(r"""^\s*(?:-\s+|[^#'"]*?:\s+)(["'])(.*)$""", line)
        if value and value.group(1) not in value.group(2).replace("\\" + value.group(1), "").replace("''", ""):
            return number
    return None


def _line_text(text: str, index: int) -> str:
    lines = text.split("\n")
    return lines[index] if 0 <= index < len(lines) else ""


def _check(root: yaml.Node, text: str, file: Path | str, words_as_text: bool = False) -> None:
    """Every node once (aliases make the tree a graph), children before parents: sizes and depths, then the rules."""
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in size:
            continue
        if not children_done:
            if id(node) in entered:
                raise HarnessError("an alias refers to the collection it is in (a loop)", file=file,
                                   line=node.start_mark.line + 1)
            entered.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in size)
            continue
        children = _children(node)
        size[id(node)] = min(MAX_EXPANDED + 1, 1 + sum(size[id(child)] for child in children))
        height[id(node)] = 1 + max((height[id(child)] for child in children), default=0)
        _check_node(node, file, words_as_text)
    if size[id(root)] > MAX_EXPANDED:
        raise HarnessError(f"its aliases expand to more than {MAX_EXPANDED:,} values (an alias bomb?)", file=file,
                           line=_first_alias_line(text), hint="repeat less through aliases (*name)")
    if height[id(root)] > MAX_DEPTH:
        node = root
        for _ in range(MAX_DEPTH):  # down the deepest path, to where it passes the limit
            node = max(_children(node), key=lambda child: height[id(child)])
        raise HarnessError(f"nested more than {MAX_DEPTH} levels deep", file=file, line=node.start_mark.line + 1,
                           hint="flatten it: no suite needs data this deep")


def _check_node(node: yaml.Node, file: Path | str, words_as_text: bool = False) -> None:
    if isinstance(node, yaml.MappingNode):
        _no_duplicate_keys(node, file)
    elif node.tag == _BOOL and not node.style and node.value.lower() not in ("true", "false"):
        if words_as_text:
            node.tag = _STR
            return
        truth = "true" if node.value.lower() in ("yes", "on", "y") else "false"
        raise HarnessError(f"unquoted {node.value} is read as {truth} (YAML 1.1)", file=file,
                           line=node.start_mark.line + 1,
                           hint=f"quote it ('{node.value}') if you mean the word, or write {truth}")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _no_duplicate_keys(node: yaml.MappingNode, file: Path | str) -> None:
    first: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.value == _MERGE:
            continue
        line = key.start_mark.line + 1
        if key.value in first:
            raise HarnessError(f"'{key.value}' is given twice in one mapping (lines {first[key.value]} and {line}); "
                               "YAML would silently keep the second", file=file, line=line,
                               hint=f"keep one '{key.value}'")
        first[key.value] = line


def _first_alias_line(text: str) -> int | None:
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1
    return None
