"""Server-rendered SVG line charts of released points: the geometry only (no data access).

A chart is served from the project and needs no JavaScript: every point is a mark with its
value (or its reason, for a hidden one) as an accessible name and a tooltip, and a hidden point
breaks the line, so a gap is never drawn over. A chart is one tab stop, not one per wave: only
its latest point is in the tab order; chart.js moves between the points with the arrow keys
(a roving tabindex), and the table under each chart lists every value without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


@dataclass(frozen=True)
class Mark:
    x: float
    y: float | None  # None: hidden, drawn as a gap marker on the axis
    label: str  # what a screen reader and the tooltip say
    tick: str  # the x-axis label (the wave's date)


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    marks: tuple[Mark, ...]
    segments: tuple[str, ...]  # SVG path data, one per run of shown points
    gridlines: tuple[tuple[float, str], ...]  # (y, label)
    baseline: float
    left: int
    right: float

    def marks_svg(self) -> SafeString:
        """The marks and their x-axis labels as SVG, escaped.

        Built here rather than in the template: a chart has a mark per wave and a page a chart
        per dimension, and the template language spends far longer on each of those hundreds
        of small numbers and labels (lookup, localisation, escaping) than this does.
        """
        last = len(self.marks) - 1
        marks = "".join(
            _mark_svg(mark, baseline=self.baseline, height=self.height, tab_stop=i == last)
            for i, mark in enumerate(self.marks)
        )
        return mark_safe(marks)  # noqa: S308 - every label escaped in _mark_svg, the rest are numbers


def _num(value: float) -> str:
    return f"{value:g}"


def _mark_svg(mark: Mark, *, baseline: float, height: int, tab_stop: bool) -> str:
    label = escape(mark.label)
    tabindex = "0" if tab_stop else "-1"
    if mark.y is None:
        shape = (
            f'<g class="gap" tabindex="{tabindex}" role="img" aria-label="{label}"><title>{label}</title>'
            f'<rect x="{_num(mark.x - 5)}" y="{_num(baseline - 12)}" width="10" height="10"/></g>'
        )
    else:
        shape = (
            f'<g class="point" tabindex="{tabindex}" role="img" aria-label="{label}"><title>{label}</title>'
            f'<circle cx="{_num(mark.x)}" cy="{_num(mark.y)}" r="5"/></g>'
        )
    tick = (
        f'<text class="axis" x="{_num(mark.x)}" y="{height - 8}" text-anchor="middle" aria-hidden="true">'
        f"{escape(mark.tick)}</text>"
    )
    return f"\n{shape}\n{tick}"


def line_chart(
    values: Sequence[float | None],
    *,
    labels: Sequence[str],
    ticks: Sequence[str],
    low: float,
    high: float,
    grid: Sequence[tuple[float, str]],
) -> Chart:
    """Marks and line segments for ``values`` on the fixed range ``low``..``high``."""
    n = len(values)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = (high - low) or 1.0

    def x_of(i: int) -> float:
        return LEFT + (inner_w * (i + 0.5) / n if n else 0)

    def y_of(v: float) -> float:
        return TOP + inner_h * (1 - (min(max(v, low), high) - low) / span)

    marks = tuple(
        Mark(x=round(x_of(i), 1), y=None if v is None else round(y_of(v), 1), label=labels[i], tick=ticks[i])
        for i, v in enumerate(values)
    )
    segments, run = [], []
    for mark in marks:
        if mark.y is None:
            segments.append(run)
            run = []
        else:
            run.append(mark)
    segments.append(run)
    paths = tuple("M" + " L".join(f"{m.x},{m.y}" for m in seg) for seg in segments if len(seg) >= 2)
    gridlines = tuple((round(y_of(v), 1), text) for v, text in grid)
    return Chart(
        width=WIDTH,
        height=HEIGHT,
        marks=marks,
        segments=paths,
        gridlines=gridlines,
        baseline=TOP + inner_h,
        left=LEFT,
        right=WIDTH - RIGHT,
    )
