"""JSONPath: where in a JSON document a value is (an http: model's answer, usage and tool calls; a json_path
transform).

jsonpath-ng's extended syntax (filters, ``[*]``, ``..``); a path is parsed once and reused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=256)
def compile_path(path: str) -> Any:
    """The parsed path, or a ValueError saying what is wrong with it."""
    from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
    from jsonpath_ng.ext import parse

    if not path.strip().startswith("$"):
        raise ValueError(f"a JSONPath starts at the document's root, $ (e.g. $.choices[0].message.content), "
                         f"not {path!r}")
    try:
        return parse(path)
    except (JsonPathLexerError, JsonPathParserError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a JSONPath ({exc}): such as $.answer, $.items[0].name, $.items[*].name") from None


def first(path: str, document: Any) -> tuple[bool, Any]:
    """(found, the first value at ``path``); (False, None) when the path finds nothing."""
    matches = compile_path(path).find(document)
    return (True, matches[0].value) if matches else (False, None)


def names_one_place(path: Any) -> bool:
    """Whether a parsed JSONPath names at most one place: only fields by one name and single indexes, from the
    root or the current value (JSONPath implementations call this a definite path)."""
    from jsonpath_ng.jsonpath import Child, Fields, Index, Root, This

    if type(path) in (Root, This):
        return True
    if type(path) is Child:
        return names_one_place(path.left) and names_one_place(path.right)
    if type(path) is Fields:
        return len(path.fields) == 1 and path.fields[0] != "*"
    if type(path) is Index:
        return len(getattr(path, "indices", (None,))) == 1
    return False
