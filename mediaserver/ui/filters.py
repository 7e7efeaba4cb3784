"""Jinja filters the templates use to show numbers and times the way people read them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from litestar.plugins.jinja import JinjaTemplateEngine
from markupsafe import Markup

from mediaserver.devices import describe_device
from mediaserver.library.lookup import genre_url
from mediaserver.streaming.decision import describe_video
from mediaserver.words import full_moment, local_iso, moment, parse_moment, plural

__all__ = [
    "bitrate",
    "device",
    "duration",
    "filesize",
    "install",
    "stream_details",
    "timestamp",
    "when",
]


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


_HDR = {"smpte2084": "HDR (PQ)", "arib-std-b67": "HDR (HLG)"}


def stream_details(stream: Mapping[str, Any]) -> str:
    """``1920×1080, 23.976 fps, 10-bit, yuv420p10le, 8.1 Mb/s`` or ``5.1(side), 48000 Hz``."""
    parts: list[str] = []
    if stream.get("type") == "video":
        if stream.get("width") and stream.get("height"):
            parts.append(f"{stream['width']}×{stream['height']}")
        if stream.get("frame_rate"):
            parts.append(f"{stream['frame_rate']} fps")
        if stream.get("bit_depth"):
            parts.append(f"{stream['bit_depth']}-bit")
        if stream.get("pix_fmt"):
            parts.append(str(stream["pix_fmt"]))
        if stream.get("field_order") not in (None, "progressive"):
            parts.append(f"interlaced ({stream['field_order']})")
        if stream.get("color_transfer") in _HDR:
            parts.append(_HDR[stream["color_transfer"]])
    elif stream.get("type") == "audio":
        channels = stream.get("channels")
        parts.append(stream.get("channel_layout") or (f"{channels} ch" if channels else "?"))
        if stream.get("sample_rate"):
            parts.append(f"{stream['sample_rate']} Hz")
    if stream.get("type") in ("video", "audio") and (stream.get("bit_rate") or 0) >= 1000:
        parts.append(bitrate(stream["bit_rate"]))
    return ", ".join(parts)


def when(value: datetime | str | None, empty: str = "") -> Markup:
    """A stored moment in words and the server's local time, in a ``<time>`` whose
    tooltip is the whole local time: ``<time datetime=... title=...>today 14:05</time>``;
    ``empty`` when there is none ("never")."""
    moment_ = parse_moment(value)
    if moment_ is None:
        return Markup("{}").format(empty if value in (None, "") else value)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        local_iso(moment_), full_moment(moment_), moment(moment_)
    )


def device(user_agent: str | None) -> str:
    """``Firefox on Linux`` from a browser's User-Agent; an app's own name as it is."""
    return describe_device(user_agent) or "Unknown device"


def version_label(file: Mapping[str, Any]) -> str:
    """``4K HEVC · MKV · 12.1 GB``: how the Version menu tells one file of a film from another."""
    video = next((s for s in file.get("streams") or () if s.get("type") == "video"), None)
    parts: list[str] = []
    if video and video.get("height"):
        short = min(int(video.get("width") or video["height"]), int(video["height"]))
        parts.append(("4K" if short >= 2000 else f"{short}p") + f" {describe_video(video)}")
    if file.get("container"):
        parts.append(str(file["container"]).split(",")[0].upper())
    if file.get("size"):
        parts.append(filesize(file["size"]))
    return " · ".join(parts) or f"File {file.get('id')}"


def initials(name: str | None) -> str:
    """``JD`` for Jane Doe: what a person without a photo is shown as."""
    words = [w for w in (name or "").split() if w[:1].isalnum()]
    return "".join(w[0] for w in (words[:1] + words[1:][-1:])).upper() or "?"


def install(engine: JinjaTemplateEngine) -> None:
    filters: dict[str, Any] = {
        "duration": duration,
        "timestamp": timestamp,
        "filesize": filesize,
        "genre_url": genre_url,
        "bitrate": bitrate,
        "device": device,
        "moment": when,
        "plural": plural,
        "stream_details": stream_details,
        "version_label": version_label,
        "initials": initials,
    }
    engine.engine.filters.update(filters)
