"""Charts drawn on the server as SVG: no script, no network, nothing the CSP has to allow.

Five shapes cover the analytics pages: columns over time or hours, horizontal bars for
ranked titles and people, a share bar (direct play against transcode), a grid heatmap
(weekday × hour) and a strip heatmap over an item's timeline.  Each returns markup ready
for a template: a ``<figure>`` with the ``<svg>`` (``role="img"`` and a label), a
``<title>`` on every mark so hovering shows its value, and colours from CSS classes in
``app.css`` (``chart-*``).  Geometry is in viewBox units; CSS scales the picture to fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = [
    "Point",
    "Ticks",
    "axis",
    "bars",
    "columns",
    "grid",
    "share",
    "strip",
    "ticks",
    "time_ticks",
]

Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    value: float
    note: str = ""  # more for the tooltip: "12 plays"


def axis(value: float, *, whole: bool = False) -> list[float]:
    """Gridline values from 0 to at least ``value`` in 1, 2 or 5 × 10ⁿ steps, about four
    of them: 0, 2, 4, 6, 8 for 7.  ``whole`` keeps steps at 1 or more (counts of plays)."""
    if value <= 0:
        return [0.0, 1.0]
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    if whole:
        step = max(1.0, round(step))
    count = math.ceil(value / step - 1e-9)
    return [round(step * n, 10) for n in range(count + 1)]


Ticks = list[tuple[float, str]]  # (value, label) of each gridline


def ticks(top: float, *, whole: bool = False) -> Ticks:
    """:func:`axis` with labels that show as many decimals as the step needs, so no two
    read the same (0, 0.05, 0.10, 0.15 rather than 0, 0.1, 0.1, 0.2)."""
    lines = axis(top, whole=whole)
    step = lines[1] - lines[0]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return [(v, "0" if v == 0 else f"{v:,.{decimals}f}") for v in lines]


# Steps a clock reads easily, in seconds: 1 s to 12 h, then 1, 2 and 5 × 10ⁿ hours.
_CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
                3600, 7200, 10800, 21600, 43200)  # fmt: skip


def _clock_step(seconds: float, parts: int = 4) -> float:
    """The smallest easy step that covers ``seconds`` in about ``parts`` steps."""
    raw = seconds / parts
    for step in _CLOCK_STEPS:
        if step >= raw * (1 - 1e-9):
            return float(step)
    hours = raw / 3600
    power = 10 ** math.floor(math.log10(hours))
    return 3600.0 * next(m * power for m in (1, 2, 5, 10) if m * power >= hours * (1 - 1e-9))


def _span_label(seconds: float, step: float) -> str:
    """``45 s``, ``1 min 30 s``, ``12 min``, ``1 h 30 min``, ``6 h``, in the step's unit
    and finer only where needed, so that distinct values read differently."""
    total = round(seconds)
    if total == 0:
        return "0"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if step >= 3600 or (hours and not rest):
        return f"{hours:,} h"
    if hours:
        return f"{hours} h {minutes} min" if not secs else f"{hours} h {minutes} min {secs} s"
    if step >= 60 or not secs:
        return f"{minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def time_ticks(hours: float) -> Ticks:
    """Gridlines for hours watched from 0 to at least ``hours``, in steps a clock reads
    easily, each labelled in the step's unit: 0, 15 s, 30 s; 0, 1 min, 2 min; 0, 30 min,
    1 h, 1 h 30 min; 0, 5 h, 10 h.  Values stay in hours."""
    seconds = max(hours, 0.0) * 3600
    if seconds <= 0:
        return [(0.0, "0"), (1 / 60, "1 min")]
    step = _clock_step(seconds)
    count = math.ceil(seconds / step - 1e-9)
    return [(step * n / 3600, _span_label(step * n, step)) for n in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def _attr(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _el(tag: str, text: str = "", /, *, tip: str | None = None, **attrs: object) -> Markup:
    """One SVG element; ``class_`` is ``class``, ``data_value`` is ``data-value``, and
    ``tip`` becomes its ``<title>`` (the tooltip).  Every value is escaped."""
    names = " ".join(
        f'{k.rstrip("_").replace("_", "-")}="{escape(_attr(v))}"' for k, v in attrs.items()
    )
    inner = escape(text) + (Markup("<title>{}</title>").format(tip) if tip else "")
    return Markup(f"<{tag} {names}>{inner}</{tag}>")


def _figure(title: str, svg: Markup, kind: str, legend: Markup | None = None) -> Markup:
    return Markup('<figure class="chart chart-{}"><figcaption>{}</figcaption>{}{}</figure>').format(
        kind, title, svg, legend or ""
    )


def _svg(width: float, height: float, title: str, body: Sequence[Markup]) -> Markup:
    return Markup(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        "{}</svg>"
    ).format(_attr(width), _attr(height), title, Markup("").join(body))


def _empty(title: str, kind: str) -> Markup:
    return _figure(title, Markup('<p class="chart-empty">Nothing to show yet.</p>'), kind)


def _tip(point: Point, fmt: Format) -> str:
    return f"{point.label}: {fmt(point.value)}" + (f", {point.note}" if point.note else "")


def columns(
    points: Sequence[Point],
    *,
    title: str,
    fmt: Format = _number,
    whole: bool = False,
    scale: Callable[[float], Ticks] | None = None,
    every: int = 1,
    width: int = 720,
    height: int = 200,
) -> Markup:
    """Vertical columns, one per point, in order (days, hours); ``every`` labels every nth;
    ``whole`` for counts, whose axis then has no halves; ``scale`` makes the gridlines
    (:func:`time_ticks` for hours watched), ``fmt`` the tooltips."""
    if not any(p.value for p in points):
        return _empty(title, "columns")
    left, bottom, top = 56, 22, 8
    peak = max(p.value for p in points)
    lines = scale(peak) if scale is not None else ticks(peak, whole=whole)
    top_value = lines[-1][0]
    plot_h, plot_w = height - bottom - top, width - left - 4
    slot = plot_w / len(points)
    body: list[Markup] = []
    for value, label in lines:  # labelled gridlines
        y = top + plot_h - plot_h * value / top_value
        body.append(_el("line", class_="chart-grid", x1=left, x2=width - 4, y1=y, y2=y))
        body.append(_el("text", label, class_="chart-axis", x=left - 6, y=y + 4, text_anchor="end"))
    for index, point in enumerate(points):
        bar_h = plot_h * point.value / top_value
        body.append(
            _el("rect", tip=_tip(point, fmt), class_="chart-bar", x=left + (index + 0.15) * slot,
                y=top + plot_h - bar_h, width=slot * 0.7, height=bar_h, data_label=point.label,
                data_value=f"{point.value:g}")
        )  # fmt: skip
        if index % every == 0:
            body.append(
                _el("text", point.label, class_="chart-axis", x=left + (index + 0.5) * slot,
                    y=height - 6, text_anchor="middle")
            )  # fmt: skip
    return _figure(title, _svg(width, height, title, body), "columns")


def bars(
    points: Sequence[Point],
    *,
    title: str,
    fmt: Format = _number,
    top_value: float | None = None,
    links: Sequence[str] | None = None,
    width: int = 720,
) -> Markup:
    """Horizontal bars, one row each, labelled on the left and valued on the right."""
    if not points:
        return _empty(title, "bars")
    row, label_w, value_w = 24, 250, 90
    ceiling = top_value or max(p.value for p in points) or 1.0
    plot_w = width - label_w - value_w
    body: list[Markup] = []
    for index, point in enumerate(points):
        y = index * row
        bar_w = max(0.0, plot_w * min(point.value, ceiling) / ceiling)
        label = point.label if len(point.label) <= 34 else point.label[:33] + "…"
        text = _el("text", label, class_="chart-label", x=0, y=y + 16)
        if links is not None:
            text = Markup('<a href="{}">{}</a>').format(links[index], text)
        body.append(text)
        body.append(
            _el("rect", tip=_tip(point, fmt), class_="chart-bar", x=label_w, y=y + 4, width=bar_w,
                height=row - 8, data_label=point.label, data_value=f"{point.value:g}")
        )  # fmt: skip
        body.append(
            _el("text", fmt(point.value), class_="chart-value", x=label_w + bar_w + 6, y=y + 16)
        )
    return _figure(title, _svg(width, row * len(points), title, body), "bars")


def share(parts: Sequence[Point], *, title: str, width: int = 720) -> Markup:
    """One bar split by share; each part's label, lower-cased, is also its colour class."""
    total = sum(p.value for p in parts)
    if total <= 0:
        return _empty(title, "share")
    body: list[Markup] = []
    legend: list[Markup] = []
    x = 0.0
    for point in parts:
        fraction = point.value / total
        tip = f"{point.label}: {fraction:.0%} ({_number(point.value)})"
        colour = f"chart-{point.label.lower()}"
        body.append(
            _el("rect", tip=tip, class_=f"chart-part {colour}", x=x, y=0, width=width * fraction,
                height=28, data_label=point.label, data_value=f"{point.value:g}")
        )  # fmt: skip
        legend.append(Markup('<li><span class="chart-key {}"></span>{}</li>').format(colour, tip))
        x += width * fraction
    keys = Markup('<ul class="chart-legend">{}</ul>').format(Markup("").join(legend))
    return _figure(title, _svg(width, 28, title, body), "share", keys)


