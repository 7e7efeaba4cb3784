"""What ``/health`` reports: can the server read, write and play, and if not, why.

A load balancer or a monitor needs more than "the process answers": with the data folder's
disk full every write answers 507 while reads still work, and ffmpeg gone means nothing
can be converted.  Each check here gives a reason in words; any reason makes the server
"degraded" (503 from ``/health``).

Writes are judged two ways: the free space of the data folder's disk, and what the
catalog's writer last met (a full disk, an I/O error, a read-only file), remembered until
a write succeeds.  Since a load balancer that stops sending traffic also stops the writes
that would show a recovery, a failing writer is probed with one small write at most every
``PROBE_EVERY_S`` seconds once the disk has room again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mediaserver.db import Database
from mediaserver.db.database import is_disk_full

__all__ = ["MIN_FREE_BYTES", "PROBE_EVERY_S", "Health", "HealthCheck"]

MIN_FREE_BYTES = 1024 * 1024  # below this the catalog cannot grow its log: the disk is full
PROBE_EVERY_S = 5.0


@dataclass(frozen=True)
class Health:
    db: bool  # the catalog can be read
    writable: bool  # writes can succeed
    ffmpeg: bool
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class HealthCheck:
    def __init__(
        self,
        db: Database,
        data_dir: Path,
        ffmpeg_path: str,
        *,
        probe_every_s: float = PROBE_EVERY_S,
    ) -> None:
        self.db = db
        self.probe_every_s = probe_every_s
        self.data_dir = data_dir
        self.ffmpeg_path = ffmpeg_path
        self._probe_lock = threading.Lock()
        self._probed_at = float("-inf")

    def check(self) -> Health:
        problems: list[str] = []
        try:
            readable = self.db.query_one("SELECT 1") is not None
        except Exception:
            readable = False
        if not readable:
            problems.append("the catalog cannot be read")
        free = self._free_bytes()
        disk_full = free is not None and free < MIN_FREE_BYTES
        if disk_full:
            problems.append(
                "the disk of the data folder is full: nothing can be saved until some space is freed"
            )
        failing = self._writer_problem(probe=not disk_full)
        if failing and not (disk_full and "disk is full" in failing):
            problems.append(failing)
        ffmpeg = shutil.which(self.ffmpeg_path) is not None
        if not ffmpeg:
            problems.append("ffmpeg cannot be found, so nothing can be converted for playing")
        writable = not disk_full and failing is None
        return Health(readable, writable, ffmpeg, problems)

    def _free_bytes(self) -> int | None:
        try:
            stats = os.statvfs(self.data_dir)
        except OSError:
            return None
        # root may use the blocks a file system keeps back; anyone else may not
        blocks = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail
        return blocks * stats.f_frsize

    def _writer_problem(self, *, probe: bool) -> str | None:
        """Why writes fail now, or None; a remembered failure is re-tried by a probe (not
        while the disk is still full: that write would only fail again)."""
        if not self.db.writer_alive:
            return "saving to the catalog has stopped (its writer is not running)"
        if self.db.write_failure is not None and probe:
            self._probe()
        failure = self.db.write_failure
        if failure is None:
            return None
        if is_disk_full(failure):
            return "saving to the catalog fails: the disk is full"
        return "saving to the catalog fails: the disk or the catalog file reports an error"

    def _probe(self) -> None:
        with self._probe_lock:
            if time.monotonic() - self._probed_at < self.probe_every_s:
                return
            self._probed_at = time.monotonic()
        with contextlib.suppress(Exception):  # the writer remembers what went wrong
            self.db.probe_write()  # success clears the failure, a storage error renews it
