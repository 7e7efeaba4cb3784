"""The server process's heap: few malloc arenas, and free memory handed back to the system.

glibc's malloc gives each thread that allocates at the same time as another an arena of its
own (up to 8 per core) and hands freed memory back only from the top of each heap.  A
burst of requests on worker threads (pictures decoded, pages rendered, catalog reads) thus
left the server some 40 MB bigger for good although Python had freed it (measured with
``bench/idle_memory.py``).  Two arenas are plenty for one Python process (the GIL lets one
thread allocate at a time), and :class:`Trimmer` calls ``malloc_trim`` when at least
``threshold`` more bytes lie free than after its last call: some 10 ms every ``interval``
seconds at most.
Elsewhere than glibc (musl, macOS) both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import structlog

__all__ = ["Trimmer", "free_heap_bytes", "limit_arenas", "trim"]

log = structlog.get_logger(__name__)

_M_ARENA_MAX = -8  # mallopt's parameter, from glibc's malloc.h


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        libc.malloc_trim, libc.mallopt  # noqa: B018 (present, or AttributeError)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _glibc()


def limit_arenas(count: int = 2) -> bool:
    """At most ``count`` malloc arenas from now on (before the worker threads start)."""
    return _LIBC is not None and bool(_LIBC.mallopt(_M_ARENA_MAX, count))


def free_heap_bytes() -> int:
    """Bytes malloc holds free in its heaps (what ``trim`` could hand back)."""
    return int(_LIBC.mallinfo2().fordblks) if _LIBC is not None else 0


def trim() -> None:
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


class Trimmer:
    """A thread that hands free heap memory back every ``interval`` s when there is some."""

    def __init__(self, *, interval: float = 5.0, threshold: int = 4 * 2**20) -> None:
        self.interval = interval
        self.threshold = threshold
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if _LIBC is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="heap-trimmer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        # Trimmed pages still count as free chunks: trim again only when more was freed.
        trimmed = 0
        while not self._stop.wait(self.interval):
            free = free_heap_bytes()
            if free >= trimmed + self.threshold:
                trim()
            trimmed = min(trimmed, free) if free < trimmed + self.threshold else free
