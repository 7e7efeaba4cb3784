"""The adaptive bitrate ladder: which renditions a file is offered in, at what bitrates.

Rungs are named by the short side (an upright 1080x1920 phone video is 1080p) and follow
Apple's HLS authoring figures for H.264 (6 Mb/s at 1080p, 3 Mb/s at 720p, ...),
half again for frame rates above 30, and are never above the source: a 720p file is not
blown up to 1080p.  Sizes keep the source's shape and are always even (H.264 needs it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AUDIO_KBPS", "RUNGS", "Rung", "build_ladder"]

AUDIO_KBPS = 128  # stereo AAC in every transcoded rung
# (height, average video kb/s, H.264 level as level_idc) for <= 30 fps.
RUNGS: tuple[tuple[int, int, int], ...] = (
    (2160, 16_000, 51),
    (1080, 6_000, 40),
    (720, 3_000, 31),
    (480, 1_400, 30),
    (360, 800, 30),
    (240, 400, 21),
)
# 720p and 1080p above 30 fps need H.264 levels 3.2 and 4.2.
_HIGH_FRAME_RATE_LEVELS = {31: 32, 40: 42}
_PEAK = 1.5  # -maxrate relative to the average (-b:v): what BANDWIDTH must announce


@dataclass(frozen=True, slots=True)
class Rung:
    name: str  # "720p"
    width: int
    height: int
    frame_rate: float
    video_kbps: int
    max_video_kbps: int
    level: int

    @property
    def bandwidth(self) -> int:
        """Peak bits per second of the whole rendition (``BANDWIDTH``)."""
        return (self.max_video_kbps + AUDIO_KBPS) * 1000

    @property
    def average_bandwidth(self) -> int:
        return (self.video_kbps + AUDIO_KBPS) * 1000

    @property
    def codecs(self) -> str:
        """RFC 6381 codecs of the rung: H.264 High at its level, AAC-LC."""
        return f"avc1.6400{self.level:02x},mp4a.40.2"


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def build_ladder(video: Mapping[str, Any], *, max_height: int = 2160) -> list[Rung]:
    """Rungs at or below the source (and the client's ``max_height``), best first."""
    width = int(video.get("width") or 0)
    height = int(video.get("height") or 0)
    if not width or not height:
        return []
    fps = float(video.get("frame_rate") or 25.0)
    fps = min(fps, 60.0)  # nothing a player needs goes faster; 120 fps phone clips halve
    rate_factor = 1.5 if fps > 31 else 1.0
    short = min(width, height)  # "1080p" is the short side: an upright phone video too
    top = min(short, max_height)
    rungs = []
    for rung_height, kbps, level in RUNGS:
        if rung_height > top:
            continue
        kbps = int(kbps * rate_factor)
        level = _HIGH_FRAME_RATE_LEVELS.get(level, level) if rate_factor > 1 else level
        rungs.append(
            Rung(
                name=f"{rung_height}p",
                width=_even(width * rung_height / short),
                height=_even(height * rung_height / short),
                frame_rate=round(fps, 3),
                video_kbps=kbps,
                max_video_kbps=int(kbps * _PEAK),
                level=level,
            )
        )
    if not rungs:  # a source smaller than the lowest rung: one rung at its own size
        kbps = int(RUNGS[-1][1] * height / RUNGS[-1][0])
        rungs.append(
            Rung(
                f"{_even(height)}p",
                _even(width),
                _even(height),
                round(fps, 3),
                kbps,
                int(kbps * _PEAK),
                21,
            )
        )
    return rungs
