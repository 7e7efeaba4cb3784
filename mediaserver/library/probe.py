"""Probing media files with PyAV in a small pool of worker processes.

PyAV in-process is ~7x faster than an ffprobe subprocess, but a hostile file must never
crash or hang the server: each probe runs in a pebble worker process with a wall-clock
timeout; a worker that dies or hangs is replaced and the file gets the reason.

Hearth counts every file's time from 0 (``docs/architecture.md``, "One timeline"): a file
whose own clock starts late (an MP4 edit list, a Matroska cut, an MPEG-TS recording) keeps
that start as ``start_offset_s``, and its length and chapters are measured from there.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import math
import multiprocessing
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pebble

from mediaserver.ffmpeg_tools import INPUT_GUARD, input_url
from mediaserver.library.damage import damage_note, readable_length
from mediaserver.library.images import partial_path
from mediaserver.library.naming import ParsedName, parse_media_path

__all__ = [
    "HDR_TRANSFERS",
    "PROBE_VERSION",
    "ProbeResult",
    "Prober",
    "grab_frame",
    "normalise_language",
    "probe_file",
    "rebase_chapters",
]

# What a probe reads, as a number: a file probed by an older Hearth (a smaller number in
# ``files.probe_version``) is probed again at the next scan.  1: the colour transfer.
PROBE_VERSION = 1

_FORCED = 0x40  # AV_DISPOSITION_FORCED
# AVFieldOrder: anything but "progressive" is interlaced and needs deinterlacing to transcode.
_FIELD_ORDERS = {1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
# Names muxers write when a track has none; showing "SoundHandler" helps nobody.
_DEFAULT_HANDLERS = {
    None,
    "",
    "SoundHandler",
    "VideoHandler",
    "SubtitleHandler",
    "Core Media Audio",
    "Core Media Video",
    "ISO Media file produced by Google Inc.",
}
# ISO 639-2/B codes some muxers write, mapped to the /T codes the rest use.
_BIBLIOGRAPHIC = {
    "fre": "fra",
    "ger": "deu",
    "dut": "nld",
    "chi": "zho",
    "cze": "ces",
    "gre": "ell",
    "per": "fas",
    "rum": "ron",
    "slo": "slk",
    "wel": "cym",
    "arm": "hye",
    "baq": "eus",
    "bur": "mya",
    "geo": "kat",
    "ice": "isl",
    "mac": "mkd",
    "mao": "mri",
    "may": "msa",
    "alb": "sqi",
    "tib": "bod",
}


def normalise_language(code: str | None) -> str | None:
    """``fre`` and ``fra`` are both French: store one code; ``und`` means unknown."""
    if not code or code.lower() in ("und", "unk", "zxx"):
        return None
    code = code.strip().lower()
    return _BIBLIOGRAPHIC.get(code, code)


_DEFAULT = 0x1  # AV_DISPOSITION_DEFAULT
# AVColorTransferCharacteristic, by ffmpeg's names (2, "unspecified", is left out).
_TRANSFERS = {
    1: "bt709",
    4: "gamma22",
    5: "gamma28",
    6: "smpte170m",
    7: "smpte240m",
    8: "linear",
    9: "log100",
    10: "log316",
    11: "iec61966-2-4",
    12: "bt1361e",
    13: "iec61966-2-1",
    14: "bt2020-10",
    15: "bt2020-12",
    16: "smpte2084",
    17: "smpte428",
    18: "arib-std-b67",
}
# PQ (HDR10, HDR10+, most Dolby Vision files) and HLG: the transfers that make a video HDR.
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")


@dataclass(slots=True)
class ProbeResult:
    container: str | None = None
    duration_s: float | None = None  # from the file's first timestamp to its last
    start_offset_s: float = 0.0  # the file's first timestamp on its own clock (seconds)
    bit_rate: int | None = None
    streams: list[dict[str, Any]] = field(default_factory=list)
    chapters: list[dict[str, Any]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    # Seconds that can be read of a file cut short of ``duration_s``; None when it is whole.
    readable_s: float | None = None
    # The prober itself failed (not this file's fault): do not record, try again next scan.
    transient: bool = False
    # What the path says (guessit is slow: it runs here, in parallel, not in the scanner).
    parsed: ParsedName | None = None


def _container_name(format_name: str, suffix: str) -> str:
    names = format_name.split(",")
    ext = suffix.lower().lstrip(".")
    if ext in names or (ext == "mkv" and "matroska" in names):
        return ext
    if "matroska" in names:
        return "webm" if ext == "webm" else "mkv"
    if "mpegts" in names:
        return "ts"
    return "mp4" if "mp4" in names else names[0]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _format_name(codec_context: Any) -> str | None:
    """The stream's format as FFmpeg names it (``av1``, ``mp3``, ``subrip``,
    ``hdmv_pgs_subtitle``), not the decoder it picked to read it (``libdav1d``, ``mp3float``,
    ``srt``, ``pgssub``): profiles, players and the decision compare formats, and a decoder
    name changes with how FFmpeg was built."""
    codec = getattr(codec_context, "codec", None)
    return getattr(codec, "canonical_name", None) or getattr(codec_context, "name", None)


def _stream_info(stream: Any) -> dict[str, Any]:
    cc = stream.codec_context
    disposition = int(stream.disposition)
    meta = stream.metadata
    title = meta.get("title") or meta.get("handler_name")  # MP4 keeps track names there
    if stream.type == "attachment":
        title = title or meta.get("filename")  # a font is known by its file name
    info: dict[str, Any] = {
        "idx": stream.index,
        "type": stream.type
        if stream.type in ("video", "audio", "subtitle", "attachment")
        else "data",
        "codec": _format_name(cc),
        "profile": getattr(cc, "profile", None),
        "level": None,
        "bit_rate": getattr(cc, "bit_rate", None) or None,
        "language": normalise_language(meta.get("language")),
        "title": None if title in _DEFAULT_HANDLERS else title,
        "is_default": bool(disposition & _DEFAULT),
        "is_forced": bool(disposition & _FORCED),
    }
    if stream.type == "video":
        fmt = cc.format
        rate = stream.average_rate or stream.guessed_rate
        info.update(
            level=getattr(cc, "level", None),
            width=cc.width or None,
            height=cc.height or None,
            pix_fmt=fmt.name if fmt else None,
            bit_depth=fmt.components[0].bits if fmt and fmt.components else None,
            frame_rate=round(float(rate), 3) if rate else None,
            field_order=_FIELD_ORDERS.get(int(getattr(cc, "field_order", 0) or 0)),
            color_transfer=_TRANSFERS.get(int(getattr(cc, "color_trc", 0) or 0)),
        )
    elif stream.type == "audio":
        info.update(
            channels=cc.channels or None,
            channel_layout=cc.layout.name if cc.layout else None,
            sample_rate=cc.sample_rate or None,
        )
    return info


def probe_file(
    path: str, library_root: str | None = None, frame_out: str | None = None
) -> ProbeResult:
    """Read container, streams, duration and chapters, parse the name, and (with
    ``frame_out``) save the frame at 10 % as a JPEG poster.  Runs in a worker process."""
    file = Path(path)
    result = _probe(file)
    result.parsed = parse_media_path(file, Path(library_root) if library_root else None)
    if frame_out and result.error is None and result.duration_s:
        at = result.duration_s * 0.10
        if result.readable_s is not None:  # a damaged file: a frame that is there
            at = min(at, result.readable_s / 2)
        # No poster is no reason to flag a file that probed fine; the scan makes one later.
        # (What is at frame_out may be another worker's, from a copy of this file.)
        with contextlib.suppress(Exception):
            grab_frame(file, at, Path(frame_out))
    return result


def grab_frame(file: Path, at_s: float, out: Path, width: int = 480) -> bool:
    """Decode the frame ``at_s`` seconds into the file and write it as a JPEG ``width`` pixels wide.

    About 10 ms, against 110 ms for an ffmpeg process.  A rotated (phone) video is left to
    the ffmpeg fallback, which turns it upright.  Returns False when it wrote nothing.
    """
    import av

    with av.open(input_url(file), options=dict(INPUT_GUARD), timeout=20.0) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        at = at_s + _start_offset(container)  # frame times are on the file's own clock
        if stream.time_base:
            container.seek(int(at / stream.time_base), stream=stream)
        frame = None
        for frame in container.decode(stream):
            if frame.time is None or frame.time >= at:
                break
        if frame is None or frame.rotation or not frame.width:
            return False
        height = max(2, round(frame.height * width / frame.width / 2) * 2)
        image = frame.reformat(width=width, height=height, format="yuvj420p")
        encoder = av.CodecContext.create("mjpeg", "w")
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
        encoder.time_base = Fraction(1, 25)
        encoder.options = {"qscale": "4"}
        data = b"".join(bytes(p) for p in [*encoder.encode(image), *encoder.encode(None)])
    if not data:
        return False
    partial = partial_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        partial.write_bytes(data)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return True


def _start_offset(container: Any) -> float:
    """Seconds from 0 to the file's first timestamp: where ffmpeg's ``-ss`` and ``-t``,
    subtitle extraction and Chromium's ``currentTime`` all count from."""
    start = container.start_time
    return _finite(start / 1_000_000 if start is not None else None) or 0.0


