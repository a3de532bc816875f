"""Chart geometry from plain data (app/services/charts.py), and the SVG the macros draw from it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import Flask, render_template_string

from app.services import charts
from app.services.charts import Datum, Observation


def test_bar_lengths_are_proportional_to_the_values() -> None:
    chart = charts.bar_chart("Findings", [Datum("A", 40), Datum("B", 10), Datum("C", 30)])
    a, b, c = chart.bars
    assert a.width == chart.track_width  # the largest fills the track
    assert b.width == pytest.approx(chart.track_width / 4, abs=0.1)
    assert c.width == pytest.approx(chart.track_width * 3 / 4, abs=0.1)
    # Bars start together; each row sits below the previous one; numbers follow their bars.
    assert {bar.x for bar in chart.bars} == {chart.track_x}
    assert a.y < b.y < c.y and chart.height > c.y + c.height
    for bar in chart.bars:
        assert bar.value_x > bar.x + bar.width
        assert bar.x + bar.width <= chart.width


def test_zero_values_draw_an_empty_track_and_never_divide_by_zero() -> None:
    chart = charts.bar_chart("Findings", [Datum("None here", 0), Datum("Also none", 0)], unit="open finding")
    assert [b.width for b in chart.bars] == [0, 0]
    assert chart.bars[0].name == "None here: 0 open findings"
    mixed = charts.bar_chart("Findings", [Datum("Zero", 0), Datum("Tiny", 1), Datum("Huge", 100_000)])
    zero, tiny, huge = mixed.bars
    assert zero.width == 0
    assert tiny.width == charts.MIN_BAR  # visible: 1 never looks like 0
    assert huge.width == mixed.track_width


def test_an_empty_chart_has_no_bars_and_no_height() -> None:
    chart = charts.bar_chart("Findings", [])
    assert chart.is_empty and chart.height == 0 and chart.total == 0


def test_long_labels_are_truncated_and_the_full_text_kept_in_the_name() -> None:
    long = "Shared password where per-person access exists on every platform"
    chart = charts.bar_chart("Rules", [Datum(long, 3, note="low severity"), Datum("Short", 1)], unit="open finding")
    bar, short = chart.bars
    assert len(bar.short_label) == charts.LABEL_CHARS and bar.short_label.endswith("…")
    assert long.startswith(bar.short_label[:-1])
    assert bar.name == f"{long} (low severity): 3 open findings"
    assert short.short_label == "Short" and short.name == "Short: 1 open finding"


def test_a_heading_is_inserted_where_the_group_changes() -> None:
    chart = charts.bar_chart(
        "Rules", [Datum("a", 1, group="Critical"), Datum("b", 2, group="Critical"), Datum("c", 3, group="High")]
    )
    assert [h.text for h in chart.headings] == ["Critical", "High"]
    critical, high = chart.headings
    a, b, c = chart.bars
    assert critical.y < a.row_y and b.row_y + b.row_height < high.y < c.row_y


def test_the_bar_macro_draws_links_titles_and_presentation_attributes_only(app: Flask) -> None:
    long = "Recovery goes to a personal inbox or phone, or to a pager"
    chart = charts.bar_chart(
        "By rule", [Datum(long, 5, "/findings/?rule=x", "high"), Datum("No department", 2)], unit="open finding"
    )
    svg = render_template_string('{% from "charts.html" import bar_chart %}{{ bar_chart(chart, "c") }}', chart=chart)
    assert f"<title>{long}: 5 open findings</title>" in svg
    assert f'aria-label="{long}: 5 open findings"' in svg
    assert charts.shorten(long) + "</text>" in svg
    assert '<a href="/findings/?rule=x"' in svg
    assert svg.count("<a ") == 1  # a bar without a link is a labelled group instead
    assert 'role="img" aria-label="No department: 2 open findings"' in svg
    assert 'fill="url(#c-hatch)"' in svg  # high: a pattern as well as a colour
    assert not re.search(r"\sstyle\s*=|<style|<script|\son\w+\s*=", svg, re.I)


# --- Line charts --------------------------------------------------------------------------


def _days(*values: int, start: date = date(2026, 1, 1), every: int = 1) -> list[Observation]:
    return [Observation(start + timedelta(days=i * every), v, "/findings/") for i, v in enumerate(values)]


def test_a_line_needs_two_days() -> None:
    assert not charts.line_chart("Trend", []).enough
    one = charts.line_chart("Trend", _days(5))
    assert not one.enough and one.line == "" and len(one.points) == 1


def test_points_are_placed_by_date_and_value() -> None:
    obs = [
        Observation(date(2026, 1, 1), 40),
        Observation(date(2026, 1, 2), 20),
        Observation(date(2026, 1, 11), 0),  # a gap of nine days is a gap in x, not a squeezed line
    ]
    chart = charts.line_chart("Trend", list(reversed(obs)), unit="open finding")
    first, second, last = chart.points
    assert [p.day for p in chart.points] == [o.day for o in obs]  # sorted by date
    assert (first.x, last.x) == (chart.left, chart.right)
    assert second.x - first.x == pytest.approx((chart.right - chart.left) / 10, abs=0.1)
    assert last.y == chart.bottom and first.y == pytest.approx(chart.top, abs=0.1)
    assert second.y == pytest.approx((chart.top + chart.bottom) / 2, abs=0.1)
    assert chart.line.startswith(f"M{charts._fmt(first.x)},") and chart.area.endswith("Z")
    assert first.name == "01 Jan 2026: 40 open findings"
    assert [t.label for t in chart.y_ticks] == ["0", "10", "20", "30", "40"]
    assert chart.x_ticks[0].label == "01 Jan" and chart.x_ticks[-1].label == "11 Jan"
    assert (chart.x_ticks[0].anchor, chart.x_ticks[-1].anchor) == ("start", "end")


def test_long_runs_of_days_get_smaller_dots() -> None:
    assert charts.line_chart("Trend", _days(1, 2, every=30)).point_radius == charts.POINT_RADIUS
    assert charts.line_chart("Trend", _days(*range(90))).point_radius < charts.POINT_RADIUS


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, (1, 1)), (1, (1, 1)), (3, (3, 1)), (7, (8, 2)), (40, (40, 10)), (86, (100, 50)), (117, (150, 50)), (1234, (1500, 500))],
)
def test_the_value_axis_ends_on_a_round_number(value: int, expected: tuple[int, int]) -> None:
    assert charts.nice_ceiling(value) == expected


def test_the_line_macro_links_every_point(app: Flask) -> None:
    chart = charts.line_chart("Open findings", _days(9, 7, 8), unit="open finding")
    svg = render_template_string('{% from "charts.html" import line_chart %}{{ line_chart(chart, "t") }}', chart=chart)
    assert svg.count('<a href="/findings/"') == 3
    assert 'aria-label="02 Jan 2026: 7 open findings"' in svg
    assert not re.search(r"\sstyle\s*=|<style|<script|\son\w+\s*=", svg, re.I)
