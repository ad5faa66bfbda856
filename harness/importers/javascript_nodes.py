"""The translated pieces of harness.importers.javascript: a Python expression and the kind of value it gives, and
how operators, conditions and promptfoo's GradingResult objects are written in Python.

Kinds: bool, num, str, regex, list:<element kind>, json (parsed JSON or a part of it), vars, any, and two that a
check may return: result (a GradingResult written as the python scorer's mapping) and check (True, False or such a
mapping, from branches that differ).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.importers.javascript_tokens import REGEX, Declined

# Kinds that behave alike as conditions in both languages (empty text and 0 are false in both; [] and {} are not).
CONDITIONS = {"bool", "num", "str"}
# What a check may return, as the python scorer reads it.
CHECKS = {"bool", "result", "check"}
# promptfoo's GradingResult keys, and the python scorer's.
RESULT_KEYS = {"pass": "passed", "score": "score", "reason": "reason"}


@dataclass(frozen=True)
class Node:
    code: str
    kind: str


def truthy(node: Node) -> str:
    if node.kind not in CONDITIONS:
        raise Declined(f"a {node.kind} used as a condition (its truth differs between JavaScript and Python)")
    return node.code if node.kind == "bool" else f"bool({node.code})"


def conditional(condition: str, yes: Node, no: Node) -> Node:
    """``yes`` when ``condition`` (Python, a truth value) holds, else ``no``; of their kind, or ``check`` when both
    are things a check may return."""
    kind = yes.kind if yes.kind == no.kind else "check" if {yes.kind, no.kind} <= CHECKS else "any"
    return Node(f"({yes.code} if {condition} else {no.code})", kind)


def score(node: Node) -> str:
    """A number as harness's score, from 0 to 1 (promptfoo's may be any number)."""
    if node.kind != "num":
        raise Declined(f"a score that is a {node.kind}")
    if node.code in ("0", "1", "0.5"):
        return node.code
    return f"min(max({node.code}, 0), 1)"


def grading_result(fields: dict[str, Node]) -> Node:
    """promptfoo's ``{pass, score, reason}`` as the python scorer's ``{'passed', 'score', 'reason'}``."""
    if "pass" not in fields or set(fields) - set(RESULT_KEYS):
        raise Declined(f"an object with the keys {sorted(fields)} (a GradingResult has pass, score and reason)")
    if fields["pass"].kind != "bool":
        raise Declined(f"a GradingResult whose pass is a {fields['pass'].kind}")
    codes = {"pass": fields["pass"].code}
    if "score" in fields:
        codes["score"] = score(fields["score"])
    if "reason" in fields:
        codes["reason"] = as_text(fields["reason"])
    return Node("{" + ", ".join(f"{RESULT_KEYS[key]!r}: {code}" for key, code in codes.items()) + "}", "result")


def template(pieces: list[str | Node]) -> Node:
    """A template literal: its text and the values put in it (text, or numbers written as text)."""
    codes = []
    for piece in pieces:
        if isinstance(piece, str):
            codes += [repr(piece)] if piece else []
        elif piece.kind in ("str", "num"):
            codes.append(piece.code if piece.kind == "str" else f"str({piece.code})")
        else:
            raise Declined(f"a {piece.kind} put in a template literal (JavaScript writes it otherwise)")
    return Node("(" + " + ".join(codes or ["''"]) + ")", "str")


def as_text(node: Node) -> str:
    if node.kind not in ("str", "any", "json"):
        raise Declined(f"a {node.kind} where text belongs")
    return node.code


def search(literal: str, text: str) -> str:
    found = REGEX.fullmatch(literal)
    pattern, flags = found.group(1), found.group(2)
    if "(?<" in pattern.replace("(?<=", "").replace("(?<!", "") or set(flags) - set("gimsu"):
        raise Declined("a regular expression with named groups or sticky flags")
    named = " | ".join(f"re.{f.upper()}" for f in flags if f in "ims")
    pattern = pattern.replace("\\/", "/")
    return f"(re.search({pattern!r}, {text}{', ' + named if named else ''}) is not None)"


def index(node: Node, position: Node) -> Node:
    if node.kind in ("json", "vars", "any") and position.kind in ("str", "num"):
        return Node(f"{node.code}[{position.code}]", "any" if node.kind == "vars" else "json")
    if node.kind.startswith("list") and position.kind == "num" and position.code.isdigit():
        return Node(f"{node.code}[{position.code}]", node.kind.partition(":")[2] or "any")
    raise Declined(f"indexing a {node.kind}")


def binary(op: str, left: Node, right: Node) -> Node:
    if op in ("&&", "||"):
        return Node(f"({truthy(left)} {'and' if op == '&&' else 'or'} {truthy(right)})", "bool")
    if op in ("===", "!==", "==", "!="):
        loose = op in ("==", "!=")
        if loose and {left.kind, right.kind} == {"str", "num"}:
            raise Declined("== between text and a number (JavaScript converts, Python does not)")
        return Node(f"({left.code} {'==' if op in ('===', '==') else '!='} {right.code})", "bool")
    if op in ("<", ">", "<=", ">="):
        if left.kind != right.kind and "any" not in (left.kind, right.kind) and "json" not in (left.kind, right.kind):
            raise Declined(f"comparing a {left.kind} with a {right.kind}")
        return Node(f"({left.code} {op} {right.code})", "bool")
    if op == "+" and left.kind != right.kind:
        raise Declined(f"+ between a {left.kind} and a {right.kind} (JavaScript converts, Python does not)")
    if op != "+" and not (left.kind == right.kind == "num"):
        raise Declined(f"{op} on something that is not a number")
    return Node(f"({left.code} {op} {right.code})", left.kind)
