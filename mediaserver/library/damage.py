"""Whether a file can be read to the end it states, and how far it can when it cannot.

A film cut short (a copy that stopped, a download that never finished) still has the
duration its header gives: a faststart MP4 keeps its whole index in front, a Matroska file
its Segment info.  Players open it, play what is there and then stop or jump to the stated
end, which looked like "finished".  The scan checks the end instead: seek to a second
before the stated end and demux packets (no decoding) until one ends within a tolerance of
it.  On a whole file that reads about a second of data (a keyframe interval at most).

When the end is missing, the readable length is the last packet that could be read: from
that same pass when it ran into the end of the data (Matroska without its index falls back
to reading from the start), else by bisecting with seeks (an MP4 whose index points past
the end of the file).  A file that cannot be judged (a seek fails) is never called damaged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

__all__ = ["damage_note", "readable_length"]

_STEPS = 16  # bisection steps at most: a two-hour film to within a few seconds


class _CannotTell(Exception):
    """The demuxer cannot seek here: nothing is known about the end."""


def _tolerance(duration_s: float) -> float:
    # Streams of a whole file end a frame or two apart, and muxers round the duration.
    return max(2.0, duration_s * 0.005)


def readable_length(container: Any, start: float, duration_s: float) -> float | None:
    """None when ``container`` (an open PyAV input whose first timestamp is at ``start``
    seconds) reads to near its stated end, ``start + duration_s`` (or this cannot be told);
    else the seconds from its start that can be read (0.0 for none)."""
    import av

    end = start + duration_s
    try:
        furthest, reached = _read(container, max(start, end - 1.0), end - _tolerance(duration_s))
    except (_CannotTell, av.FFmpegError):
        return None
    if reached:
        return None
    if furthest is None:  # nothing near the end at all: find where the data stops
        low, high = start, end
        for _ in range(_STEPS):
            if high - low < max(0.5, duration_s / 4000):
                break
            middle = (low + high) / 2
            try:
                seen, reached = _read(container, middle, middle)
            except (_CannotTell, av.FFmpegError):
                break
            if seen is not None:
                furthest = seen if furthest is None else max(furthest, seen)
                if not reached:
                    break  # read up to where the data stops: that is the end
            low, high = (middle, high) if reached else (low, middle)
    return max(0.0, furthest - start) if furthest is not None else 0.0


def _read(container: Any, at: float, until: float) -> tuple[float | None, bool]:
    """Seek to ``at`` and demux until a packet ends at or after ``until`` (True) or the data
    stops (False); also the furthest packet end seen, in seconds."""
    import av

    try:
        container.seek(int(at * 1_000_000), backward=True, any_frame=True)
    except av.FFmpegError as exc:
        raise _CannotTell from exc
    furthest: float | None = None
    try:
        for packet in container.demux():  # every stream: a late subtitle counts as data too
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None or packet.time_base is None or packet.is_corrupt:
                continue
            ends = float((stamp + (packet.duration or 0)) * packet.time_base)
            furthest = ends if furthest is None else max(furthest, ends)
            if ends >= until:
                return furthest, True
    except av.FFmpegError:
        pass  # a read error past the cut is where the data stops
    return furthest, False


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def damage_note(readable_s: float, duration_s: float | None) -> str:
    """``only 0:00:01 of 0:00:12 can be read``: what the problems page and the item say."""
    stated = _clock(duration_s) if duration_s else "its length"
    if readable_s <= 0:
        return f"none of its {stated} can be read"
    return f"only {_clock(readable_s)} of {stated} can be read"
