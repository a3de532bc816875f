"""Bar and line charts, laid out on the server and drawn as SVG by ``templates/charts.html``.

This module turns plain data (labels, numbers, links) into geometry, so the template only prints
attributes: no JavaScript, no inline styles, nothing the Content-Security-Policy would refuse.
It knows nothing about findings or the registry; the door that calls it supplies the links.

Colour never carries meaning alone: every bar shows its label and its number as text, and its
accessible name says both. A ``tone`` only picks the fill (and, for severities, a pattern).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

# --- Bar charts (horizontal: the label sits above its bar, so the chart stays narrow) -----

#: Drawing width. Narrow enough to fit a phone without shrinking the text much.
BAR_CHART_WIDTH = 310
PAD = 2
#: Room kept right of the longest bar for its number.
VALUE_SPACE = 46
#: Labels longer than this are cut with "…"; the full text is in the bar's <title> and name.
LABEL_CHARS = 38
LABEL_HEIGHT = 21
BAR_HEIGHT = 16
ROW_GAP = 11
ROW_HEIGHT = LABEL_HEIGHT + BAR_HEIGHT + ROW_GAP
HEADING_HEIGHT = 26
#: A bar for a non-zero value is at least this long, so "1" never looks like "0".
MIN_BAR = 2.0


def shorten(text: str, limit: int = LABEL_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when it was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def count_phrase(value: int, unit: str) -> str:
    """ "1 open finding", "3 open findings" (``unit`` is the singular)."""
    return f"{value} {unit}" if value == 1 else f"{value} {unit}s"


@dataclass(frozen=True)
class Datum:
    """One bar's data, before layout."""

    label: str
    value: int
    href: str | None = None
    #: Picks the fill: "critical", "high", "medium", "low" (with patterns) or "neutral".
    tone: str = "neutral"
    #: Consecutive data with the same group are drawn under one heading (rules under their severity).
    group: str | None = None
    #: Extra words for the accessible name and tooltip, e.g. "high severity".
    note: str = ""


@dataclass
class Bar:
    label: str
    short_label: str
    value: int
    href: str | None
    tone: str
    #: The accessible name and tooltip: the full label, the note, and the number in words.
    name: str
    #: The whole row (label and track): the link's target area.
    row_y: float
    row_height: float
    label_y: float
    #: The bar itself; ``width`` is proportional to ``value``.
    x: float
    y: float
    width: float
    height: float
    #: Where the number is written (just after the bar).
    value_x: float
    value_y: float


@dataclass
class Heading:
    text: str
    y: float
    #: Where the rule under the heading is drawn.
    line_y: float


@dataclass
class BarChart:
    title: str
    bars: list[Bar] = field(default_factory=list)
    headings: list[Heading] = field(default_factory=list)
    width: int = BAR_CHART_WIDTH
    height: int = 0
    #: The full length a bar could have (the track behind each bar).
    track_x: float = PAD
    track_width: float = 0
    max_value: int = 0

    @property
    def total(self) -> int:
        return sum(b.value for b in self.bars)

    @property
    def is_empty(self) -> bool:
        return not self.bars


def bar_chart(title: str, data: Iterable[Datum], unit: str = "item", width: int = BAR_CHART_WIDTH) -> BarChart:
    """Lay out horizontal bars, one row per datum, in the order given.

    Bar lengths are proportional to the values (the largest fills the track; a non-zero bar is
    at least MIN_BAR long); zero values get an empty track and the number 0. A heading row is
    inserted wherever ``group`` changes. ``unit`` is the singular noun for accessible names.
    """
    items = list(data)
    chart = BarChart(title=title, width=width)
    chart.track_width = width - 2 * PAD - VALUE_SPACE
    chart.max_value = max((d.value for d in items), default=0)
    y: float = PAD
    group: str | None = None
    for datum in items:
        if datum.group is not None and datum.group != group:
            group = datum.group
            chart.headings.append(Heading(datum.group, y + 15, y + 21))
            y += HEADING_HEIGHT
        length = 0.0
        if datum.value > 0 and chart.max_value > 0:
            length = max(MIN_BAR, round(chart.track_width * datum.value / chart.max_value, 1))
        bar_y = y + LABEL_HEIGHT
        note = f" ({datum.note})" if datum.note else ""
        chart.bars.append(
            Bar(
                label=datum.label,
                short_label=shorten(datum.label),
                value=datum.value,
                href=datum.href,
                tone=datum.tone,
                name=f"{datum.label}{note}: {count_phrase(datum.value, unit)}",
                row_y=y,
                row_height=LABEL_HEIGHT + BAR_HEIGHT + 4,
                label_y=y + 15,
                x=chart.track_x,
                y=bar_y,
                width=length,
                height=BAR_HEIGHT,
                value_x=chart.track_x + length + 6,
                value_y=bar_y + BAR_HEIGHT - 3,
            )
        )
        y += ROW_HEIGHT
    chart.height = math.ceil(y - ROW_GAP + PAD) if items else 0
    return chart


