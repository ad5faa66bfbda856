"""Charts as inline SVG, drawn on the server: they show with scripts off and need no library.

Only numbers and our own labels become markup; any text from the data goes through the
template's escaping (labels are passed back as plain strings, never built into SVG here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # in [0, 1]
    low: float
    high: float
    y: float = 0.0


@dataclass(frozen=True)
class IntervalChart:
    """Horizontal bars with their 95% intervals: a pass rate per variant."""

    bars: list[Bar]
    width: int = 520
    label_width: int = 200
    row_height: int = 28
    ticks: list[tuple[float, str]] = field(default_factory=lambda: [(t / 100, f"{t}%") for t in range(0, 101, 25)])

    @property
    def height(self) -> int:
        return self.row_height * len(self.bars) + 30

    def x(self, value: float) -> float:
        return round(self.label_width + value * (self.width - self.label_width - 24), 1)


def interval_chart(rows: Sequence[tuple[str, float | None, float, float]]) -> IntervalChart:
    chart = IntervalChart(bars=[])
    for i, (label, value, low, high) in enumerate(rows):
        chart.bars.append(Bar(label, value or 0.0, low, high, y=i * chart.row_height + 6))
    return chart


@dataclass(frozen=True)
class Histogram:
    """Counts over shared bins, one small multiple per variant, so shapes compare at a glance."""

    title: str
    unit: str
    edges: list[float]
    series: list[tuple[str, list[int]]]
    width: int = 260
    height: int = 90

    @property
    def peak(self) -> int:
        return max((max(counts) for _, counts in self.series if counts), default=0) or 1

    def bars(self, counts: list[int]) -> list[tuple[float, float, float, float, int]]:
        """(x, y, width, height, count) per bin, in a plot area of width x height."""
        step = self.width / max(1, len(counts))
        return [(round(i * step, 1), round(self.height - c / self.peak * self.height, 1), round(step - 1, 1),
                 round(c / self.peak * self.height, 1), c) for i, c in enumerate(counts)]


def histogram(title: str, unit: str, series: Sequence[tuple[str, Sequence[float]]], *, bins: int = 12,
              lower: float | None = None, upper: float | None = None) -> Histogram | None:
    values = [v for _, vs in series for v in vs]
    if not values:
        return None
    low = min(values) if lower is None else lower
    high = max(values) if upper is None else upper
    if high <= low:
        high = low + 1
    width = (high - low) / bins
    edges = [low + i * width for i in range(bins + 1)]
    counted = []
    for name, vs in series:
        counts = [0] * bins
        for v in vs:
            counts[min(bins - 1, max(0, int((v - low) / width)))] += 1
        counted.append((name, counts))
    return Histogram(title=title, unit=unit, edges=edges, series=counted)
