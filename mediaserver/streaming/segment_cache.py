"""The segment cache: finished HLS segments on disk, within a size quota, LRU eviction.

Layout: ``<root>/<stream key>/stream.json`` (how to make the stream), ``init.mp4`` and
``<n>.m4s`` or ``<n>.ts``.  Keys are content addresses (file + rendition), so a segment made
once serves every later viewer and survives restarts.  Files appear atomically (written
beside, then renamed), so a reader never sees half a segment.  Eviction takes the least
recently used segments first and skips the ones a live job or viewer is about to need
(``protected``); init segments and stream descriptions go with their last segment.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import structlog

__all__ = ["SegmentCache"]

log = structlog.get_logger(__name__)
_SEGMENT = re.compile(r"^(\d+)\.(m4s|ts)$")
_KEY = re.compile(r"^[0-9a-f]{24}$")


class SegmentCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.protected: Callable[[str, int], bool] = lambda key, index: False
        self.in_use: Callable[[str], bool] = lambda key: False  # a live job writes into it
        self._lock = threading.Lock()
        self._lru: collections.OrderedDict[tuple[str, int], tuple[str, int]] = (
            collections.OrderedDict()
        )  # (key, index) -> (extension, size)
        self.total_bytes = 0
        self.hits = 0
        self.misses = 0

    def open(self) -> None:
        """Adopt what a previous run left: finished segments stay, half-written ones go."""
        self.root.mkdir(parents=True, exist_ok=True)
        found: list[tuple[float, str, int, str, int]] = []
        for entry in os.scandir(self.root):
            if not (entry.is_dir(follow_symlinks=False) and _KEY.match(entry.name)):
                _remove(Path(entry.path))  # job folders and strays of a crashed run
                continue
            for item in os.scandir(entry.path):
                match = _SEGMENT.match(item.name)
                if item.name.endswith(".tmp") or item.is_dir(follow_symlinks=False):
                    _remove(Path(item.path))
                elif match:
                    stat = item.stat()
                    found.append((stat.st_mtime, entry.name, int(match[1]), match[2], stat.st_size))
        with self._lock:
            for _, key, index, ext, size in sorted(found):
                self._lru[(key, index)] = (ext, size)
                self.total_bytes += size
        log.info("segment cache opened", segments=len(found), bytes=self.total_bytes)
        self.evict()

    def stream_dir(self, key: str) -> Path:
        assert _KEY.match(key), key  # keys are parsed strictly before they get here
        return self.root / key

    def contains(self, key: str, index: int) -> bool:
        """Whether the segment is cached (no hit or miss counted)."""
        with self._lock:
            return (key, index) in self._lru

    def lookup(self, key: str, index: int) -> Path | None:
        """The finished segment, or None; a hit makes it the most recently used."""
        with self._lock:
            entry = self._lru.get((key, index))
            if entry is None:
                self.misses += 1
                return None
            path = self.stream_dir(key) / f"{index}.{entry[0]}"
            if not path.exists():  # someone cleaned the cache folder by hand: make it again
                del self._lru[(key, index)]
                self.total_bytes -= entry[1]
                self.misses += 1
                return None
            self._lru.move_to_end((key, index))
            self.hits += 1
        return path

    def put(self, key: str, index: int, ext: str, data: bytes | bytearray) -> Path:
        """Store a finished segment atomically; OSError (a full disk) goes to the caller."""
        target = self.stream_dir(key) / f"{index}.{ext}"
        tmp = target.with_name(target.name + ".tmp")
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        self._account(key, index, ext, len(data))
        return target

    def adopt(self, key: str, index: int, ext: str, source: Path) -> Path:
        """Move a segment ffmpeg finished (same file system) into the cache."""
        target = self.stream_dir(key) / f"{index}.{ext}"
        os.replace(source, target)
        self._account(key, index, ext, target.stat().st_size)
        return target

    def _account(self, key: str, index: int, ext: str, size: int) -> None:
        with self._lock:
            old = self._lru.pop((key, index), None)
            if old is not None:
                self.total_bytes -= old[1]
            self._lru[(key, index)] = (ext, size)
            self.total_bytes += size
        if self.total_bytes > self.max_bytes:
            self.evict()

    def evict(self) -> int:
        """Drop least recently used, unprotected segments until within quota; bytes freed."""
        freed = 0
        emptied: set[str] = set()
        with self._lock:
            for (key, index), (ext, size) in list(self._lru.items()):
                if self.total_bytes <= self.max_bytes:
                    break
                if self.protected(key, index):
                    continue
                with contextlib.suppress(FileNotFoundError):
                    (self.root / key / f"{index}.{ext}").unlink()
                del self._lru[(key, index)]
                self.total_bytes -= size
                freed += size
                emptied.add(key)
            still_used = {key for key, _ in self._lru}
        for key in emptied - still_used:
            if not self.in_use(key):
                self.forget(key)
        return freed

    def forget(self, key: str) -> None:
        """Remove a whole stream (its last segment went, or its file changed)."""
        with self._lock:
            for entry in [k for k in self._lru if k[0] == key]:
                self.total_bytes -= self._lru.pop(entry)[1]
        _remove(self.stream_dir(key))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()
