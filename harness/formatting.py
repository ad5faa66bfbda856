"""Numbers and lists as people read them, the same in the terminal, the Markdown summary and the report ("–" when
unknown)."""

from __future__ import annotations

from collections.abc import Sequence

LISTED = 15  # items a line or list names before "… and N more"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def usd(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def p_value(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def listing(items: Sequence[str]) -> str:
    """The first LISTED items, comma-separated, and how many more there are: 'a, b, … and 3 more'."""
    more = f", … and {len(items) - LISTED} more" if len(items) > LISTED else ""
    return ", ".join(items[:LISTED]) + more
