"""Numbers as people read them, the same in the terminal, the Markdown summary and the report ("–" when unknown)."""

from __future__ import annotations

LISTED = 15  # items a line or list names before "… and N more"


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def usd(value: float | None) -> str:
    return "–" if value is None else f"${value:.4f}"


def p_value(value: float) -> str:
    return "<0.001" if value < 0.001 else f"{value:.3f}"
