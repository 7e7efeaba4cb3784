"""Just enough ISO BMFF to cut ffmpeg's fragmented MP4 into HLS segments ourselves.

ffmpeg writes one fragmented MP4 to a pipe (``-movflags +frag_keyframe+empty_moov``): an
init segment (``ftyp`` + ``moov``) and then one ``moof`` + ``mdat`` pair per keyframe.  We
group fragments into the segments the playlist promised and move each fragment's decode
time (``tfdt``) by the job's start, because the mp4 muxer starts every job at zero whatever
``-ss``, ``-copyts`` or ``-output_ts_offset`` say (measured, ffmpeg 5.1).  A job restarted
at segment N therefore produces the same timeline as one that ran from the start.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "Box",
    "Track",
    "fragment_end",
    "fragment_time",
    "iter_boxes",
    "read_tracks",
    "shift_fragment",
]


@dataclass(frozen=True, slots=True)
class Box:
    kind: str
    start: int  # offset of the box header
    header: int  # header length (8, or 16 for a 64-bit size)
    size: int

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def body(self) -> int:
        return self.start + self.header


@dataclass(frozen=True, slots=True)
class Track:
    track_id: int
    timescale: int
    handler: str  # "vide", "soun", ...


def iter_boxes(
    data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
) -> Iterator[Box]:
    """Boxes between ``start`` and ``end``; stops at the first incomplete one."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if offset + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:  # "to the end of the file": only ever the last box
            size = end - offset
        if size < header or offset + size > end:
            return
        yield Box(kind.decode("latin-1"), offset, header, size)
        offset += size


def _child(data: bytes | bytearray, parent: Box, kind: str) -> Box | None:
    return next((b for b in iter_boxes(data, parent.body, parent.end) if b.kind == kind), None)


def read_tracks(moov: bytes) -> dict[int, Track]:
    """Track id → timescale and handler, from an init segment's ``moov``."""
    tracks: dict[int, Track] = {}
    for top in iter_boxes(moov):
        if top.kind != "moov":
            continue
        for trak in iter_boxes(moov, top.body, top.end):
            if trak.kind != "trak":
                continue
            tkhd = _child(moov, trak, "tkhd")
            mdia = _child(moov, trak, "mdia")
            if tkhd is None or mdia is None:
                continue
            version = moov[tkhd.body]
            (track_id,) = struct.unpack_from(">I", moov, tkhd.body + (20 if version else 12))
            mdhd = _child(moov, mdia, "mdhd")
            hdlr = _child(moov, mdia, "hdlr")
            if mdhd is None or hdlr is None:
                continue
            version = moov[mdhd.body]
            (timescale,) = struct.unpack_from(">I", moov, mdhd.body + (20 if version else 12))
            handler = bytes(moov[hdlr.body + 8 : hdlr.body + 12]).decode("latin-1")
            tracks[track_id] = Track(track_id, timescale, handler)
    return tracks


def _trafs(data: bytes | bytearray, moof: Box) -> Iterator[tuple[int, Box | None, Box | None]]:
    for traf in iter_boxes(data, moof.body, moof.end):
        if traf.kind != "traf":
            continue
        tfhd = _child(data, traf, "tfhd")
        if tfhd is None:
            continue
        (track_id,) = struct.unpack_from(">I", data, tfhd.body + 4)
        yield track_id, _child(data, traf, "tfdt"), _child(data, traf, "trun")


def _tfdt_value(data: bytes | bytearray, tfdt: Box) -> int:
    if data[tfdt.body] == 1:
        return int(struct.unpack_from(">Q", data, tfdt.body + 4)[0])
    return int(struct.unpack_from(">I", data, tfdt.body + 4)[0])


def _first_composition_offset(data: bytes | bytearray, trun: Box | None) -> int:
    if trun is None:
        return 0
    version = data[trun.body]
    flags = int.from_bytes(data[trun.body + 1 : trun.body + 4], "big")
    if not flags & 0x800:
        return 0
    position = trun.body + 8
    position += 4 * sum(1 for bit in (0x1, 0x4, 0x100, 0x200, 0x400) if flags & bit)
    return int(struct.unpack_from(">i" if version else ">I", data, position)[0])


def fragment_time(data: bytes | bytearray, moof: Box, track: Track) -> float | None:
    """Presentation time (seconds, job-relative) of ``track``'s first sample in ``moof``."""
    for track_id, tfdt, trun in _trafs(data, moof):
        if track_id == track.track_id and tfdt is not None:
            ticks = _tfdt_value(data, tfdt) + _first_composition_offset(data, trun)
            return ticks / track.timescale
    return None


def shift_fragment(data: bytearray, moof: Box, tracks: dict[int, Track], seconds: float) -> None:
    """Move every track's decode time in ``moof`` by ``seconds``, in place."""
    for track_id, tfdt, _trun in _trafs(data, moof):
        track = tracks.get(track_id)
        if track is None or tfdt is None:
            continue
        value = _tfdt_value(data, tfdt) + round(seconds * track.timescale)
        if data[tfdt.body] == 1:
            struct.pack_into(">Q", data, tfdt.body + 4, value)
        elif value < 2**32:
            struct.pack_into(">I", data, tfdt.body + 4, value)
        else:
            raise ValueError("a 32-bit tfdt cannot hold this start time")


def fragment_end(data: bytes | bytearray, moof: Box, track: Track) -> float | None:
    """Decode time (seconds, job-relative) just after ``track``'s last sample in ``moof``.

    Lets a segment be stored the moment its last fragment is in, instead of when the next
    fragment starts (which for a transcode means a whole segment of encoding later).
    None when the durations are not in the fragment.
    """
    for traf in iter_boxes(data, moof.body, moof.end):
        if traf.kind != "traf":
            continue
        tfhd = _child(data, traf, "tfhd")
        tfdt = _child(data, traf, "tfdt")
        if tfhd is None or tfdt is None:
            continue
        if struct.unpack_from(">I", data, tfhd.body + 4)[0] != track.track_id:
            continue
        tf_flags = int.from_bytes(data[tfhd.body + 1 : tfhd.body + 4], "big")
        position = tfhd.body + 8 + (8 if tf_flags & 0x1 else 0) + (4 if tf_flags & 0x2 else 0)
        default = struct.unpack_from(">I", data, position)[0] if tf_flags & 0x8 else None
        total = 0
        for trun in iter_boxes(data, traf.body, traf.end):
            if trun.kind != "trun":
                continue
            flags = int.from_bytes(data[trun.body + 1 : trun.body + 4], "big")
            (count,) = struct.unpack_from(">I", data, trun.body + 4)
            position = trun.body + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
            if not flags & 0x100:
                if default is None:
                    return None
                total += default * count
                continue
            step = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            total += sum(
                struct.unpack_from(">I", data, position + n * step)[0] for n in range(count)
            )
        return (_tfdt_value(data, tfdt) + total) / track.timescale
    return None
