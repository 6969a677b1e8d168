"""A bar chart as server-rendered SVG geometry (templates/analytics/_bar_chart.html draws
it): no JavaScript, prints and reads the same everywhere, and the page's data table carries
the same numbers for screen readers."""

import math
from dataclasses import dataclass
from decimal import Decimal

WIDTH = 640
HEIGHT = 240
LEFT = 56  # room for the value axis' labels
RIGHT = 8
TOP = 12
BOTTOM = 40  # room for the bar labels
TICKS = 4


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # under the bar (short)
    title: str  # the whole name, in the bar's <title>
    value: Decimal
    label_x: float


@dataclass
class Tick:
    y: float
    value: Decimal


@dataclass
class BarChart:
    bars: list[Bar]
    ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM
    label_y: int = HEIGHT - BOTTOM + 16

    @property
    def is_empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that holds `value` in TICKS steps."""
    if value <= 0:
        return Decimal(TICKS)
    raw = float(value) / TICKS
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= raw:
            return Decimal(str(step * power)) * TICKS
    return Decimal(str(10 * power)) * TICKS  # pragma: no cover


def bar_chart(points: list[tuple[str, str, Decimal]]) -> BarChart:
    """`points`: (short label, full title, value) from left to right."""
    top = nice_ceiling(max((value for _, _, value in points), default=Decimal("0")))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(points), 1)
    width = min(slot * 0.7, 64)
    bars = []
    for index, (label, title, value) in enumerate(points):
        height = float(value / top) * plot_height if top else 0.0
        x = LEFT + index * slot + (slot - width) / 2
        bars.append(
            Bar(
                x=round(x, 1),
                y=round(TOP + plot_height - height, 1),
                width=round(width, 1),
                height=round(height, 1),
                label=label,
                title=title,
                value=value,
                label_x=round(x + width / 2, 1),
            )
        )
    ticks = [
        Tick(y=round(TOP + plot_height - plot_height * i / TICKS, 1), value=top * i / TICKS)
        for i in range(TICKS + 1)
    ]
    return BarChart(bars=bars, ticks=ticks)
