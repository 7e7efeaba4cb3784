"""Segments that could not be made, remembered for a while.

A segment whose ffmpeg failed (a damaged stretch of a file, an input ffmpeg cannot read)
fails the same way the next time: asking again must not start another ffmpeg.  Each failure
is kept per stream and segment for ``ttl_s`` (then tried again: the file may have been
mended), and at most ``size`` of them (the oldest go first), so no request input can grow
it without bound.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailureMemory"]


class FailureMemory:
    def __init__(
        self,
        *,
        size: int = 512,
        ttl_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[tuple[str, int], tuple[float, str]] = OrderedDict()

    def remember(self, key: str, index: int, message: str) -> None:
        """Segment ``index`` of stream ``key`` failed with ``message`` (for the viewer)."""
        with self._lock:
            self._failures[(key, index)] = (self._clock() + self.ttl_s, message)
            self._failures.move_to_end((key, index))
            while len(self._failures) > self.size:
                self._failures.popitem(last=False)

    def recall(self, key: str, index: int) -> str | None:
        """The message of a failure still remembered, or None (never failed, or forgotten)."""
        with self._lock:
            found = self._failures.get((key, index))
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._failures[(key, index)]
                return None
            return found[1]

    def __len__(self) -> int:
        with self._lock:
            return len(self._failures)
