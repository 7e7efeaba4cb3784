"""Text subtitles as WebVTT files, for the subtitle renditions of an HLS stream.

One ffmpeg per subtitle track converts it (``-c:s webvtt``; a WebVTT track is copied so its
cue settings survive) into a file in the cache, named after the source's size and mtime so
an edited file is converted again.  Image subtitles (PGS, VobSub) cannot become text: they
are burned in by the transcoder instead.

Measured with ffmpeg 5.1: a sidecar that is not UTF-8 loses its accented cues *silently*
unless ``-sub_charenc`` names its charset; the webvtt encoder keeps ``<i>``/``<b>``/``<u>``
but drops ASS positioning and colours and does not escape a bare ``<`` or ``&``; the
SubRip decoder drops any text in angle brackets that is not a tag it knows (``<Bob>``),
so SubRip is copied out and its cue text rendered in ``cue_text.py``; and the webvtt
demuxer stops reading at a ``STYLE`` or ``REGION`` block, losing every later cue.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import shutil
import subprocess
import threading
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from babelfish import Country, Language
from babelfish import Error as BabelfishError

from mediaserver.ffmpeg_tools import (
    INPUT_GUARD,
    failure_words,
    ffmpeg_failure,
    input_url,
    run_ffmpeg,
)
from mediaserver.library.links import stays_home
from mediaserver.streaming.cue_text import (
    finish_webvtt,
    srt_from_webvtt,
    webvtt_from_srt,
    without_style_blocks,
)

__all__ = [
    "NOT_LANGUAGES",
    "TEXT_SUBTITLES",
    "SubtitleCache",
    "SubtitleError",
    "decode_text",
    "guard_args",
    "language_name",
    "language_tag",
    "parse_language",
    "read_sidecar",
    "rendition_attrs",
    "srt_from_webvtt",
    "subtitle_playlist",
]

# Every subtitle format ffmpeg decodes to text (ASS events), which the webvtt encoder takes;
# the catalog stores format names ("subrip"), and "srt"/"ssa" are formats too.
# fmt: off
TEXT_SUBTITLES = frozenset({
    "subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd", "mpl2", "pjs",
    "realtext", "sami", "stl", "subviewer", "subviewer1", "vplayer", "jacosub", "eia_608",
})
# fmt: on
# A sidecar is a text file, so only the subtitle demuxers may open it (never a playlist).
_SIDECAR_GUARD = {**INPUT_GUARD, "format_whitelist": "srt,ass,webvtt"}
_MAX_SIDECAR_BYTES = 20 * 1024 * 1024
_FORMAT_VERSION = 1  # bump when the output changes, so old cache files are not served
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
NOT_LANGUAGES = frozenset({"und", "mul", "zxx", "mis"})


class SubtitleError(Exception):
    """A subtitle could not be converted; the message says why, in words."""


class SubtitleCache:
    """WebVTT conversions of subtitle streams, kept in ``cache_dir`` until the source changes."""

    def __init__(self, ffmpeg: str, cache_dir: Path, timeout_s: float = 60) -> None:
        self.ffmpeg = ffmpeg
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s
        self._guard = threading.Lock()
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = (
            weakref.WeakValueDictionary()
        )

    def webvtt(
        self, file_path: str | Path, stream: Mapping[str, Any], *, mpegts_offset: int = 0
    ) -> Path:
        """The WebVTT file of ``stream`` (a ``streams`` row) of the video at ``file_path``.

        Its header maps cue time 0 to ``mpegts_offset`` (90 kHz ticks of the media segments'
        timeline), as HLS players need.  Cue times are relative to the start of the file (its
        earliest stream: ffmpeg's default without ``-copyts``), as a sidecar's are.
        """
        codec = stream.get("codec") or "unknown"
        if codec not in TEXT_SUBTITLES:
            raise SubtitleError(
                f"{codec} subtitles are pictures, not text; they can only be burned in"
            )
        video = Path(file_path)
        external = stream.get("external_path")
        sidecar = Path(external) if external else None
        track = sidecar.absolute() if sidecar else stream["idx"]
        identity = f"{video.absolute()}\0{track}\0{mpegts_offset}"  # one file per offset

        def convert(target: Path) -> None:
            self._convert(video, stream, sidecar, target, mpegts_offset)

        return self._cache_entry(identity, video, sidecar, ".vtt", convert, _FORMAT_VERSION)

    def _cache_entry(
        self,
        identity: str,
        video: Path,
        sidecar: Path | None,
        suffix: str,
        make: Callable[[Path], None],
        format_version: int,
    ) -> Path:
        """The cache's file (or folder) for ``identity``, made by ``make(target)`` once per
        version of its sources, one request at a time; older versions are removed."""
        version = [format_version, *_stat(video), *(_stat(sidecar) if sidecar else [])]
        stem = _digest(identity)
        target = self.cache_dir / f"{stem}-{_digest(repr(version))}{suffix}"
        with self._lock_for(stem):
            if target.exists():
                return target
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            make(target)
            for old in self.cache_dir.glob(f"{stem}-*{suffix}"):
                if old != target and old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                elif old != target:
                    old.unlink(missing_ok=True)
        return target

    def _lock_for(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = threading.Lock()
            return lock

    def _convert(
        self,
        video: Path,
        stream: Mapping[str, Any],
        sidecar: Path | None,
        target: Path,
        mpegts_offset: int,
    ) -> None:
        tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}.tmp")
        copy = stream.get("codec") == "webvtt"  # re-encoding would lose cue settings
        # SubRip is copied out as SubRip and its cue text rendered here (cue_text.py):
        # ffmpeg's decoder drops "<Bob>" and any other text in brackets.
        srt = stream.get("codec") == "subrip"
        source = tmp.with_suffix(".src.srt" if srt else ".src.vtt")
        try:
            if sidecar is None:
                name = f"subtitle stream {stream['idx']} of {video.name}"
                inputs = [*guard_args(INPUT_GUARD), "-i", input_url(video)]
                mapping = f"0:{int(stream['idx'])}"
            else:
                name = sidecar.name
                raw = read_sidecar(sidecar)
                if copy or srt:  # decoded here: a copied track never meets -sub_charenc
                    text = decode_text(raw)
                    source.write_text(without_style_blocks(text) if copy else text, "utf-8")
                    sidecar = source
                    charset = None
                else:
                    charset = _sub_charenc(raw)
                inputs = [*guard_args(_SIDECAR_GUARD)]
                inputs += ["-sub_charenc", charset] if charset else []
                inputs += ["-i", input_url(sidecar)]
                mapping = "0:s:0"
            argv = [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
            argv += [*inputs, "-map", mapping, "-c:s", "copy" if copy or srt else "webvtt"]
            argv += ["-f", "srt" if srt else "webvtt", input_url(tmp)]
            self._run(argv, name, {str(source.absolute()): name})
            text = tmp.read_text(encoding="utf-8", errors="replace")
            if srt:
                text = webvtt_from_srt(text)
            if not text.lstrip("\ufeff").startswith("WEBVTT"):
                raise SubtitleError(f"ffmpeg wrote no WebVTT for {name}")
            with open(tmp, "w", encoding="utf-8", newline="\n") as out:
                out.write(finish_webvtt(text, mpegts_offset, escape=not (copy or srt)))
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
            source.unlink(missing_ok=True)

    def _run(self, argv: list[str], name: str, aliases: Mapping[str, str]) -> None:
        """Run ffmpeg for ``name``; ``aliases``: paths that stand for a file a person knows."""
        try:
            run_ffmpeg(argv, timeout_s=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise SubtitleError(
                f"converting {name} took longer than {self.timeout_s:g} s; gave up"
            ) from None
        except subprocess.CalledProcessError as exc:
            why = ffmpeg_failure(exc.stderr, argv=argv, code=exc.returncode, names=aliases)
            raise SubtitleError(f"could not convert {name}: {why}") from None
        except OSError as exc:
            raise SubtitleError(f"could not run ffmpeg for {name}: {failure_words(exc)}") from None


def subtitle_playlist(duration_s: float, vtt_uri: str) -> str:
    """An HLS VOD media playlist whose one segment is the whole WebVTT file."""
    if not duration_s > 0 or not math.isfinite(duration_s):
        raise ValueError(f"a subtitle playlist needs a positive duration, not {duration_s!r}")
    if any(c in vtt_uri for c in "\r\n"):
        raise ValueError("the subtitle URI must be one line")
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{math.ceil(duration_s)}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXTINF:{duration_s:.3f},",
        vtt_uri,
        "#EXT-X-ENDLIST",
    ]
    return "\n".join(lines) + "\n"


def rendition_attrs(stream: Mapping[str, Any]) -> dict[str, str]:
    """``EXT-X-MEDIA`` attributes of a subtitle stream: NAME, LANGUAGE (when known),
    DEFAULT, AUTOSELECT, FORCED.  NAME and LANGUAGE are quoted-string values; names are not
    made unique here (two untitled English tracks are both "English")."""
    language = stream.get("language")
    title = (stream.get("title") or "").strip()
    forced = bool(stream.get("is_forced"))
    default = bool(stream.get("is_default"))
    base = language_name(language) or language_tag(language)  # an unknown code as stored
    if title and base and base.lower() not in title.lower():
        name = f"{base} ({title})"
    else:
        name = title or base or ""
    if forced and "forced" not in name.lower():
        name = f"{name} (Forced)" if name else "Forced"
    attrs = {"NAME": _quotable(name or "Unknown")}
    tag = language_tag(language)
    if tag:
        attrs["LANGUAGE"] = _quotable(tag)
    yes = {True: "YES", False: "NO"}
    attrs["DEFAULT"] = yes[default]
    attrs["AUTOSELECT"] = yes[default or forced or tag is not None]
    attrs["FORCED"] = yes[forced]
    return attrs


def language_tag(code: str | None) -> str | None:
    """``eng``/``en`` -> ``en``, ``fre`` -> ``fr``, ``pt_BR`` -> ``pt-BR``; ``und`` -> None;
    a code babelfish does not know is returned as stored."""
    if not code or not code.strip():
        return None
    primary, _, region = code.strip().replace("_", "-").partition("-")
    lang = parse_language(primary)
    if lang is None:
        return code.strip()
    if lang.alpha3 in NOT_LANGUAGES:
        return None
    try:
        base = str(lang.alpha2)
    except BabelfishError:
        base = str(lang.alpha3)
    return f"{base}-{region.upper() if len(region) == 2 else region}" if region else base


def language_name(code: str | None) -> str | None:
    """``eng`` -> ``English``, ``pt-BR`` -> ``Portuguese (Brazil)``; None when unknown."""
    if not code or not code.strip():
        return None
    primary, _, region = code.strip().replace("_", "-").partition("-")
    lang = parse_language(primary)
    if lang is None or lang.alpha3 in NOT_LANGUAGES:
        return None
    name = re.sub(r"\s*\(.*\)$", "", str(lang.name)).split(";")[0]  # "Modern Greek (1453-)"
    try:
        return f"{name} ({str(Country(region.upper()).name).title()})" if region else name
    except (BabelfishError, ValueError):
        return name


def parse_language(code: str) -> Any:
    """A babelfish Language from a 2- or 3-letter code or an English name; None if unknown."""
    try:
        if len(code) == 2:
            return Language.fromalpha2(code.lower())
        if len(code) == 3:
            try:
                return Language.fromalpha3b(code.lower())
            except BabelfishError:
                return Language(code.lower())
        return Language.fromname(code.title())
    except (BabelfishError, ValueError, KeyError):
        return None


def _quotable(text: str) -> str:
    """An HLS quoted-string cannot hold a double quote or a line break."""
    return re.sub(r"[\r\n]+", " ", text).replace('"', "'")


def _stat(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError as exc:
        raise SubtitleError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    return [st.st_size, st.st_mtime_ns]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def guard_args(guard: Mapping[str, str]) -> list[str]:
    """ffmpeg input options from a guard such as ``INPUT_GUARD``."""
    return [arg for key, value in guard.items() for arg in (f"-{key}", value)]


def read_sidecar(path: Path) -> bytes:
    """A sidecar subtitle's bytes: refused when it links out of its folder or is huge."""
    if not stays_home(path):
        raise SubtitleError(f"{path.name} is a link to a file outside its folder; not read")
    try:
        if path.stat().st_size > _MAX_SIDECAR_BYTES:
            raise SubtitleError(f"{path.name} is too large to be a subtitle file")
        return path.read_bytes()
    except OSError as exc:
        raise SubtitleError(f"cannot read {path.name}: {exc.strerror or exc}") from None


def _sub_charenc(raw: bytes) -> str | None:
    """The charset to give ``-sub_charenc``: None for UTF-8 (and for UTF-16 with a BOM,
    which ffmpeg reads itself), else Windows-1252 if it decodes, else Latin-1 (always does)."""
    if raw.startswith(_UTF16_BOMS):
        return None
    for python_name, ffmpeg_name in (("utf-8", None), ("cp1252", "CP1252")):
        try:
            raw.decode(python_name)
            return ffmpeg_name
        except UnicodeDecodeError:
            pass
    return "ISO-8859-1"


def decode_text(raw: bytes) -> str:
    """A text file's bytes as text: UTF-16 with a BOM, UTF-8, else Windows-1252 or Latin-1."""
    if raw.startswith(_UTF16_BOMS):
        return raw.decode("utf-16", "replace")
    for codec in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")
