"""Reading the JavaScript of a promptfoo assertion into tokens (for harness.importers.javascript).

Comments and white space are dropped; a ``/`` where a value may start opens a regular expression literal; a template
literal holding ``${...}`` is one ``template`` token (template_pieces splits it); text escapes other than ``\\x`` and
``\\u`` are decoded.
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


class FailsInPromptfoo(Declined):
    """This JavaScript cannot give promptfoo a result (it returns nothing, or text): the assertion always fails there,
    and a translation could only mean something else."""


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
        if source[position] == "`" and not TOKEN.match(source, position):
            end = _template_end(source, position)
            found_tokens.append(("template", source[position:end]))
            position = end
            continue
        found = TOKEN.match(source, position)
        if not found:
            raise Declined(f"unexpected {source[position]!r}")
        kind = found.lastgroup or ""
        if kind != "space":
            found_tokens.append((kind, found.group(0)))
        position = found.end()
    return found_tokens


def _template_end(source: str, start: int) -> int:
    """Where the template literal opening at ``start`` ends (just after its closing backtick)."""
    position = start + 1
    while position < len(source):
        if source[position] == "\\":
            position += 2
        elif source[position] == "`":
            return position + 1
        elif source.startswith("${", position):
            position = _code_end(source, position + 2) + 1
        else:
            position += 1
    raise Declined("a template literal that does not end")


def _code_end(source: str, position: int) -> int:
    """Where the ``}`` closing a template literal's ``${`` is, its code starting at ``position``."""
    depth = 1
    while position < len(source):
        char = source[position]
        if char in "'\"`":
            found = TOKEN.match(source, position)
            if not found or found.lastgroup != "str":
                raise Declined("a template literal inside a template literal")
            position = found.end()
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return position
        position += 1
    raise Declined("a template literal that does not end")


def template_pieces(literal: str) -> list[tuple[str, str]]:
    """A template literal's pieces in order: ("text", its text) and ("code", the source of a ``${...}``)."""
    pieces, text, position = [], "", 1
    while position < len(literal) - 1:
        if literal[position] == "\\":
            text, position = text + literal[position:position + 2], position + 2
        elif literal.startswith("${", position):
            end = _code_end(literal, position + 2)
            pieces += [("text", text_of("`" + text + "`")), ("code", literal[position + 2:end])]
            text, position = "", end + 1
        else:
            text, position = text + literal[position], position + 1
    return [*pieces, ("text", text_of("`" + text + "`"))]


def text_of(literal: str) -> str:
    """The text a string literal stands for."""
    body = literal[1:-1]
    if re.search(r"\\[xu]", body):
        raise Declined("\\x or \\u escapes in text")
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(1)), body, flags=re.DOTALL)
