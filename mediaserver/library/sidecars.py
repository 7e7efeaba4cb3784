"""Which sidecar files (subtitles, images, NFOs) belong to which video.

Rules follow Kodi and Jellyfin so existing libraries work as they are: ``<stem>.<lang>.srt``
for subtitles, ``<stem>-poster.jpg`` anywhere, ``poster.jpg``/``folder.jpg`` only in a folder
that holds a single video (so a loose "Movies" folder does not give every film one poster).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mediaserver.library.walk import IMAGE_EXTENSIONS, SUBTITLE_EXTENSIONS

__all__ = ["SidecarSubtitle", "find_image", "sidecar_signature", "subtitles_for"]

_FOLDER_POSTERS = ("poster", "folder", "cover", "default", "movie")
_FOLDER_BACKDROPS = ("fanart", "backdrop", "background", "art")
_FLAGS = {"forced", "sdh", "cc", "hi", "default"}
_FOLDER_WIDE = {*_FOLDER_POSTERS, *_FOLDER_BACKDROPS, "tvshow"}


@dataclass(frozen=True, slots=True)
class SidecarSubtitle:
    path: Path
    codec: str
    language: str | None
    forced: bool
    title: str | None


def subtitles_for(video: Path, names: Mapping[str, int]) -> list[SidecarSubtitle]:
    """``Movie.en.srt``, ``Movie.en.forced.srt``, ``Movie.srt`` beside ``Movie.mkv``."""
    stem = video.stem
    found = []
    for name in sorted(names):
        path = Path(name)
        if path.suffix.lower() not in SUBTITLE_EXTENSIONS:
            continue
        if not (path.stem == stem or path.stem.startswith(stem + ".")):
            continue
        parts = [p for p in path.stem[len(stem) :].split(".") if p]
        flags = {p.lower() for p in parts if p.lower() in _FLAGS}
        rest = [p for p in parts if p.lower() not in _FLAGS]
        language = rest[0].lower() if rest and 2 <= len(rest[0]) <= 3 else None
        title = ".".join(rest[1:] if language else rest) or None
        codec = {".srt": "subrip", ".vtt": "webvtt", ".ass": "ass", ".ssa": "ssa"}[
            path.suffix.lower()
        ]
        found.append(
            SidecarSubtitle(video.parent / name, codec, language, "forced" in flags, title)
        )
    return found


def find_image(
    folder: Path,
    names: Mapping[str, int],
    *,
    kind: str,
    stem: str | None = None,
    folder_wide: bool = True,
) -> Path | None:
    """The sidecar image of ``kind`` ("poster" or "backdrop") for a video or a folder."""
    lowered = {
        name.lower(): name for name in names if Path(name).suffix.lower() in IMAGE_EXTENSIONS
    }
    bases = _FOLDER_POSTERS if kind == "poster" else _FOLDER_BACKDROPS
    candidates: list[str] = []
    if stem:
        stem = stem.lower()
        suffixes = ("-poster", "-cover", "") if kind == "poster" else ("-fanart", "-backdrop")
        candidates += [stem + s for s in suffixes]
    if folder_wide:
        candidates += list(bases)
    for base in candidates:
        for ext in (".jpg", ".jpeg", ".png", ".webp"):
            name = lowered.get(base + ext)
            if name:
                return folder / name
    return None


def sidecar_signature(video: Path, names: Mapping[str, int]) -> int:
    """Changes when a sidecar of this video is added, removed or edited (cheap: no I/O)."""
    stem = video.stem
    total = 0
    for name, mtime in sorted(names.items()):
        base = Path(name).stem.lower()
        if name.startswith((stem + ".", stem + "-")) or base in _FOLDER_WIDE:
            total = (total * 31 + zlib.crc32(name.encode()) + mtime) % (1 << 62)
    return total
