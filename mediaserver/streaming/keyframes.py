"""The keyframe index of a file: where a copied (remuxed) stream can be cut into segments.

Collected once, on first play, by reading packets (no decoding) in a worker process with a
timeout, like probing, and stored with the file as packed doubles (8 bytes a keyframe: a
two-hour film with a keyframe every 2 s is 29 KB).  Times are seconds from the start of the
video stream, so files whose first timestamp is not zero line up with the playlist.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import threading
from array import array
from pathlib import Path

import pebble

from mediaserver.db import Database
from mediaserver.ffmpeg_tools import INPUT_GUARD, failure_words, input_url

__all__ = ["KeyframeError", "KeyframeIndex", "pack", "read_keyframes", "unpack"]


class KeyframeError(Exception):
    """The file's keyframes could not be read; the message says why."""


def read_keyframes(path: str) -> list[float]:
    """Keyframe times of the first video stream, in seconds from its start (a worker runs it)."""
    import av

    with av.open(input_url(Path(path)), options=dict(INPUT_GUARD), timeout=20.0) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        time_base = stream.time_base
        if time_base is None:
            return []
        start = stream.start_time or 0
        times = {
            round(float((packet.pts - start) * time_base), 6)
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        }
    return sorted(t for t in times if t >= 0)


def pack(times: list[float]) -> bytes:
    return array("d", times).tobytes()


def unpack(blob: bytes) -> list[float]:
    values = array("d")
    values.frombytes(blob)
    return values.tolist()


class KeyframeIndex:
    """Stored keyframe lists, computed on first use in a one-worker pool."""

    def __init__(self, db: Database, *, timeout_s: float = 120.0) -> None:
        self.db = db
        self.timeout_s = timeout_s
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._pool: pebble.ProcessPool | None = None

    def get(self, file_id: int) -> list[float]:
        """The keyframes of file ``file_id``; KeyError for an unknown file."""
        with self._guard:
            lock = self._locks.setdefault(file_id, threading.Lock())
        with lock:  # two viewers starting the same film read it once
            row = self.db.query_one("SELECT path, keyframes FROM files WHERE id = ?", [file_id])
            if row is None:
                raise KeyError(file_id)
            if row["keyframes"] is not None:
                return unpack(row["keyframes"])
            times = self._compute(row["path"])
            blob = pack(times)
            self.db.write(
                lambda db: db.execute(
                    "UPDATE files SET keyframes = ? WHERE id = ?", [blob, file_id]
                )
            )
            return times

    def _compute(self, path: str) -> list[float]:
        with self._guard:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = pebble.ProcessPool(max_workers=1, max_tasks=50, context=context)
            pool = self._pool
        future = pool.schedule(read_keyframes, args=(path,), timeout=self.timeout_s)
        try:
            times: list[float] = future.result()
        except concurrent.futures.TimeoutError:
            raise KeyframeError("reading the keyframes took too long") from None
        except pebble.ProcessExpired as exc:
            raise KeyframeError(f"the keyframe reader crashed (exit code {exc.exitcode})") from None
        except Exception as exc:
            raise KeyframeError(f"the keyframes could not be read: {failure_words(exc)}") from None
        if not times:
            raise KeyframeError("the video has no keyframes")
        return times

    def close(self) -> None:
        with self._guard:
            if self._pool is not None:
                self._pool.stop()
                self._pool.join(timeout=10)
                self._pool = None
