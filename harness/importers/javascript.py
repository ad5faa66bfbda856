"""Simple JavaScript assertions (promptfoo's ``type: javascript``) as Python expressions for harness's python scorer.

Conservative on purpose: a small, typed subset of JavaScript is recognised and everything else is declined (None,
with the reason), so a check is never translated into one that means something else. Accepted:

- ``output`` (text), ``context.vars.x`` / ``context.vars['x']`` (``vars['x']``), ``JSON.parse(output)`` and a
  property of the output (``output.category``, which promptfoo sees when the model answered JSON): ``json['x']``;
- literals (numbers, strings, true/false, arrays), ``! && || ?:``, comparisons (``===`` and ``==`` alike only when
  both sides may be compared the same way in both languages), ``+ - * / %``;
- text methods ``includes startsWith endsWith toLowerCase toUpperCase trim split indexOf slice replace match``,
  ``.length``, regular expression literals with ``.test``, list methods ``includes some every filter map join``
  with one-parameter arrow functions, ``Math.*``, ``parseInt parseFloat Number String``, ``typeof x === 'string'``;
- a body of ``const name = ...;`` lines and one ``return ...;`` (or a last expression), comments anywhere.

The result must be a truth value or a number (a check); ``translate(..., value=True)`` accepts any value (a transform).
Truthiness differs between the languages for lists and objects (``[]`` is true in JavaScript), so only text, numbers
and truth values may be used as conditions.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.importers.javascript_tokens import REGEX, Declined, text_of, tokens

_BINARY = {"||": 1, "&&": 2, "===": 3, "!==": 3, "==": 3, "!=": 3, "<": 4, ">": 4, "<=": 4, ">=": 4,
           "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_TEXT_CALLS = {"toLowerCase": ".lower()", "toUpperCase": ".upper()", "trim": ".strip()", "trimStart": ".lstrip()",
               "trimEnd": ".rstrip()", "toString": ""}
_MATH = {"max": "max", "min": "min", "abs": "abs", "floor": "math.floor", "ceil": "math.ceil", "sqrt": "math.sqrt",
         "log": "math.log", "exp": "math.exp"}
_CONVERT = {"parseInt": ("int", "num"), "parseFloat": ("float", "num"), "Number": ("float", "num"),
            "String": ("str", "str")}
# Names the python scorer gives an expression, and Python's words: an arrow parameter may not take them.
_RESERVED = {"output", "vars", "expected", "case", "response", "json", "re", "math", "len", "any", "all", "str", "int",
             "float", "bool", "max", "min", "abs", "isinstance", "and", "or", "not", "in", "is", "if", "else", "for",
             "lambda", "None", "True", "False", "def", "class", "from", "import", "pass", "return", "with", "as"}
_LIST_ONLY = ("some", "every", "filter", "map", "join")
# Kinds that behave alike as conditions in both languages (empty text and 0 are false in both; [] and {} are not).
_CONDITIONS = {"bool", "num", "str"}


@dataclass(frozen=True)
class Node:
    code: str
    kind: str  # bool, num, str, list, json (parsed JSON or a part of it), vars, any


@dataclass(frozen=True)
class Translation:
    expr: str | None
    kind: str = ""
    reason: str = ""


def translate(source: str, *, value: bool = False) -> Translation:
    """``source`` (an expression or a function body) as a Python expression, or ``expr=None`` with the reason."""
    try:
        node = _Parser(tokens(source)).program()
    except Declined as exc:
        return Translation(None, reason=str(exc))
    if not value and node.kind not in ("bool", "num"):
        return Translation(None, reason=f"it returns {node.kind}, not a truth value or a number")
    return Translation(node.code, node.kind)


def _truthy(node: Node) -> str:
    if node.kind not in _CONDITIONS:
        raise Declined(f"a {node.kind} used as a condition (its truth differs between JavaScript and Python)")
    return node.code if node.kind == "bool" else f"bool({node.code})"


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.at = 0
        self.names: dict[str, Node] = {}

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

    def program(self) -> Node:
        while self.peek()[1] in ("const", "let", "var"):
            self.take()
            kind, name = self.take()
            if kind != "name" or name in _RESERVED or name in self.names:
                raise Declined(f"the name {name!r}")
            self.take("=")
            self.names[name] = self.expression()
            self.accept(";")
        self.accept("return")
        result = self.expression()
        self.accept(";")
        if self.peek()[0] != "end":
            raise Declined(f"more than one statement ({self.peek()[1]!r})")
        return result

    def expression(self, level: int = 0) -> Node:
        left = self.unary()
        while True:
            op = self.peek()[1] if self.peek()[0] == "op" else ""
            if op == "?" and level == 0:
                self.take()
                yes = self.expression()
                self.take(":")
                no = self.expression()
                kind = yes.kind if yes.kind == no.kind else "any"
                left = Node(f"({yes.code} if {_truthy(left)} else {no.code})", kind)
                continue
            if op not in _BINARY or _BINARY[op] <= level:
                return left
            self.take()
            left = _binary(op, left, self.expression(_BINARY[op]))

    def unary(self) -> Node:
        if self.accept("!"):
            return Node(f"(not {_truthy(self.unary())})", "bool")
        if self.accept("-"):
            operand = self.unary()
            if operand.kind != "num":
                raise Declined("minus on something that is not a number")
            return Node(f"(-{operand.code})", "num")
        if self.accept("typeof"):
            operand = self.postfix(self.primary())
            self.take("===") if self.peek()[1] == "===" else self.take("==")
            kind, literal = self.take()
            if kind != "str" or text_of(literal) != "string":
                raise Declined("typeof other than === 'string'")
            return Node(f"isinstance({operand.code}, str)", "bool")
        return self.postfix(self.primary())

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return Node(text, "num")
        if kind == "str":
            return Node(repr(text_of(text)), "str")
        if kind == "regex":
            return Node(text, "regex")
        if text == "(" and kind == "op":
            inner = self.expression()  # every operator's translation is parenthesised already
            self.take(")")
            return inner
        if text == "[" and kind == "op":
            return self.array()
        if kind != "name":
            raise Declined(f"unexpected {text!r}")
        return self.name(text)

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
            return Node(_truthy(argument), "bool")
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
                index = self.expression()
                self.take("]")
                node = _index(node, index)
            else:
                return node

    def member(self, node: Node, member: str) -> Node:
        calling = self.peek()[1] == "("
        if node.kind == "regex":
            if member != "test":
                raise Declined(f"a regular expression's .{member}")
            (text,) = self.arguments()
            return Node(_search(node.code, _as_text(text)), "bool")
        if member == "length" and not calling:
            if node.kind not in ("str", "any", "json") and not node.kind.startswith("list"):
                raise Declined(f"the length of a {node.kind}")
            return Node(f"len({node.code})", "num")
        if not calling:
            if node.kind in ("json", "vars", "any") or (node.kind == "str" and node.code == "output"):
                return Node(f"{'json' if node.code == 'output' else node.code}[{member!r}]",
                            "any" if node.kind == "vars" else "json")
            raise Declined(f"the property {member!r} of a {node.kind}")
        if member == "hasOwnProperty" and (node.kind == "json" or node.code == "output"):
            (key,) = self.arguments()
            return Node(f"({_as_text(key)} in json)" if node.code == "output" else f"({_as_text(key)} in {node.code})",
                        "bool")
        if node.kind.startswith("list") or (node.kind in ("json", "any") and member in _LIST_ONLY):
            return self.list_method(node, member)
        return self.text_method(node, member)

    def text_method(self, node: Node, member: str) -> Node:
        if node.kind not in ("str", "any", "json"):
            raise Declined(f".{member}() on a {node.kind}")
        arguments = self.arguments()
        if member == "match" and len(arguments) == 1 and arguments[0].kind == "regex":
            return Node(_search(arguments[0].code, node.code), "bool")
        codes = [_as_text(a) if a.kind != "num" else a.code for a in arguments]
        if member in _TEXT_CALLS and not arguments:
            return Node(f"str({node.code})" if member == "toString" else node.code + _TEXT_CALLS[member], "str")
        if member == "includes" and len(codes) == 1:
            return Node(f"({codes[0]} in {node.code})", "bool")
        if member in ("startsWith", "endsWith") and len(codes) == 1:
            return Node(f"{node.code}.{member.lower()[:-4]}with({codes[0]})", "bool")
        if member == "split" and len(arguments) == 1 and arguments[0].kind == "str" and arguments[0].code != "''":
            return Node(f"{node.code}.split({codes[0]})", "list:str")
        if member == "indexOf" and len(codes) == 1 and node.kind == "str":
            return Node(f"{node.code}.find({codes[0]})", "num")
        if member == "slice" and 1 <= len(arguments) <= 2 and all(a.kind == "num" for a in arguments):
            return Node(f"{node.code}[{':'.join(codes)}]", "str")
        if member in ("replace", "replaceAll") and len(arguments) == 2 and all(a.kind == "str" for a in arguments):
            return Node(f"{node.code}.replace({codes[0]}, {codes[1]}{', 1' if member == 'replace' else ''})", "str")
        raise Declined(f"the method .{member}() with {len(arguments)} arguments")

    def list_method(self, node: Node, member: str) -> Node:
        element = node.kind.partition(":")[2] or ("json" if node.kind == "json" else "any")
        if member in ("some", "every", "filter", "map"):
            self.take("(")
            parameter, body = self.arrow(element)
            self.take(")")
            loop = f"for {parameter} in {node.code}"
            if member == "map":
                return Node(f"[{body.code} {loop}]", f"list:{body.kind}")
            condition = _truthy(body)
            if member == "filter":
                return Node(f"[{parameter} {loop} if {condition}]", node.kind)
            return Node(f"{'any' if member == 'some' else 'all'}({condition} {loop})", "bool")
        arguments = self.arguments()
        if member == "includes" and len(arguments) == 1:
            return Node(f"({arguments[0].code} in {node.code})", "bool")
        if member == "join" and len(arguments) == 1 and arguments[0].kind == "str":
            return Node(f"{arguments[0].code}.join(str(v) for v in {node.code})", "str")
        raise Declined(f"the list method .{member}()")

    def arrow(self, element: str) -> tuple[str, Node]:
        parenthesised = self.accept("(")
        kind, parameter = self.take()
        if parenthesised:
            self.take(")")
        if kind != "name" or parameter in _RESERVED or parameter in self.names:
            raise Declined(f"the arrow parameter {parameter!r}")
        self.take("=>")
        self.names[parameter] = Node(parameter, element)
        if self.accept("{"):
            self.take("return")
            body = self.expression()
            self.accept(";")
            self.take("}")
        else:
            body = self.expression()
        del self.names[parameter]
        return parameter, body


def _as_text(node: Node) -> str:
    if node.kind not in ("str", "any", "json"):
        raise Declined(f"a {node.kind} where text belongs")
    return node.code


def _search(literal: str, text: str) -> str:
    found = REGEX.fullmatch(literal)
    pattern, flags = found.group(1), found.group(2)
    if "(?<" in pattern.replace("(?<=", "").replace("(?<!", "") or set(flags) - set("gimsu"):
        raise Declined("a regular expression with named groups or sticky flags")
    named = " | ".join(f"re.{f.upper()}" for f in flags if f in "ims")
    pattern = pattern.replace("\\/", "/")
    return f"(re.search({pattern!r}, {text}{', ' + named if named else ''}) is not None)"


def _index(node: Node, index: Node) -> Node:
    if node.kind in ("json", "vars", "any") and index.kind in ("str", "num"):
        return Node(f"{node.code}[{index.code}]", "any" if node.kind == "vars" else "json")
    if node.kind.startswith("list") and index.kind == "num" and index.code.isdigit():
        return Node(f"{node.code}[{index.code}]", node.kind.partition(":")[2] or "any")
    raise Declined(f"indexing a {node.kind}")


def _binary(op: str, left: Node, right: Node) -> Node:
    if op in ("&&", "||"):
        return Node(f"({_truthy(left)} {'and' if op == '&&' else 'or'} {_truthy(right)})", "bool")
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
