"""Direct play: the MIME type and RFC 6381 codecs string a player needs to decide.

The item page asks the browser ``video.canPlayType('video/mp4; codecs="avc1.64001f, mp4a.40.2"')``
with exactly these strings, so a file is only handed to ``<video>`` when it will play.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CONTAINER_TYPES", "IMAGE_TYPES", "codecs_string", "mime_for_container", "playable_type"]

CONTAINER_TYPES: Mapping[str, str] = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
    "ts": "video/mp2t",
    "m2ts": "video/mp2t",
    "mts": "video/mp2t",
    "avi": "video/x-msvideo",
    "mpg": "video/mpeg",
    "mpeg": "video/mpeg",
    "wmv": "video/x-ms-wmv",
    "flv": "video/x-flv",
    "ogv": "video/ogg",
    "3gp": "video/3gpp",
}
IMAGE_TYPES: Mapping[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_H264_PROFILES = {
    "baseline": 0x42,
    "constrained baseline": 0x42,
    "main": 0x4D,
    "extended": 0x58,
    "high": 0x64,
    "high 10": 0x6E,
    "high 4:2:2": 0x7A,
    "high 4:4:4 predictive": 0xF4,
}
_H264_CONSTRAINTS = {"constrained baseline": 0x40}


def mime_for_container(container: str | None) -> str:
    return CONTAINER_TYPES.get((container or "").lower(), "application/octet-stream")


def _video_codec(stream: Mapping[str, Any]) -> str | None:
    codec = stream.get("codec")
    profile = str(stream.get("profile") or "").lower()
    level = stream.get("level") or 0
    if codec == "h264":
        pid = _H264_PROFILES.get(profile, 0x64)
        return f"avc1.{pid:02x}{_H264_CONSTRAINTS.get(profile, 0):02x}{int(level):02x}"
    if codec == "hevc":
        return "hvc1.2.4.L120.B0" if "10" in profile else "hvc1.1.6.L120.B0"
    if codec == "vp9":
        return "vp09.00.10.08"
    if codec == "av1":
        return "av01.0.05M.08"
    if codec == "vp8":
        return "vp8"
    return None


def _audio_codec(stream: Mapping[str, Any]) -> str | None:
    return {
        "aac": "mp4a.40.2",
        "mp3": "mp4a.69",
        "opus": "opus",
        "vorbis": "vorbis",
        "flac": "flac",
        "ac3": "ac-3",
        "eac3": "ec-3",
    }.get(str(stream.get("codec")))


def codecs_string(streams: Sequence[Mapping[str, Any]]) -> str | None:
    """``avc1.64001f, mp4a.40.2`` for the first video and audio stream; None if unknown."""
    video = next((s for s in streams if s.get("type") == "video"), None)
    audio = next((s for s in streams if s.get("type") == "audio"), None)
    parts = [_video_codec(video)] if video else []
    if audio:
        parts.append(_audio_codec(audio))
    if not parts or None in parts:
        return None
    return ", ".join(p for p in parts if p)


def playable_type(container: str | None, streams: Sequence[Mapping[str, Any]]) -> str | None:
    """The full type for ``canPlayType``, or None when we cannot describe the file."""
    codecs = codecs_string(streams)
    mime = mime_for_container(container)
    if codecs is None or mime == "application/octet-stream":
        return None
    return f'{mime}; codecs="{codecs}"'
