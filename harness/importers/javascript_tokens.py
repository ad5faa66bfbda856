"""Reading the JavaScript of a promptfoo assertion into tokens (for harness.importers.javascript).

Comments and white space are dropped; a ``/`` where a value may start opens a regular expression literal; template
literals are read only when they hold no ``${...}``; text escapes other than ``\\x`` and ``\\u`` are decoded.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<num>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<str>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\$]|\\.)*`)
  | (?P<name>[A-Za-z_$][\w$]*)
  | (?P<op>===|!==|==|!=|<=|>=|&&|\|\||=>|\?\.|\?\?|\.\.\.|[-+*/%<>!?:.,;()\[\]{}=])
""", re.VERBOSE | re.DOTALL)
REGEX = re.compile(r"/((?:[^/\\\n\[]|\\.|\[(?:[^\]\\\n]|\\.)*\])+)/([a-z]*)")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "`": "`", "0": "\0"}


class Declined(Exception):
    """This JavaScript is outside the subset translated (the message says what)."""


def tokens(source: str) -> list[tuple[str, str]]:
    """(kind, text) for each token: num, str, name, op or regex."""
    found_tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(source):
        previous = found_tokens[-1] if found_tokens else ("op", "(")
        if source[position] == "/" and source[position:position + 2] not in ("//", "/*") and (
                previous[0] == "op" and previous[1] not in (")", "]")):
            found = REGEX.match(source, position)
            if not found:
                raise Declined("an unreadable regular expression")
            found_tokens.append(("regex", found.group(0)))
            position = found.end()
            continue
        found = TOKEN.match(source, position)
        if not found:
            raise Declined(f"unexpected {source[position]!r}")
        kind = found.lastgroup or ""
        if kind != "space":
            found_tokens.append((kind, found.group(0)))
        position = found.end()
    return found_tokens


def text_of(literal: str) -> str:
    """The text a string literal stands for."""
    body = literal[1:-1]
    if re.search(r"\\[xu]", body):
        raise Declined("\\x or \\u escapes in text")
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(1)), body, flags=re.DOTALL)
