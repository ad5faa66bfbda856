"""Simple JavaScript assertions (promptfoo's ``type: javascript``) as Python expressions for harness's python scorer.

Conservative on purpose: a small, typed subset of JavaScript is recognised and everything else is declined (None,
with the reason), so a check is never translated into one that means something else. Accepted:

- ``output`` (text), ``context.vars.x`` / ``context.vars['x']`` (``vars['x']``), ``JSON.parse(output)`` and a
  property of the output (``output.category``, which promptfoo sees when the model answered JSON): ``json['x']``;
- literals (numbers, strings, true/false, arrays, template literals putting text or numbers in text), ``! && || ?:``,
  comparisons (``===`` and ``==`` alike only when both sides may be compared the same way in both languages),
  ``+ - * / %``;
- text methods ``includes startsWith endsWith toLowerCase toUpperCase trim split indexOf slice replace match``,
  ``.length``, regular expression literals with ``.test``, list methods ``includes some every filter map join``
  with one-parameter arrow functions, ``Math.*``, ``parseInt parseFloat Number String``, ``typeof x === 'string'``
  and ``typeof output === 'object'`` (the output is parsed JSON);
- promptfoo's GradingResult, ``{pass, score, reason}``, as the python scorer's ``{passed, score, reason}``;
- as promptfoo runs it: one line is an expression (after ``const name = ...;`` declarations, to which promptfoo adds
  ``return`` before the last); several lines are a function body: declarations, ``if (...) {...} else ...`` whose
  branches return, and a final ``return``. Several lines that never ``return`` return nothing in promptfoo (the
  assertion always fails there), and are declined. Comments may stand anywhere.

The result must be a truth value, a number or a GradingResult (a check); ``translate(..., value=True)`` accepts any
value (a transform). Truthiness differs between the languages for lists and objects (``[]`` is true in
JavaScript), so only text, numbers and truth values may be used as conditions.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.importers.javascript_members import RESERVED, Members
from harness.importers.javascript_nodes import (
    CHECKS,
    Node,
    binary,
    conditional,
    grading_result,
    index,
    template,
    truthy,
)
from harness.importers.javascript_tokens import Declined, FailsInPromptfoo, template_pieces, text_of, tokens

_BINARY = {"||": 1, "&&": 2, "===": 3, "!==": 3, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4,
           "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_MATH = {"max": "max", "min": "min", "abs": "abs", "floor": "math.floor", "ceil": "math.ceil", "sqrt": "math.sqrt",
         "log": "math.log", "exp": "math.exp"}
_CONVERT = {"parseInt": ("int", "num"), "parseFloat": ("float", "num"), "Number": ("float", "num"),
            "String": ("str", "str")}
_DECLARATIONS = ("const", "let", "var")


@dataclass(frozen=True)
class Translation:
    expr: str | None
    kind: str = ""
    reason: str = ""
    fails_in_promptfoo: bool = False  # declined because promptfoo could never pass it either


def translate(source: str, *, value: bool = False) -> Translation:
    """``source`` (an expression or a function body) as a Python expression, or ``expr=None`` with the reason."""
    try:
        node = _Parser(tokens(source), body="\n" in source.rstrip()).program()
    except Declined as exc:
        return Translation(None, reason=str(exc), fails_in_promptfoo=isinstance(exc, FailsInPromptfoo))
    if not value and node.kind not in (*CHECKS, "num"):
        return Translation(None, reason=f"it returns {node.kind}, not a truth value, a number or a GradingResult",
                           fails_in_promptfoo=node.kind not in ("any", "json"))  # text, a list: promptfoo fails it
    return Translation(node.code, node.kind)


class _Parser(Members):
    """A recursive-descent reader of the subset, writing Python as it goes (members and methods: Members)."""

    def __init__(self, tokens: list[tuple[str, str]], *, body: bool = False, names: dict[str, Node] | None = None):
        self.tokens = tokens
        self.body = body  # several lines: a function body, which must return
        self.at = 0
        self.names: dict[str, Node] = names if names is not None else {}

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if text is not None and token[1] != text:
            raise Declined(f"expected {text!r}, found {token[1] or 'the end'!r}")
        self.at += 1
        return token

    def accept(self, text: str) -> bool:
        if self.peek()[1] == text and self.peek()[0] in ("op", "name"):
            self.at += 1
            return True
        return False

    def is_word(self, *words: str) -> bool:
        return self.peek()[0] == "name" and self.peek()[1] in words

    def program(self) -> Node:
        result = self.sequence()
        if self.peek()[0] != "end":
            raise Declined(f"more than one statement ({self.peek()[1]!r})")
        return result

    def sequence(self, closing: str = "") -> Node:
        """Statements up to ``closing`` (a block's ``}``, or the end) as the value they return: declarations, then
        ifs whose branches return (each a condition on what follows), then a return."""
        declared = self.declarations()
        branches: list[tuple[str, Node]] = []
        last = None
        while self.body and last is None and self.is_word("if"):
            last = self.if_chain(branches)
            declared += self.declarations()
        if last is None:
            returns = self.accept("return")
            if returns and not (self.body or closing):
                raise FailsInPromptfoo("one line starting with return: promptfoo puts its own return before it, a "
                                       "syntax error there")
            if not returns and (self.body or closing):
                raise FailsInPromptfoo("several lines that never return: promptfoo runs them as a function body, "
                                       "which returns nothing (write return before the last expression)")
            last = self.expression()
            self.accept(";")
        for condition, value in reversed(branches):
            last = conditional(condition, value, last)
        for name in declared:
            del self.names[name]
        return last

    def declarations(self) -> list[str]:
        declared = []
        while self.is_word(*_DECLARATIONS):
            self.take()
            kind, name = self.take()
            if kind != "name" or name in RESERVED or name in self.names:
                raise Declined(f"the name {name!r}")
            self.take("=")
            self.names[name] = self.expression()
            declared.append(name)
            self.accept(";")
        return declared

    def if_chain(self, branches: list[tuple[str, Node]]) -> Node | None:
        """``if (...) branch [else if ... | else branch]``: each condition and what its branch returns added to
        ``branches``; what the final ``else`` returns, or None when there is none (what follows is the else)."""
        self.take("if")
        self.take("(")
        condition = truthy(self.expression())
        self.take(")")
        branches.append((condition, self.branch()))
        if not self.accept("else"):
            return None
        return self.if_chain(branches) if self.is_word("if") else self.branch()

    def branch(self) -> Node:
        """A block that returns, or one ``return ...;``."""
        if self.accept("{"):
            value = self.sequence("}")
            self.take("}")
            return value
        self.take("return")
        value = self.expression()
        self.accept(";")
        return value

    def expression(self, level: int = 0) -> Node:
        left = self.unary()
        while True:
            op = self.peek()[1] if self.peek()[0] == "op" else ""
            if op == "?" and level == 0:
                self.take()
                yes = self.expression()
                self.take(":")
                no = self.expression()
                left = conditional(truthy(left), yes, no)
                continue
            if op not in _BINARY or _BINARY[op] <= level:
                return left
            self.take()
            left = binary(op, left, self.expression(_BINARY[op]))

    def unary(self) -> Node:
        if self.accept("!"):
            return Node(f"(not {truthy(self.unary())})", "bool")
        if self.accept("-"):
            operand = self.unary()
            if operand.kind != "num":
                raise Declined("minus on something that is not a number")
            return Node(f"(-{operand.code})", "num")
        if self.accept("typeof"):
            return self.type_of(self.postfix(self.primary()))
        return self.postfix(self.primary())

    def type_of(self, operand: Node) -> Node:
        """``typeof x === 'string'``, and ``typeof output === 'object'``: the output parsed as JSON (an object or an
        array, as promptfoo passes JSON it parsed)."""
        negated = self.peek()[1] in ("!==", "!=")
        if self.peek()[1] not in ("===", "==", "!==", "!="):
            raise Declined("typeof other than compared with a type's name")
        self.take()
        kind, literal = self.take()
        name = text_of(literal) if kind == "str" else None
        if name == "string":
            test = f"isinstance({operand.code}, str)"
        elif name == "object" and operand.code == "output":
            test = "isinstance(json, (dict, list))"
        else:
            raise Declined(f"typeof of a {operand.kind} compared with {literal!r}")
        return Node(f"(not {test})" if negated else test, "bool")

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Node(text, "num")
        if kind == "str":
            return Node(repr(text_of(text)), "str")
        if kind == "regex":
            return Node(text, "regex")
        if kind == "template":
            return template([text if part == "text" else self.inner(text) for part, text in template_pieces(text)])
        if text == "{" and kind == "op":
            return self.grading_result()
        if text == "(" and kind == "op":
            inner = self.expression()  # every operator's translation is parenthesised already
            self.take(")")
            return inner
        if text == "[" and kind == "op":
            return self.array()
        if kind != "name":
            raise Declined(f"unexpected {text!r}")
        return self.name(text)

    def inner(self, source: str) -> Node:
        """An expression written inside a template literal, which sees the names declared so far."""
        parser = _Parser(tokens(source), names=self.names)
        node = parser.expression()
        if parser.peek()[0] != "end":
            raise Declined(f"unexpected {parser.peek()[1]!r} in a template literal")
        return node

    def grading_result(self) -> Node:
        """``{pass: ..., score: ..., reason: ...}`` (the ``{`` taken)."""
        fields: dict[str, Node] = {}
        while not self.accept("}"):
            kind, key = self.take()
            key = text_of(key) if kind == "str" else key
            if kind not in ("name", "str") or key in fields:
                raise Declined(f"an object key {key!r}")
            self.take(":")
            fields[key] = self.expression()
            if not self.accept(","):
                self.take("}")
                break
        return grading_result(fields)

    def array(self) -> Node:
        items = self.items("]")
        kinds = {item.kind for item in items}
        element = kinds.pop() if len(kinds) == 1 else "any"
        return Node("[" + ", ".join(item.code for item in items) + "]", f"list:{element}")

    def name(self, text: str) -> Node:
        if text in self.names:
            return self.names[text]
        if text in ("true", "false"):
            return Node(text.capitalize(), "bool")
        if text == "output":
            return Node("output", "str")
        if text == "context":
            self.take(".")
            if self.take()[1] != "vars":
                raise Declined("context other than context.vars")
            return Node("vars", "vars")
        if text == "JSON":
            self.take(".")
            if self.take()[1] != "parse":
                raise Declined("JSON other than JSON.parse(output)")
            self.take("(")
            if self.take()[1] != "output" or self.peek()[1] != ")":
                raise Declined("JSON.parse of something other than the output")
            self.take(")")
            return Node("json", "json")
        if text == "Math":
            return self.math()
        if text == "Boolean":
            (argument,) = self.arguments()
            return Node(truthy(argument), "bool")
        if text in _CONVERT:
            function, kind = _CONVERT[text]
            arguments = self.arguments()
            if not 1 <= len(arguments) <= (2 if text == "parseInt" else 1):
                raise Declined(f"{text} with {len(arguments)} arguments")
            return Node(f"{function}({arguments[0].code})", kind)
        raise Declined(f"the name {text!r}")

    def math(self) -> Node:
        self.take(".")
        member = self.take()[1]
        if member == "PI":
            return Node("math.pi", "num")
        arguments = self.arguments()
        if any(a.kind != "num" for a in arguments):
            raise Declined(f"Math.{member} of something that is not a number")
        codes = [a.code for a in arguments]
        if member == "round" and len(codes) == 1:
            return Node(f"math.floor({codes[0]} + 0.5)", "num")  # JavaScript rounds halves up, Python to even
        if member == "pow" and len(codes) == 2:
            return Node(f"({codes[0]} ** {codes[1]})", "num")
        if member not in _MATH or not codes:
            raise Declined(f"Math.{member}")
        return Node(f"{_MATH[member]}({', '.join(codes)})", "num")

    def arguments(self) -> list[Node]:
        self.take("(")
        return self.items(")")

    def items(self, close: str) -> list[Node]:
        """Expressions separated by commas up to ``close`` (a trailing comma allowed)."""
        found = []
        while not self.accept(close):
            found.append(self.expression())
            if not self.accept(","):
                self.take(close)
                break
        return found

    def postfix(self, node: Node) -> Node:
        while True:
            if self.peek()[1] in ("?.", "??", "..."):
                raise Declined(f"the operator {self.peek()[1]!r}")
            if self.accept("."):
                kind, member = self.take()
                if kind != "name":
                    raise Declined(f"unexpected {member!r}")
                node = self.member(node, member)
            elif self.peek()[1] == "[" and self.peek()[0] == "op":
                self.take()
                position = self.expression()
                self.take("]")
                node = index(node, position)
            else:
                return node
