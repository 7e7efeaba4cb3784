"""What a client can play: named device profiles and explicit capability lists.

A browser's player script probes ``MediaSource.isTypeSupported`` and sends what it found
(``vcodec=h264,vp9&acodec=aac,opus&container=mp4,webm``); TVs and apps send a profile name
(``profile=tv-legacy``) and may narrow it with the same parameters.  Every value is checked
against the lists below: nothing a client sends is ever passed on to ffmpeg.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "AUDIO_CODECS",
    "CONTAINERS",
    "PROFILES",
    "VIDEO_CODECS",
    "CapabilityError",
    "ClientProfile",
    "profile_from_query",
]

VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg2video", "mpeg4"})
AUDIO_CODECS = frozenset({"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "dts", "truehd"})
CONTAINERS = frozenset({"mp4", "m4v", "mov", "webm", "mkv", "ts", "avi"})
SegmentFormat = Literal["fmp4", "ts"]


class CapabilityError(ValueError):
    """A capability parameter has a value we do not know; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param


@dataclass(frozen=True, slots=True)
class ClientProfile:
    name: str
    containers: frozenset[str]  # files it opens directly (direct play)
    video_codecs: frozenset[str]
    audio_codecs: frozenset[str]
    ten_bit_codecs: frozenset[str] = frozenset({"hevc", "vp9", "av1"})
    max_height: int = 2160
    max_audio_channels: int = 8
    segments: SegmentFormat = "fmp4"


_BROWSER_AUDIO = frozenset({"aac", "mp3", "opus", "vorbis", "flac"})
PROFILES: Mapping[str, ClientProfile] = {
    p.name: p
    for p in (
        # Chromium 156 decodes H.264, VP9 and AV1 but not HEVC (measured, shared/DESIGN.md).
        ClientProfile(
            "chromium",
            frozenset({"mp4", "m4v", "webm", "mkv"}),
            frozenset({"h264", "vp8", "vp9", "av1"}),
            _BROWSER_AUDIO,
            frozenset({"vp9", "av1"}),
        ),
        ClientProfile(
            "firefox",
            frozenset({"mp4", "m4v", "webm"}),
            frozenset({"h264", "vp8", "vp9", "av1"}),
            _BROWSER_AUDIO,
            frozenset({"vp9", "av1"}),
        ),
        ClientProfile(
            "safari",
            frozenset({"mp4", "m4v", "mov"}),
            frozenset({"h264", "hevc"}),
            frozenset({"aac", "mp3", "flac", "ac3", "eac3"}),
            frozenset({"hevc"}),
        ),
        ClientProfile(
            "tv-samsung",
            frozenset({"mp4", "m4v", "mkv", "ts", "webm"}),
            frozenset({"h264", "hevc", "vp9", "mpeg2video"}),
            frozenset({"aac", "mp3", "ac3", "eac3"}),
        ),
        ClientProfile(
            "tv-lg",
            frozenset({"mp4", "m4v", "mkv", "ts"}),
            frozenset({"h264", "hevc", "vp9"}),
            frozenset({"aac", "mp3", "ac3", "eac3"}),
        ),
        # Old TVs and set-top boxes: H.264 in MPEG-TS at 1080p, stereo AAC.
        ClientProfile(
            "tv-legacy",
            frozenset({"ts"}),
            frozenset({"h264"}),
            frozenset({"aac"}),
            frozenset(),
            1080,
            2,
            "ts",
        ),
        # A browser whose player script sends what it probed (vcodec=, acodec=, container=).
        ClientProfile(
            "browser",
            frozenset({"mp4", "m4v"}),
            frozenset({"h264"}),
            frozenset({"aac", "mp3"}),
            frozenset(),
        ),
        # The lowest common denominator every HLS player handles.
        ClientProfile(
            "generic",
            frozenset({"mp4"}),
            frozenset({"h264"}),
            frozenset({"aac"}),
            frozenset(),
            1080,
            2,
        ),
    )
}


def _names(param: str, raw: str, known: frozenset[str]) -> frozenset[str]:
    names = frozenset(v.strip().lower() for v in raw.split(",") if v.strip())
    unknown = sorted(names - known)
    if unknown:
        raise CapabilityError(param, f"{unknown[0]!r} is not one of {', '.join(sorted(known))}")
    return names


# ASCII digits, and not too many: str.isdigit() also accepts "²", which int() refuses, and
# int() refuses more than 4300 digits; both were 500s instead of 400s.
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def _int(param: str, raw: str, low: int, high: int) -> int:
    if _WHOLE_NUMBER.fullmatch(raw) is None or not low <= int(raw) <= high:
        raise CapabilityError(param, f"must be a whole number from {low} to {high}")
    return int(raw)


def profile_from_query(query: Mapping[str, str]) -> ClientProfile:
    """The client's profile from request parameters (``generic`` when it says nothing)."""
    name = query.get("profile", "generic").strip().lower()
    if name not in PROFILES:
        raise CapabilityError("profile", f"{name!r} is not one of {', '.join(sorted(PROFILES))}")
    profile = PROFILES[name]
    changes: dict[str, object] = {}
    if "container" in query:
        changes["containers"] = _names("container", query["container"], CONTAINERS)
    if "vcodec" in query:
        changes["video_codecs"] = _names("vcodec", query["vcodec"], VIDEO_CODECS)
    if "acodec" in query:
        changes["audio_codecs"] = _names("acodec", query["acodec"], AUDIO_CODECS)
    if "ten_bit" in query:
        changes["ten_bit_codecs"] = _names("ten_bit", query["ten_bit"], VIDEO_CODECS)
    if "max_height" in query:
        changes["max_height"] = _int("max_height", query["max_height"], 144, 4320)
    if "max_channels" in query:
        changes["max_audio_channels"] = _int("max_channels", query["max_channels"], 1, 8)
    if "segments" in query:
        segments = query["segments"].strip().lower()
        if segments not in ("fmp4", "ts"):
            raise CapabilityError("segments", f"{segments!r} is not one of fmp4, ts")
        changes["segments"] = segments
    if not changes:
        return profile
    return replace(profile, name=f"{name}+custom", **changes)  # type: ignore[arg-type]
