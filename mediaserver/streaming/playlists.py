"""HLS playlists written up front from what the scan knows, so a player can seek at once.

Variant playlists are complete VOD playlists (``#EXT-X-PLAYLIST-TYPE:VOD`` ... ``#EXT-X-ENDLIST``)
built from the duration alone (transcodes: keyframes are forced at every boundary) or from
the source's keyframe times (remux: a copied stream can only be cut at its keyframes, so
each segment starts on one and its ``EXTINF`` is exact).  URLs come from the caller, which
adds its signed tokens.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Rendition",
    "Segment",
    "Variant",
    "lead_in_segments",
    "master_playlist",
    "remux_segments",
    "timed_segments",
    "variant_playlist",
]


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    start_s: float
    duration_s: float


@dataclass(frozen=True, slots=True)
class Variant:
    uri: str
    bandwidth: int
    average_bandwidth: int | None
    codecs: str
    resolution: tuple[int, int] | None
    frame_rate: float | None
    name: str


_QUOTED = frozenset({"NAME", "LANGUAGE", "ASSOC-LANGUAGE", "CHARACTERISTICS", "INSTREAM-ID"})


@dataclass(frozen=True, slots=True)
class Rendition:
    """An ``EXT-X-MEDIA`` subtitle track: ``attributes`` are NAME, LANGUAGE, DEFAULT, ..."""

    uri: str
    attributes: dict[str, str]


def lead_in_segments(duration_s: float, target_s: float) -> list[Segment]:
    """Transcode segments: 1 s and 2 s first (the first picture comes sooner), then ``target_s``.

    A 1 s segment at 720p is ready about 0.4 s after ffmpeg starts, a 4 s one after 1.2 s
    (measured on the 2-core machine, ``veryfast``); later segments are made faster than
    they play, so only the start needs to be short.
    """
    if duration_s <= 0 or target_s <= 0:
        return []
    cuts = [0.0]
    for step in itertools.chain((1.0, 2.0), itertools.repeat(target_s)):
        if cuts[-1] + step >= duration_s - 0.5:  # no sliver at the end: fold it in
            break
        cuts.append(cuts[-1] + step)
    cuts.append(duration_s)
    return [Segment(n, a, b - a) for n, (a, b) in enumerate(itertools.pairwise(cuts))]


def timed_segments(duration_s: float, target_s: float) -> list[Segment]:
    """Equal segments of ``target_s`` (the last one shorter) covering ``duration_s``."""
    if duration_s <= 0 or target_s <= 0:
        return []
    count = max(1, math.ceil(duration_s / target_s - 1e-9))
    return [
        Segment(n, n * target_s, min(target_s, duration_s - n * target_s)) for n in range(count)
    ]


def remux_segments(
    keyframes_s: Sequence[float], duration_s: float, target_s: float
) -> list[Segment]:
    """Segments that start on source keyframes, each at least ``target_s`` long where it can be."""
    starts = sorted({round(k, 6) for k in keyframes_s if 0 <= k < duration_s})
    if not starts or starts[0] > 0:
        starts.insert(0, 0.0)  # the first segment starts at the beginning whatever the index says
    cuts = [starts[0]]
    for time in starts[1:]:
        if time - cuts[-1] >= target_s - 1e-6:
            cuts.append(time)
    cuts.append(duration_s)
    spans = [(a, b) for a, b in itertools.pairwise(cuts) if b > a]
    return [Segment(n, a, b - a) for n, (a, b) in enumerate(spans)]


def variant_playlist(
    segments: Sequence[Segment],
    segment_uri: Callable[[int], str],
    *,
    init_uri: str | None,
) -> str:
    """A VOD media playlist; ``init_uri`` (fMP4's ``EXT-X-MAP``) or None for MPEG-TS."""
    target = max((math.ceil(s.duration_s - 1e-6) for s in segments), default=1)
    lines = [
        "#EXTM3U",
        f"#EXT-X-VERSION:{7 if init_uri else 3}",
        f"#EXT-X-TARGETDURATION:{max(1, target)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if init_uri:
        lines.append(f'#EXT-X-MAP:URI="{init_uri}"')
    for segment in segments:
        lines += [f"#EXTINF:{segment.duration_s:.6f},", segment_uri(segment.index)]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(variants: Sequence[Variant], subtitles: Sequence[Rendition] = ()) -> str:
    """The multivariant playlist, in the order given: players start with the first variant,
    so the caller lists the one it is already preparing first."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in subtitles:
        media = {"TYPE": "SUBTITLES", "GROUP-ID": '"subs"'}
        for key, value in rendition.attributes.items():
            quoted = key in _QUOTED and not value.startswith('"')
            media[key] = f'"{value}"' if quoted else value
        media["URI"] = f'"{rendition.uri}"'
        lines.append("#EXT-X-MEDIA:" + ",".join(f"{k}={v}" for k, v in media.items()))
    for v in variants:
        attributes = [f"BANDWIDTH={v.bandwidth}"]
        if v.average_bandwidth:
            attributes.append(f"AVERAGE-BANDWIDTH={v.average_bandwidth}")
        attributes.append(f'CODECS="{v.codecs}"')
        if v.resolution:
            attributes.append(f"RESOLUTION={v.resolution[0]}x{v.resolution[1]}")
        if v.frame_rate:
            attributes.append(f"FRAME-RATE={v.frame_rate:.3f}")
        attributes.append(f'NAME="{v.name}"')
        if subtitles:
            attributes.append('SUBTITLES="subs"')
        lines += [f"#EXT-X-STREAM-INF:{','.join(attributes)}", v.uri]
    return "\n".join(lines) + "\n"