def _length(container: Any, start: float) -> float | None:
    """The file's length from its first timestamp to its last.

    Demuxers disagree on what "duration" is for a file that starts late: MP4's is the
    length, Matroska's the end on the file's own clock (a clip from 3600 s to 3608 s says
    3608).  A duration that cannot be told from an end is checked against the last packets.
    """
    duration = _finite(container.duration / 1_000_000 if container.duration else None)
    if duration is None or start <= 0 or duration <= start:
        return duration  # shorter than the start: it cannot be the end, so it is the length
    end = _last_timestamp(container, start + duration)
    if end is None or abs(end - duration) >= abs(end - (start + duration)):
        return duration  # the last packets end about ``start + duration``: it is the length
    return _finite(round(end - start, 6))


def _bit_rate(container: Any, length: float | None) -> int | None:
    """The file's bits per second over its real length: where the demuxer took the end for
    the length, it also spread the file's size over that (an hour for 8 s of a late clip)."""
    rate = int(container.bit_rate or 0)
    claimed = container.duration / 1_000_000 if container.duration else None
    if rate and length and claimed and claimed > length * 1.5:
        rate = round(rate * claimed / length)
    return rate or None


_END_PACKETS = 20_000  # more than the last few GOPs of any file: give up, keep what it says


def _last_timestamp(container: Any, claimed_end: float) -> float | None:
    """Where the last packet ends on the file's clock, read from the keyframe before
    ``claimed_end``; None when the file cannot say (no seek, no timestamps)."""
    import av

    try:
        container.seek(int(claimed_end * 1_000_000), backward=True, any_frame=False)
        end = None
        for n, packet in enumerate(container.demux()):
            if n >= _END_PACKETS:
                return None
            if packet.pts is None or packet.time_base is None:
                continue
            stop = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            end = stop if end is None else max(end, stop)
        return end
    except (av.FFmpegError, OSError, ValueError):
        return None


