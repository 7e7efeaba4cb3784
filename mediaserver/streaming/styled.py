"""Styled subtitles for the browser's libass: ASS/SSA tracks as they are, and the fonts a file
carries, both kept in the subtitle cache until the source changes.

WebVTT keeps only italics and bold of an ASS track (``subtitles.py``); the player draws the
track itself with libass when it can, so it needs the track unconverted and the fonts its
styles name.  An embedded track is copied out by ffmpeg (``-c:s copy -f ass``: the header,
styles and event timings survive; times start at the file's start, as the WebVTT's do); a
sidecar is read directly and only re-encoded to UTF-8.

Fonts are Matroska attachments.  Their ``mimetype`` tags disagree across muxers
(``font/ttf``, ``application/x-truetype-font``, ``application/vnd.ms-opentype``, …) and old
catalogs never stored them, so every attachment of the file (at most ``MAX_ATTACHMENTS``) is
dumped by one ffmpeg run into a folder of its own, and only what starts like a font
(TrueType, OpenType, a collection, WOFF, WOFF2) and is at most ``MAX_FONT_BYTES`` is kept.
ffmpeg is told each output name: with no name it would write wherever the file's own
``filename`` tag points.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediaserver.ffmpeg_tools import INPUT_GUARD, input_url
from mediaserver.streaming.subtitles import (
    SubtitleCache,
    SubtitleError,
    decode_text,
    guard_args,
    read_sidecar,
)

__all__ = [
    "ASS_CODECS",
    "MAX_ATTACHMENTS",
    "MAX_FONT_BYTES",
    "Font",
    "StyledSubtitleCache",
    "font_format",
]

ASS_CODECS = frozenset({"ass", "ssa"})
MAX_ATTACHMENTS = 64  # a film with more attachments than this is not a film
MAX_FONT_BYTES = 50 * 1024 * 1024  # a whole CJK family fits; the browser loads each one
_FORMAT_VERSION = 1  # bump when the files written here change
# The first four bytes of each font format the renderer reads, with its media type.
_FONT_MAGIC = {
    b"\x00\x01\x00\x00": "font/ttf",
    b"true": "font/ttf",
    b"OTTO": "font/otf",
    b"ttcf": "font/collection",
    b"wOFF": "font/woff",
    b"wOF2": "font/woff2",
}


@dataclass(frozen=True, slots=True)
class Font:
    """One font attachment, extracted: its stream index, file, size and media type."""

    index: int
    path: Path
    size: int
    content_type: str


def font_format(head: bytes) -> str | None:
    """The media type of a font file from its first bytes; None for anything else."""
    return _FONT_MAGIC.get(head[:4])


class StyledSubtitleCache(SubtitleCache):
    """The WebVTT conversions, plus ASS/SSA tracks unconverted and a file's fonts."""

    def ass(self, file_path: str | Path, stream: Mapping[str, Any]) -> Path:
        """The ASS/SSA track ``stream`` (a ``streams`` row) of the video at ``file_path``,
        as UTF-8 text."""
        codec = stream.get("codec") or "unknown"
        if codec not in ASS_CODECS:
            raise SubtitleError(f"{codec} subtitles are not ASS or SSA; only WebVTT is offered")
        video = Path(file_path)
        external = stream.get("external_path")
        sidecar = Path(external) if external else None

        def extract(target: Path) -> None:
            self._extract_ass(video, stream, sidecar, target)

        return self._cached(video, sidecar or int(stream["idx"]), ".ass", extract, sidecar)

    def fonts(self, file_path: str | Path, attachments: Iterable[int]) -> list[Font]:
        """The fonts among the attachment streams ``attachments`` of the video at
        ``file_path``, in stream order; an empty list when there are none."""
        indexes = sorted({int(i) for i in attachments})[:MAX_ATTACHMENTS]
        if not indexes:
            return []
        video = Path(file_path)
        key = "fonts:" + ",".join(map(str, indexes))

        def extract(target: Path) -> None:
            self._extract_fonts(video, indexes, target)

        folder = self._cached(video, key, "", extract)
        listed = json.loads((folder / "fonts.json").read_text(encoding="utf-8"))
        return [
            Font(int(f["index"]), folder / f"{int(f['index'])}.font", int(f["size"]), f["type"])
            for f in listed
        ]

    def _extract_ass(
        self, video: Path, stream: Mapping[str, Any], sidecar: Path | None, target: Path
    ) -> None:
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp")
        try:
            if sidecar is not None:
                name = sidecar.name
                text = decode_text(read_sidecar(sidecar))
            else:
                name = f"subtitle stream {stream['idx']} of {video.name}"
                argv = [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
                argv += [*guard_args(INPUT_GUARD), "-i", input_url(video)]
                argv += ["-map", f"0:{int(stream['idx'])}", "-c:s", "copy", "-f", "ass"]
                self._run([*argv, input_url(tmp)], name, {})
                text = tmp.read_text(encoding="utf-8", errors="replace")
            if "[script info]" not in text[:4096].lower():
                raise SubtitleError(f"{name} is not an ASS or SSA subtitle")
            with open(tmp, "w", encoding="utf-8", newline="") as out:
                out.write(text.lstrip("\ufeff"))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)

    def _extract_fonts(self, video: Path, indexes: list[int], target: Path) -> None:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        tmp.mkdir(parents=True)
        try:
            argv = [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
            argv += guard_args(INPUT_GUARD)
            for index in indexes:
                argv += [f"-dump_attachment:{index}", input_url(tmp / f"{index}.font")]
            argv += ["-i", input_url(video), "-t", "0", "-f", "null", "-"]
            self._run(argv, f"the attachments of {video.name}", {})
            found = []
            for index in indexes:
                path = tmp / f"{index}.font"
                kind = _font_type(path)
                if kind is None:
                    path.unlink(missing_ok=True)
                    continue
                found.append({"index": index, "size": path.stat().st_size, "type": kind})
            (tmp / "fonts.json").write_text(json.dumps(found), encoding="utf-8")
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _cached(
        self,
        video: Path,
        track: Path | int | str,
        suffix: str,
        make: Callable[[Path], None],
        sidecar: Path | None = None,
    ) -> Path:
        """``make(target)`` once per version of the source; older versions are removed."""
        return self._cache_entry(
            f"{video.absolute()}\0{track}", video, sidecar, suffix, make, _FORMAT_VERSION
        )


def _font_type(path: Path) -> str | None:
    try:
        if not 0 < path.stat().st_size <= MAX_FONT_BYTES:
            return None
        with open(path, "rb") as file:
            return font_format(file.read(4))
    except OSError:
        return None
