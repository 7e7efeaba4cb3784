"""The library service: the libraries the config file names, their folders, and scans that
run one at a time in the background with a live status the UI and the CLI show.

Libraries added in the web UI are made and changed by :mod:`mediaserver.library.libraries`;
this module scans them all the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from mediaserver import metrics
from mediaserver.db import Database
from mediaserver.events import Event, EventBus
from mediaserver.library import catalog
from mediaserver.library.links import OutsideLibrary, homes_of, within
from mediaserver.library.scanner import Progress, Scanner, ScanReport

__all__ = ["LibraryService", "ScanStatus"]

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class ScanStatus:
    state: str = "idle"  # idle | running | cancelling
    library: str | None = None
    library_id: int | None = None
    phase: str | None = None
    done: int = 0
    total: int = 0
    current: str | None = None
    started_at: float | None = None
    last: dict[str, Any] | None = None
    queued: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["percent"] = round(100 * self.done / self.total) if self.total else None
        return data


class LibraryService:
    def __init__(self, db: Database, bus: EventBus, scanner: Scanner) -> None:
        self.db = db
        self.bus = bus
        self.scanner = scanner
        self._status = ScanStatus()
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._closing = False

    def sync_libraries(
        self, roots: Sequence[Path], names: Sequence[str] = (), *, source: str = "config"
    ) -> list[int]:
        """One library per folder that ``source`` (the config file, or the demo) names;
        its libraries no longer named are hidden, not lost.  Libraries made in the web UI
        are left alone.

        A library is named after its folder unless ``names`` (parallel to ``roots``) says otherwise.
        """
        resolved = [r.expanduser().absolute() for r in roots]
        labels = [*names, *(r.name or str(r) for r in resolved[len(names) :])]

        def write(db: Any) -> list[int]:
            ids = [
                catalog.ensure_library(db, name, r, source=source)
                for r, name in zip(resolved, labels, strict=True)
            ]
            marks = ",".join("?" * len(ids))  # none named: all of that source go
            db.execute(
                f"UPDATE libraries SET active = 0 WHERE source = ? AND id NOT IN ({marks})",
                [source, *ids],
            )
            catalog.refresh_rating_ages(db)  # a catalog from before ratings were read as ages
            return ids

        return self.db.write(write)

    def libraries(self) -> list[dict[str, Any]]:
        """The active libraries by name, each with its ``folders``."""
        rows = [
            dict(r) for r in self.db.query("SELECT * FROM libraries WHERE active = 1 ORDER BY name")
        ]
        folders = self.folders()
        for row in rows:
            row["folders"] = folders.get(int(row["id"]), [row["path"]])
            row["follow_outside_links"] = bool(row["follow_outside_links"])
        return rows

    def folders(self) -> dict[int, list[str]]:
        """Every library's folders, in their order."""
        found: dict[int, list[str]] = {}
        for r in self.db.query(
            "SELECT library_id, path FROM library_folders ORDER BY library_id, position"
        ):
            found.setdefault(int(r[0]), []).append(r[1])
        return found

    def check_reachable(self, library_id: int, path: str | Path) -> None:
        """Raise :class:`OutsideLibrary` unless ``path``, links resolved, lies in one of
        the library's folders (or the library follows links that lead outside).  Checked
        whenever a file is played: a link can change after the scan that found it."""
        row = self.db.query_one(
            "SELECT path, follow_outside_links FROM libraries WHERE id = ?", [library_id]
        )
        if row is None:
            raise OutsideLibrary(f"the library of {Path(path).name} is gone")
        if row["follow_outside_links"]:
            return
        if not within(path, homes_of(self.folders().get(library_id, [row["path"]]))):
            raise OutsideLibrary(
                f"{Path(path).name} now leads outside its library's folders; "
                "it is not played until the library allows links that lead outside"
            )

    # -- scans --------------------------------------------------------------------------
    def request_scan(self, library_ids: Sequence[int] | None = None) -> ScanStatus:
        """Queue a scan (all active libraries by default); returns at once."""
        ids = list(library_ids) if library_ids else [int(lib["id"]) for lib in self.libraries()]
        with self._lock:
            if self._closing:
                return self._status
            for lid in ids:
                if lid not in self._status.queued:
                    self._status.queued.append(lid)
            if self._thread is None or not self._thread.is_alive():
                self._idle.clear()
                self._thread = threading.Thread(target=self._run, name="scanner", daemon=True)
                self._thread.start()
            return self.status()

    def cancel(self) -> None:
        with self._lock:
            self._status.queued.clear()
            if self._status.state == "running":
                self._status.state = "cancelling"
                self._cancel.set()

    def forget(self, library_id: int, timeout: float = 30.0) -> None:
        """Take a library out of the queue and stop its running scan (before it is removed):
        returns once the scanner has let go of it."""
        with self._lock:
            if library_id in self._status.queued:
                self._status.queued.remove(library_id)
            if self._status.library_id == library_id and self._status.state == "running":
                self._status.state = "cancelling"
                self._cancel.set()
        deadline = time.monotonic() + timeout
        while self._status.library_id == library_id and not self._idle.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scan of library {library_id} did not stop")
            self._idle.wait(0.05)

    def status(self) -> ScanStatus:
        s = self._status
        snapshot = ScanStatus(**{k: getattr(s, k) for k in ScanStatus.__slots__})
        snapshot.queued = list(s.queued)  # a copy: the scanner thread pops the live list
        return snapshot

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def close(self) -> None:
        with self._lock:
            self._closing = True
        self.cancel()
        self.wait_idle(30)

    def scan_now(self, library_id: int, progress: Progress | None = None) -> ScanReport:
        """Scan one library on the calling thread (the CLI), publishing the same events."""
        row = self.db.query_one("SELECT * FROM libraries WHERE id = ?", [library_id])
        if row is None:
            raise KeyError(library_id)
        return self._scan_one(dict(row), progress or (lambda *a: None))

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._status.queued or self._closing:
                        break
                    library_id = self._status.queued.pop(0)
                    self._cancel.clear()
                row = self.db.query_one("SELECT * FROM libraries WHERE id = ?", [library_id])
                if row is not None:
                    self._scan_one(dict(row), self._progress)
        except Exception:
            log.exception("scan failed")
        finally:
            with self._lock:
                self._status.state = "idle"
                self._status.phase = self._status.current = None
                self._idle.set()

    def _progress(self, phase: str, done: int, total: int, current: str | None) -> None:
        s = self._status
        s.phase, s.done, s.total, s.current = phase, done, total, current

    def _scan_one(self, library: dict[str, Any], progress: Progress) -> ScanReport:
        s = self._status
        with self._lock:
            s.state, s.library, s.started_at = "running", library["name"], time.time()
            s.library_id = int(library["id"])
        try:  # until its scan is recorded, the library is in use (see forget)
            return self._scan_and_record(library, progress)
        finally:
            s.library_id = None

    def _scan_and_record(self, library: dict[str, Any], progress: Progress) -> ScanReport:
        self.bus.publish(Event.SCAN_STARTED, {"library_id": library["id"], "name": library["name"]})
        folders = [Path(p) for p in self.folders().get(int(library["id"]), [library["path"]])]
        log.info("scan started", library=library["name"], folders=[str(f) for f in folders])
        started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with metrics.SCAN_DURATION.time():
            report = self.scanner.scan(
                int(library["id"]),
                folders,
                progress,
                self._cancel.is_set,
                follow_outside=bool(library.get("follow_outside_links")),
            )
        metrics.SCAN_FILES.inc(report.files_seen)
        self._record(library, report, started_at)
        for item_id in report.items_added:
            self.bus.publish(Event.ITEM_ADDED, {"item_id": item_id, "library_id": library["id"]})
        for item_id in report.items_removed:
            self.bus.publish(Event.ITEM_REMOVED, {"item_id": item_id, "library_id": library["id"]})
        summary = _summary(report)
        self.bus.publish(Event.SCAN_FINISHED, {"library_id": library["id"], **summary})
        log.info("scan finished", library=library["name"], **summary)
        s = self._status
        s.last = {"library": library["name"], "library_id": library["id"], **summary}
        return report

    def _record(self, library: dict[str, Any], report: ScanReport, started_at: str) -> None:
        def write(db: Any) -> None:
            db.table("scans").insert(
                {
                    "library_id": library["id"],
                    "started_at": started_at,
                    "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "outcome": "cancelled" if report.cancelled else "ok",
                    "files_seen": report.files_seen,
                    "files_probed": report.probed,
                    "items_added": len(report.items_added),
                    "items_removed": len(report.items_removed),
                    "problems": report.problems,
                }
            )
            db.execute(
                "UPDATE libraries SET last_scan_at = ? WHERE id = ?", [started_at, library["id"]]
            )
            catalog.refresh_rating_ages(db)

        self.db.write(write)


def _summary(report: ScanReport) -> dict[str, Any]:
    return {
        "files": report.files_seen,
        "unchanged": report.unchanged,
        "probed": report.probed,
        "moved": report.moved,
        "added": len(report.items_added),
        "removed": len(report.items_removed),
        "problems": report.problems,
        "images": report.images,
        "cancelled": report.cancelled,
        "duration_s": round(report.duration_s, 3),
    }
