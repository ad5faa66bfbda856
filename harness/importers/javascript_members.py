"""Members and methods in harness.importers.javascript: ``.length``, a property of parsed JSON, the text methods
(``includes startsWith endsWith toLowerCase ... split indexOf slice replace match``) and the list methods (``some
every filter map includes join``, with one-parameter arrow functions), each written as Python for its kind.

``Members`` is the part of the parser that reads them; the rest of it (harness.importers.javascript) reads the
expressions and statements around them.
"""

from __future__ import annotations

from harness.importers.javascript_nodes import Node, as_text, search, truthy
from harness.importers.javascript_tokens import Declined

_TEXT_CALLS = {"toLowerCase": ".lower()", "toUpperCase": ".upper()", "trim": ".strip()", "trimStart": ".lstrip()",
               "trimEnd": ".rstrip()", "toString": ""}
# Names the python scorer gives an expression, and Python's words: an arrow parameter may not take them.
RESERVED = {"output", "vars", "expected", "case", "response", "json", "re", "math", "len", "any", "all", "str", "int",
            "float", "bool", "max", "min", "abs", "isinstance", "and", "or", "not", "in", "is", "if", "else", "for",
            "lambda", "None", "True", "False", "def", "class", "from", "import", "pass", "return", "with", "as"}
_LIST_ONLY = ("some", "every", "filter", "map", "join")


class Members:
    """Reading ``.member`` and ``.method(...)`` after a value (see the module's docstring)."""

    def member(self, node: Node, member: str) -> Node:
        calling = self.peek()[1] == "("
        if node.kind == "regex":
            if member != "test":
                raise Declined(f"a regular expression's .{member}")
            (text,) = self.arguments()
            return Node(search(node.code, as_text(text)), "bool")
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
            return Node(f"({as_text(key)} in json)" if node.code == "output" else f"({as_text(key)} in {node.code})",
                        "bool")
        if node.kind.startswith("list") or (node.kind in ("json", "any") and member in _LIST_ONLY):
            return self.list_method(node, member)
        return self.text_method(node, member)

    def text_method(self, node: Node, member: str) -> Node:
        if node.kind not in ("str", "any", "json"):
            raise Declined(f".{member}() on a {node.kind}")
        arguments = self.arguments()
        if member == "match" and len(arguments) == 1 and arguments[0].kind == "regex":
            return Node(search(arguments[0].code, node.code), "bool")
        codes = [as_text(a) if a.kind != "num" else a.code for a in arguments]
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
            condition = truthy(body)
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
        if kind != "name" or parameter in RESERVED or parameter in self.names:
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
