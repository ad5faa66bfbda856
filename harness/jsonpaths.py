"""JSONPath: where in a JSON document a value is (an http: model's answer, usage and tool calls).

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
        raise ValueError(f"not a JSONPath: {path!r}: {exc}") from None


def first(path: str, document: Any) -> tuple[bool, Any]:
    """(found, the first value at ``path``); (False, None) when the path finds nothing."""
    matches = compile_path(path).find(document)
    return (True, matches[0].value) if matches else (False, None)
