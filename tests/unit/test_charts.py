"""Server-drawn SVG charts: marks sized to their values, readable axes, tooltips, and
text from the catalog escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from mediaserver import charts
from mediaserver.charts import Point
from mediaserver.ui import filters

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(markup: str) -> ET.Element:
    """The <svg> inside the figure, parsed (which also proves it is well-formed XML)."""
    figure = ET.fromstring(str(markup))
    found = figure.find(f"{SVG}svg")
    assert found is not None, markup
    return found


@pytest.mark.parametrize(
    ("value", "whole", "lines"),
    [
        (0, False, [0, 1]),
        (0.3, False, [0, 0.1, 0.2, 0.3]),
        (4, False, [0, 1, 2, 3, 4]),
        (7, False, [0, 2, 4, 6, 8]),
        (21, False, [0, 10, 20, 30]),
        (260, False, [0, 100, 200, 300]),
        (1, True, [0, 1]),
        (3, True, [0, 1, 2, 3]),
    ],
)
def test_axes_step_in_round_numbers(value: float, whole: bool, lines: list[float]) -> None:
    assert charts.axis(value, whole=whole) == pytest.approx(lines)


def test_columns_are_as_tall_as_their_values() -> None:
    svg = svg_of(charts.columns([Point("Mon", 2), Point("Tue", 4), Point("Wed", 0)], title="Plays"))
    bars = svg.findall(f"{SVG}rect")
    heights = [float(b.get("height", "")) for b in bars]
    assert heights[1] == pytest.approx(2 * heights[0]) and heights[2] == 0
    assert [b.get("data-label") for b in bars] == ["Mon", "Tue", "Wed"]
    assert bars[1].findtext(f"{SVG}title") == "Tue: 4"
    assert svg.get("role") == "img" and svg.get("aria-label") == "Plays"
    assert "4" in [t.text for t in svg.findall(f"{SVG}text")]  # the top of the axis


def test_bars_escape_titles_and_link_them() -> None:
    nasty = '<script>alert(1)</script>"&'
    out = charts.bars([Point(nasty, 3), Point("Ok", 1)], title="Top", links=["/a?x=1&y=2", "/b"])
    assert "<script>" not in out
    svg = svg_of(out)
    links = svg.findall(f"{SVG}a")
    assert [a.get("href") for a in links] == ["/a?x=1&y=2", "/b"]
    widths = [float(r.get("width", "")) for r in svg.findall(f"{SVG}rect")]
    assert widths[0] == pytest.approx(3 * widths[1], abs=0.05)  # drawn to 2 decimals
    assert svg.findall(f"{SVG}rect")[0].get("data-label") == nasty


def test_share_splits_the_width_and_names_each_part() -> None:
    out = charts.share([Point("Direct", 3), Point("Remux", 0), Point("Transcode", 1)], title="S")
    parts = svg_of(out).findall(f"{SVG}rect")
    assert [float(p.get("width", "")) for p in parts] == [540, 0, 180]
    assert "Direct: 75% (3)" in out and "Transcode: 25% (1)" in out


def test_heatmaps_are_brightest_where_most_happened() -> None:
    grid = svg_of(charts.grid(["Mon", "Tue"], ["00", "01"], [[0, 1], [4, 2]], title="G"))
    opacity = [float(c.get("fill-opacity", "")) for c in grid.findall(f"{SVG}rect")]
    assert opacity == pytest.approx([0, 0.36, 1.0, 0.575], abs=0.006)  # 0.15 + 0.85 × share
    strip = svg_of(charts.strip([0, 5, 10, 0], 400, title="M", marks=[(200, "Credits")]))
    cells = strip.findall(f"{SVG}rect")
    assert [c.get("data-value") for c in cells] == ["0", "5", "10", "0"]
    assert cells[1].findtext(f"{SVG}title") == "100 s to 200 s: 5"
    mark = strip.find(f"{SVG}line")
    assert mark is not None and mark.get("x1") == "360"


def test_nothing_to_draw_says_so() -> None:
    for empty in (
        charts.columns([Point("Mon", 0)], title="A"),
        charts.bars([], title="B"),
        charts.share([Point("Direct", 0)], title="C"),
        charts.grid(["Mon"], ["00"], [[0]], title="D"),
        charts.strip([0, 0], 100, title="E"),
    ):
        assert "Nothing to show yet." in empty and "<svg" not in empty


def axis_labels(markup: str) -> list[str]:
    """The gridline labels of a columns chart (right-aligned text left of the plot)."""
    return [
        t.text or "" for t in svg_of(markup).findall(f"{SVG}text") if t.get("text-anchor") == "end"
    ]


@pytest.mark.parametrize(
    ("peak_hours", "first_labels"),
    [
        (8 / 3600, ["0", "2 s", "4 s", "6 s", "8 s"]),  # a few seconds of a test clip
        (40 / 3600, ["0", "10 s", "20 s", "30 s", "40 s"]),
        (0.05, ["0", "1 min", "2 min", "3 min"]),  # "0 min" four times, before
        (0.2, ["0", "5 min", "10 min", "15 min"]),
        (1.4, ["0", "30 min", "1 h", "1 h 30 min"]),
        (7, ["0", "2 h", "4 h", "6 h", "8 h"]),
        (1000, ["0", "500 h", "1,000 h"]),
    ],
)
def test_time_axes_label_each_gridline_differently(
    peak_hours: float, first_labels: list[str]
) -> None:
    points = [Point("Mon", peak_hours / 3), Point("Tue", peak_hours)]
    labels = axis_labels(charts.columns(points, title="Hours", scale=charts.time_ticks))
    assert labels == first_labels
    values = [v for v, _ in charts.time_ticks(peak_hours)]
    assert values[-1] >= peak_hours and len(set(labels)) == len(labels)


@pytest.mark.parametrize("peak", [0.003, 0.03, 0.07, 0.3, 4, 7, 1234.5, 98_765])
def test_number_axes_label_each_gridline_differently(peak: float) -> None:
    labels = axis_labels(charts.columns([Point("a", peak)], title="N"))
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    assert labels[0] == "0"


@pytest.mark.parametrize("length_s", [3, 7.5, 45, 600, 5400, 3 * 3600 + 17])
def test_a_strip_timeline_never_repeats_a_time(length_s: float) -> None:
    svg = svg_of(charts.strip([1, 2, 3, 4], length_s, title="M", clock=filters.timestamp))
    times = [t.text or "" for t in svg.findall(f"{SVG}text")]
    assert times[0] == "0:00" and len(times) >= 2
    assert len(set(times)) == len(times), times