def _heat(value: float, ceiling: float) -> str:
    """Opacity of a heatmap cell: a little for any value, full at the busiest."""
    return "0" if value <= 0 else f"{0.15 + 0.85 * value / ceiling:.2f}"


def grid(
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float]],
    *,
    title: str,
    fmt: Format = _number,
    col_every: int = 3,
    width: int = 720,
) -> Markup:
    """A heatmap of rows by columns (weekdays by hours), brighter where there is more."""
    ceiling = max((v for line in values for v in line), default=0)
    if ceiling <= 0:
        return _empty(title, "heatmap")
    left, head, cell_h = 44, 16, 22
    cell_w = (width - left) / len(cols)
    body = [
        _el("text", name, class_="chart-axis", x=left + c * cell_w, y=12)
        for c, name in enumerate(cols)
        if c % col_every == 0
    ]
    for r, name in enumerate(rows):
        y = head + r * cell_h
        body.append(_el("text", name, class_="chart-axis", x=0, y=y + 15))
        for c, value in enumerate(values[r]):
            body.append(
                _el("rect", tip=f"{name} {cols[c]}: {fmt(value)}", class_="chart-cell",
                    x=left + c * cell_w, y=y, width=cell_w - 2, height=cell_h - 2,
                    fill_opacity=_heat(value, ceiling), data_value=f"{value:g}")
            )  # fmt: skip
    return _figure(title, _svg(width, head + cell_h * len(rows), title, body), "heatmap")


