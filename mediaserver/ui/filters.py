"""Jinja filters the templates use to show numbers the way people read them."""

from __future__ import annotations

import math
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine

__all__ = ["bitrate", "duration", "filesize", "install", "timestamp"]


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


def timestamp(seconds: float | None) -> str:
    """A position as a player's clock shows it: ``0:00``, ``1:05``, ``1:02:03``.

    Whole seconds, rounded down as players do (a chapter at 0.5 s starts at ``0:00``);
    empty when unknown.
    """
    if seconds is None or not math.isfinite(seconds):
        return ""
    hours, rest = divmod(max(0, math.floor(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


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
    filters: dict[str, Any] = {
        "duration": duration,
        "timestamp": timestamp,
        "filesize": filesize,
        "bitrate": bitrate,
    }
    engine.engine.filters.update(filters)
