"""Writing an imported suite as YAML a person will read and edit: keys in order, multi-line text as ``|`` blocks,
and comments (harness.importers.common.Comment) where the data holds them.

PyYAML writes the data; each comment travels through it as a unique placeholder scalar (a list item, or a mapping
key) and is then replaced, line for line, by the comment at the same indentation. A list left holding nothing but
comments would read back as null, so its comments move up into the mapping that held it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from harness.importers.common import Comment

_PLACEHOLDER = "__harness_comment_{}__"
_PLACEHOLDER_LINE = re.compile(r"^(\s*)(?:- )?(__harness_comment_(\d+)__)(?::.*)?$")


class _Dumper(yaml.SafeDumper):
    """Block style, text of several lines as literal blocks, lists indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """Several lines as a literal block; code holding single quotes (a Python expression) in double quotes, which
    leave them as they are, where PyYAML's single quotes would double each."""
    style = "|" if "\n" in value.strip("\n") else '"' if "'" in value and '"' not in value and "\\" not in value \
        else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump(data: dict[str, Any], header: list[str] = ()) -> str:
    """``data`` as YAML text, ``header`` lines as a comment on top."""
    comments: list[Comment] = []
    prepared = _prepare(data, comments)
    text = yaml.dump(prepared, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False,
                     width=120)
    lines = []
    for line in text.splitlines():
        found = _PLACEHOLDER_LINE.match(line)
        if found is None:
            lines.append(line)
            continue
        indent = found.group(1)
        lines.extend(f"{indent}# {part}".rstrip() for part in _comment_lines(comments[int(found.group(3))]))
    top = [f"# {line}".rstrip() for line in header]
    return "\n".join([*top, *lines]) + "\n"


def _comment_lines(comment: Comment) -> list[str]:
    if comment.original is None:
        return list(comment.lines)
    original = comment.original
    text = original if isinstance(original, str) else yaml.dump(
        original, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=110)
    return [*comment.lines, *("  " + line for line in text.rstrip("\n").splitlines())]


def _prepare(value: Any, comments: list[Comment]) -> Any:
    """The data with each Comment replaced by a placeholder (and comment-only lists moved up into their mapping)."""
    if isinstance(value, Comment):
        comments.append(value)
        return _PLACEHOLDER.format(len(comments) - 1)
    if isinstance(value, dict):
        result: dict[Any, Any] = {}
        for key, item in _comments_after_first_key(value):
            if isinstance(key, Comment):
                result[_prepare(key, comments)] = None
            elif isinstance(item, list) and item and all(isinstance(x, Comment) for x in item):
                for comment in item:
                    result[_prepare(Comment((f"{key}:", *comment.lines), comment.original), comments)] = None
            else:
                result[key] = _prepare(item, comments)
        return result
    if isinstance(value, list | tuple):
        return [_prepare(item, comments) for item in value]
    return value


def _comments_after_first_key(mapping: dict[Any, Any]) -> list[tuple[Any, Any]]:
    """The entries, with comments that would come first moved after the first key: in a list, a mapping's first line
    carries the item's "- ", which a comment line cannot."""
    entries = list(mapping.items())
    first = next((i for i, (key, _) in enumerate(entries) if not isinstance(key, Comment)), 0)
    return [entries[first], *entries[:first], *entries[first + 1:]] if entries else []