def rebase_chapters(chapters: list[dict[str, Any]], start: float) -> list[dict[str, Any]]:
    """Chapters on Hearth's clock (0 at the file's first timestamp).

    Most files time their chapters from 0 whatever their packets say; a file cut from a
    longer recording may time them on the packets' clock, all at or after the start.
    Those move back by the start; the rest stay as they are, and so does every chapter of
    a file that starts less than a second late (B-frame delay, audio priming).
    """
    if start < 1.0 or not chapters or min(c["start_s"] for c in chapters) < start - 0.5:
        return chapters
    return [
        {**c, "start_s": _moved(c["start_s"], start), "end_s": _moved(c["end_s"], start)}
        for c in chapters
    ]


def _moved(time: float, start: float) -> float:
    return max(0.0, round(time - start, 6))


def _probe(file: Path) -> ProbeResult:
    import av

    try:
        with av.open(input_url(file), options=dict(INPUT_GUARD), timeout=20.0) as container:
            streams = [_stream_info(s) for s in container.streams]
            start = _start_offset(container)
            chapters = [
                {
                    "start_s": float(ch["start"] * ch["time_base"]),
                    "end_s": float(ch["end"] * ch["time_base"]),
                    "title": ch["metadata"].get("title"),
                }
                for ch in container.chapters()
                if ch["time_base"] is not None
            ]
            length = _length(container, start)
            result = ProbeResult(
                container=_container_name(container.format.name, file.suffix),
                duration_s=length,
                start_offset_s=start,
                bit_rate=_bit_rate(container, length),
                streams=streams,
                chapters=rebase_chapters(chapters, start),
                tags={k.lower(): v for k, v in container.metadata.items()},
            )
            if length is not None:
                result.readable_s = readable_length(container, start, length)
    except av.FFmpegError as exc:
        return ProbeResult(error=f"not a readable media file ({exc.strerror or exc})")
    if not any(s["type"] == "video" for s in result.streams):
        result.error = "no video stream"
    elif result.duration_s is None:
        result.error = "unknown duration (the file may be truncated)"
    elif result.readable_s is not None and result.readable_s <= 0:
        result.error = "damaged: " + damage_note(result.readable_s, result.duration_s)
    return result


def _background_worker() -> None:
    """Probe workers run niced: a scan must not slow playback or the API (2 cores)."""
    with contextlib.suppress(OSError):
        os.nice(10)


class Prober:
    """A pool of probe workers; ``probe(path)`` blocks up to the timeout."""

    def __init__(self, workers: int = 2, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        # spawn, not fork: the server process has threads, and forking those is unsafe.
        self._pool = pebble.ProcessPool(
            max_workers=workers,
            max_tasks=500,
            context=multiprocessing.get_context("spawn"),
            initializer=_background_worker,
        )

    def submit(
        self, path: Path, library_root: Path | None = None, frame_out: Path | None = None
    ) -> concurrent.futures.Future[ProbeResult]:
        args = (
            str(path),
            str(library_root) if library_root else None,
            str(frame_out) if frame_out else None,
        )
        future: concurrent.futures.Future[ProbeResult] = self._pool.schedule(
            probe_file, args=args, timeout=self.timeout_s
        )
        return future

    @staticmethod
    def result(future: concurrent.futures.Future[ProbeResult]) -> ProbeResult:
        """The future's result, or a ProbeResult whose error says why the worker gave up."""
        try:
            return future.result()
        except concurrent.futures.TimeoutError:
            return ProbeResult(error="probing took too long (the file may be damaged)")
        except pebble.ProcessExpired as exc:
            return ProbeResult(error=f"the probe crashed on this file (exit code {exc.exitcode})")
        except Exception as exc:
            return ProbeResult(error=f"probe failed: {type(exc).__name__}: {exc}", transient=True)

    def probe(self, path: Path) -> ProbeResult:
        return self.result(self.submit(path))

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)
