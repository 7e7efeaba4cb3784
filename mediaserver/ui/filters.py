"""Jinja filters the templates use to show numbers the way people read them."""

from __future__ import annotations

from typing import Any

from litestar.contrib.jinja import JinjaTemplateEngine

__all__ = ["bitrate", "duration", "filesize", "install"]


def duration(seconds: float | None) -> str:
    """``1h 42m``, ``12m 5s``; empty when unknown."""
    if not seconds:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def filesize(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""


def bitrate(bps: int | None) -> str:
    if not bps:
        return ""
    return f"{bps / 1_000_000:.1f} Mb/s" if bps >= 1_000_000 else f"{bps / 1000:.0f} kb/s"


def install(engine: JinjaTemplateEngine) -> None:
    filters: dict[str, Any] = {"duration": duration, "filesize": filesize, "bitrate": bitrate}
    engine.engine.filters.update(filters)
