"""What an importer produces: the suite as data, what it could not translate, and the tally the command prints.

The suite is plain data (dicts and lists, in the order they are written) with ``Comment`` markers where something
was left untranslated: harness.importers.yamlout writes them as YAML comments holding the original.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.located import line_of


@dataclass(frozen=True)
class Comment:
    """Lines written as a YAML comment where this stands (an item of a list, or an entry of a mapping), followed by
    ``original`` (when there is one) written as YAML."""

    lines: tuple[str, ...]
    original: Any = field(default=None, compare=False)

    @classmethod
    def left_out(cls, kind: str, original: Any, reason: str = "") -> Comment:
        """The comment for something not translated: its kind, why, and the original (credentials not copied)."""
        return cls((f"untranslated ({kind})" + (f": {reason}" if reason else ""),), without_secrets(original))


SECRET_WORDS = ("apikey", "api_key", "token", "secret", "password", "authorization", "credential")


def without_secrets(value: Any, name: str = "") -> Any:
    """``value`` with whatever a key named like a credential holds replaced (an env: block's values too)."""
    if any(word in name.lower().replace("-", "_") for word in SECRET_WORDS) or name == "env":
        return {k: "(not copied)" for k in value} if isinstance(value, dict) else "(not copied)"
    if isinstance(value, dict):
        return {k: without_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


@dataclass
class Tally:
    """Assertions by source type, translated or not; untranslated kinds (assertions and other parts) by count."""

    total: Counter = field(default_factory=Counter)
    translated: Counter = field(default_factory=Counter)
    untranslated: Counter = field(default_factory=Counter)
    other: Counter = field(default_factory=Counter)

    def assertion(self, kind: str, *, translated: bool, as_kind: str | None = None) -> None:
        self.total[kind] += 1
        if translated:
            self.translated[kind] += 1
        else:
            self.untranslated[as_kind or kind] += 1

    def add(self, other: Tally) -> None:
        for mine, theirs in ((self.total, other.total), (self.translated, other.translated),
                             (self.untranslated, other.untranslated), (self.other, other.other)):
            mine.update(theirs)


@dataclass
class Imported:
    """One imported config: the suite (data with Comment markers) and what the import could and could not do."""

    source: Path
    tool: str
    suite: dict[str, Any]
    tally: Tally
    # Files written beside the suite, which it names (a few-shot examples file, a checks file): name -> text.
    files: dict[str, str] = field(default_factory=dict)
    # Files the suite names that are copied beside it (a check file of the config's folder): name -> the original.
    copies: dict[str, Path] = field(default_factory=dict)

    @property
    def prompts(self) -> int:
        return sum(isinstance(p, dict) for p in self.suite.get("prompts", []))

    @property
    def cases(self) -> int:
        cases = self.suite.get("cases", [])
        return sum(isinstance(c, dict) for c in cases) if isinstance(cases, list) else 0


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3``... whichever is not taken yet (and take it)."""
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    taken.add(candidate)
    return candidate


def literal_text(text: str) -> str:
    """Text to be sent as it is, made safe to stand in a Jinja template (harness renders prompt text)."""
    if any(mark in text for mark in ("{{", "{%", "{#")):
        return "{% raw %}" + text.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}") + "{% endraw %}"
    return text


class Untranslatable(Exception):
    """Something of the config harness cannot express: ``kind`` is what it is counted as, the message says why."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind


@dataclass
class Context:
    """What one import is working with: the config (its file and YAML node tree, for lines), the files it names, and
    the tally the import builds up."""

    file: Path
    root: Any
    sources: Any
    tally: Tally = field(default_factory=Tally)
    defaults: dict[str, Any] = field(default_factory=dict)  # importer-wide settings (a default embedding model)
    checks: Any = None  # the Python checks file written beside the suite (promptfoo_python.ChecksFile), if any

    def scratch(self) -> Context:
        """A context for the same config whose tally starts empty (to count something once only)."""
        return Context(self.file, self.root, self.sources, defaults=self.defaults, checks=self.checks)

    def line(self, *loc: Any) -> int | None:
        return line_of(self.root, loc)

    def left_out(self, kind: str, original: Any, reason: str = "") -> Comment:
        """A part of the config (not an assertion) left untranslated: counted under ``kind``, kept as a comment."""
        self.tally.other[kind] += 1
        return Comment.left_out(kind, original, reason)