def strip(
    values: Sequence[float],
    length_s: float,
    *,
    title: str,
    marks: Sequence[tuple[float, str]] = (),
    clock: Callable[[float], str] = lambda s: f"{s:.0f} s",
    width: int = 720,
) -> Markup:
    """A heatmap along a timeline: ``values`` are equal slices of ``length_s`` seconds;
    ``marks`` (seconds, name), chapters for instance, are drawn as ticks."""
    ceiling = max(values, default=0)
    if ceiling <= 0 or length_s <= 0:
        return _empty(title, "strip")
    slot = width / len(values)
    body: list[Markup] = []
    for index, value in enumerate(values):
        start, end = (length_s * n / len(values) for n in (index, index + 1))
        body.append(
            _el("rect", tip=f"{clock(start)} to {clock(end)}: {_number(value)}",
                class_="chart-cell", x=index * slot, y=0, width=slot + 0.05, height=40,
                fill_opacity=_heat(value, ceiling), data_value=f"{value:g}")
        )  # fmt: skip
    for at, name in marks:
        x = width * min(max(at / length_s, 0), 1)
        body.append(
            _el("line", tip=f"{clock(at)} {name}", class_="chart-mark", x1=x, x2=x, y1=0, y2=48)
        )
    step = _clock_step(length_s)  # a time axis under the strip, in whole easy steps
    marks_at = [step * n for n in range(int(length_s / step + 1e-9) + 1)]
    for at in marks_at:
        x = width * at / length_s
        anchor = "start" if at == 0 else "end" if x > width - 24 else "middle"
        body.append(_el("text", clock(at), class_="chart-axis", x=x, y=62, text_anchor=anchor))
    return _figure(title, _svg(width, 66, title, body), "strip")
