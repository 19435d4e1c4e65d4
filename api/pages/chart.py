"""The desk's chart: points per month, stacked by category, as SVG drawn by the server.

The page must work offline and on a phone, so no chart library: this module turns the
months into rectangles and ticks in a fixed viewBox, and the template writes them as
``<rect>`` and ``<text>``; the browser scales the SVG to the screen. A month whose
reversals or deductions outweigh its awards in a category draws nothing for it (the
figure beside the chart keeps the exact totals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.pages.zh import CATEGORIES
from ledger import Month

WIDTH, HEIGHT = 360, 220
"""The viewBox: a phone's width in CSS pixels, so text drawn at 10 reads at 10 there."""

LEFT, RIGHT, TOP, BOTTOM = 34, 6, 10, 22
"""Margins: the y-axis figures on the left, the month numbers below."""

TICKS_MAX = 5
"""Gridlines: enough to read a bar against, few enough to leave the bars legible."""

BAR_SHARE = 0.7
"""The part of a month's band its bar fills; the rest separates the months."""

COLORS = {
    "patrol": "#2b6cb0",
    "task": "#dd6b20",
    "event_report": "#2f855a",
    "diary": "#805ad5",
    "activity": "#c53030",
    "other": "#718096",
}
"""One colour per category, apart in hue and in lightness so neighbours stay distinct."""


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass(frozen=True, slots=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: Sequence[Bar]
    months: Sequence[Tick]
    ticks: Sequence[Tick]
    legend: Sequence[tuple[str, str]]
    total_points: int
    axis_y: float
    left: float
    right: float


def nice_step(top: int) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ that covers ``top`` in at most ``TICKS_MAX`` steps."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor * TICKS_MAX >= top:
                return step * factor
        step *= 10


def monthly_chart(months: Sequence[Month]) -> Chart:
    stacks = [{c: max(0, p) for c, p in m.by_category.items()} for m in months]
    highest = max((sum(s.values()) for s in stacks), default=0)
    step = nice_step(max(highest, 1))
    top = step * -(-max(highest, 1) // step)
    plot_height = HEIGHT - TOP - BOTTOM
    band = (WIDTH - LEFT - RIGHT) / max(len(months), 1)
    scale = plot_height / top
    axis_y = HEIGHT - BOTTOM
    bars, labels = [], []
    for i, (month, stack) in enumerate(zip(months, stacks, strict=True)):
        x = LEFT + i * band + band * (1 - BAR_SHARE) / 2
        y = float(axis_y)
        for category in COLORS:
            points = stack.get(category, 0)
            if points:
                height = points * scale
                y -= height
                title = f"{month.month} {CATEGORIES[category]} {points} 分"
                bars.append(
                    Bar(round(x, 1), round(y, 1), round(band * BAR_SHARE, 1), round(height, 1), COLORS[category], title)
                )
        labels.append(Tick(round(LEFT + (i + 0.5) * band, 1), str(int(month.month[-2:]))))
    ticks = [Tick(round(axis_y - v * scale, 1), str(v)) for v in range(0, top + 1, step)]
    seen = {c for s in stacks for c, p in s.items() if p}
    legend = [(COLORS[c], CATEGORIES[c]) for c in COLORS if c in seen]
    total = sum(p for m in months for p in m.by_category.values())
    return Chart(WIDTH, HEIGHT, bars, labels, ticks, legend, total, axis_y, LEFT, WIDTH - RIGHT)