# --- Line charts (a series of daily counts) -----------------------------------------------

LINE_CHART_WIDTH = 640
LINE_CHART_HEIGHT = 230
#: Plot margins: numbers on the left axis, dates under the bottom one.
LEFT, RIGHT, TOP, BOTTOM = 44, 20, 14, 30
POINT_RADIUS = 4
#: Below this many pixels between days, dots shrink so a long run of days stays a line.
CROWDED = 12
#: A point's link reaches a little beyond its dot, so it is easier to hit.
POINT_TARGET = 10


@dataclass(frozen=True)
class Observation:
    day: date
    value: int
    href: str | None = None
    #: Extra words for the point's name, e.g. "3 critical, 12 high".
    note: str = ""


@dataclass
class Point:
    day: date
    value: int
    href: str | None
    name: str
    x: float
    y: float


@dataclass
class Tick:
    label: str
    #: x for a date tick, y for a value tick.
    at: float
    #: SVG text-anchor: the first and last dates are kept inside the drawing.
    anchor: str = "middle"


@dataclass
class LineChart:
    title: str
    points: list[Point] = field(default_factory=list)
    #: SVG path data for the line and for the filled area under it.
    line: str = ""
    area: str = ""
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    width: int = LINE_CHART_WIDTH
    height: int = LINE_CHART_HEIGHT
    left: float = LEFT
    right: float = LINE_CHART_WIDTH - RIGHT
    top: float = TOP
    bottom: float = LINE_CHART_HEIGHT - BOTTOM
    y_max: int = 0
    point_radius: int = POINT_RADIUS
    point_target: int = POINT_TARGET

    @property
    def enough(self) -> bool:
        """A line needs two days at least."""
        return len(self.points) >= 2


def nice_ceiling(value: int, ticks: int = 4) -> tuple[int, int]:
    """(top, step): a round step (1, 2 or 5 × 10ⁿ, at least 1) and the first multiple of it ≥ ``value``."""
    raw = max(value, 1) / ticks
    magnitude = 10 ** max(0, math.floor(math.log10(raw))) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return max(step, step * math.ceil(value / step)), step


def _fmt(number: float) -> str:
    return f"{number:.1f}".rstrip("0").rstrip(".")


def line_chart(
    title: str,
    observations: Sequence[Observation],
    unit: str = "item",
    width: int = LINE_CHART_WIDTH,
    height: int = LINE_CHART_HEIGHT,
    date_ticks: int = 5,
) -> LineChart:
    """Place daily values on a time axis (missing days leave a gap in x, not a squeezed line).

    With fewer than two observations the chart has its points but no line (``enough`` is False):
    the page says so instead of drawing a single dot.
    """
    obs = sorted(observations, key=lambda o: o.day)
    chart = LineChart(title=title, width=width, height=height, right=width - RIGHT, bottom=height - BOTTOM)
    chart.y_max, step = nice_ceiling(max((o.value for o in obs), default=0))
    plot_w, plot_h = chart.right - chart.left, chart.bottom - chart.top
    first = obs[0].day if obs else date.today()
    span = max(1, (obs[-1].day - first).days) if obs else 1

    def x_of(day: date) -> float:
        return round(chart.left + plot_w * (day - first).days / span, 1) if len(obs) > 1 else chart.left + plot_w / 2

    def y_of(value: int) -> float:
        return round(chart.bottom - plot_h * value / chart.y_max, 1)

    if obs and plot_w / span < CROWDED:
        chart.point_radius = 3 if plot_w / span >= CROWDED / 2 else 2
    for o in obs:
        note = f" ({o.note})" if o.note else ""
        chart.points.append(
            Point(o.day, o.value, o.href, f"{o.day:%d %b %Y}: {count_phrase(o.value, unit)}{note}", x_of(o.day), y_of(o.value))
        )
    chart.y_ticks = [Tick(str(v), y_of(v)) for v in range(0, chart.y_max + 1, step)]
    if chart.enough:
        chart.line = "M" + " L".join(f"{_fmt(p.x)},{_fmt(p.y)}" for p in chart.points)
        last, first_p = chart.points[-1], chart.points[0]
        chart.area = f"{chart.line} L{_fmt(last.x)},{_fmt(chart.bottom)} L{_fmt(first_p.x)},{_fmt(chart.bottom)} Z"
        days = sorted({round(i * span / (date_ticks - 1)) for i in range(date_ticks)}) if span >= date_ticks else range(span + 1)
        chart.x_ticks = [Tick(f"{first + timedelta(days=d):%d %b}", x_of(first + timedelta(days=d))) for d in days]
        chart.x_ticks[0].anchor, chart.x_ticks[-1].anchor = "start", "end"
    return chart
