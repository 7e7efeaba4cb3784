"""One scan of one library: walk, compare, probe what is new, save, prune, make posters.

Incremental by size + mtime: an unchanged file is never opened again, unless an older
Hearth probed it (``files.probe_version``: a newer probe reads more).  A file that disappears
while a file of the same size and fingerprint appears is a move, so its row, item and user
data survive.  A library folder that cannot be read (an unplugged disk) removes nothing.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils
import structlog

from mediaserver.config import NetworkSettings
from mediaserver.db import Database
from mediaserver.events import EventBus
from mediaserver.library import catalog
from mediaserver.library.cast_photos import CastPhotos
from mediaserver.library.images import CACHE_PREFIX, extract_frame
from mediaserver.library.metadata import build_record
from mediaserver.library.probe import PROBE_VERSION, Prober, ProbeResult
from mediaserver.library.remote_artwork import ArtworkFetcher
from mediaserver.library.sidecars import sidecar_signature
from mediaserver.library.walk import FoundFile, Problem, WalkResult, root_of, walk_folders
from mediaserver.words import plural

__all__ = ["Progress", "ScanReport", "Scanner", "fingerprint"]

log = structlog.get_logger(__name__)
Progress = Callable[[str, int, int, str | None], None]  # phase, done, total, current file
_BATCH = 50
_FINGERPRINT_CHUNK = 64 * 1024


@dataclass(slots=True)
class ScanReport:
    library_id: int
    files_seen: int = 0
    unchanged: int = 0
    probed: int = 0
    moved: int = 0
    removed_files: int = 0
    items_added: list[int] = field(default_factory=list)
    items_removed: list[int] = field(default_factory=list)
    problems: int = 0
    images: int = 0
    cancelled: bool = False
    duration_s: float = 0.0


def fingerprint(path: Path, size: int) -> str:
    """Size + the first and last 64 KiB: enough to recognise a moved file without reading it."""
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with path.open("rb") as fh:
        digest.update(fh.read(_FINGERPRINT_CHUNK))
        if size > 2 * _FINGERPRINT_CHUNK:
            fh.seek(size - _FINGERPRINT_CHUNK)
            digest.update(fh.read(_FINGERPRINT_CHUNK))
    return digest.hexdigest()


@dataclass(slots=True)
class _Pending:
    found: FoundFile
    fingerprint: str
    keep_item: int | None = None
    future: Future[ProbeResult] | None = None
    result: ProbeResult | None = None


class Scanner:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        ffmpeg_binary: str,
        images_dir: Path,
        probe_workers: int = 2,
        probe_timeout_s: float = 30.0,
        image_workers: int = 2,
        network: NetworkSettings | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.ffmpeg_binary = ffmpeg_binary
        self.images_dir = images_dir
        self.probe_workers = probe_workers
        self.probe_timeout_s = probe_timeout_s
        self.image_workers = image_workers
        # None: NFO artwork URLs are not downloaded ([library] fetch_artwork = false).
        self.artwork = ArtworkFetcher(network, images_dir) if network is not None else None
        self.cast_photos = CastPhotos(self.artwork)

    def scan(
        self,
        library_id: int,
        folders: Path | Sequence[Path],
        progress: Progress = lambda *a: None,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        follow_outside: bool = False,
    ) -> ScanReport:
        """Scan every folder of a library (one folder, or several); links that lead out of
        them are followed only with ``follow_outside`` (library/links.py)."""
        roots = [folders] if isinstance(folders, Path) else list(folders)
        started = time.monotonic()
        report = ScanReport(library_id)
        progress("finding files", 0, 0, None)
        walk = walk_folders(roots, should_stop, follow_outside=follow_outside)
        report.files_seen = len(walk.videos)
        known = {
            r["path"]: r
            for r in self.db.query(
                "SELECT id, path, size, mtime_ns, fingerprint, sidecar_signature, item_id, "
                "start_offset_s, probe_version FROM files WHERE library_id = ?",
                [library_id],
            )
        }
        pending, seen = self._changes(walk, known, report)
        self._keep_what_an_empty_folder_held(roots, walk, known)
        # A file in a folder the walk could not read (or could not stat) may still be there:
        # only files the walk vouches for as gone count as missing.  A file in none of the
        # library's folders (one taken out of the library) is gone, and so is one that came
        # through a link the scan no longer follows.
        unsure = [p.path for p in walk.problems if p.unsure]
        missing = {
            p: r
            for p, r in known.items()
            if p not in seen and not any(Path(p).is_relative_to(u) for u in unsure)
        }
        complete = not should_stop()
        if complete:
            self._match_moves(pending, missing, report)
        self._probe_and_save(library_id, roots, walk, pending, report, progress, should_stop)
        ids = [int(r["id"]) for r in missing.values()] if complete and not should_stop() else []
        report.removed_files = len(ids)
        # Also prunes items whose only file turned bad in this scan.
        report.items_removed = self.db.write(lambda db: catalog.remove_files(db, ids))
        if self.artwork is not None and not should_stop():
            # After the probes, before frames fill empty posters; failures become problems.
            walk.problems += self.artwork.fill(
                self.db, library_id, roots, walk, progress, should_stop
            )
        if not should_stop():
            self.cast_photos.fill(self.db, library_id, roots, walk, progress, should_stop)
        self._save_problems(library_id, walk, report)
        if not should_stop():
            report.images = self._make_images(library_id, progress, should_stop)
        report.cancelled = should_stop()
        report.duration_s = time.monotonic() - started
        return report

    @staticmethod
    def _keep_what_an_empty_folder_held(
        roots: Sequence[Path], walk: WalkResult, known: dict[str, Any]
    ) -> None:
        """An unmounted disk leaves an empty mount point: that is not "everything deleted".
        A readable library folder with no video where the catalog has some becomes a
        problem, which keeps its files (not those that came through a link no longer
        followed: the folder is not empty, it holds that link)."""
        unreadable = {p.path for p in walk.problems}
        skipped = [p.path for p in walk.problems if not p.unsure]
        for root in roots:
            if root in unreadable or any(f.path.is_relative_to(root) for f in walk.videos):
                continue
            held = sum(
                1
                for p in known
                if Path(p).is_relative_to(root)
                and not any(Path(p).is_relative_to(s) for s in skipped)
            )
            if held:
                walk.problems.append(
                    Problem(
                        root,
                        f"library folder is empty; keeping its {plural(held, 'file')} until it is back",
                    )
                )

    def _changes(
        self, walk: WalkResult, known: dict[str, Any], report: ScanReport
    ) -> tuple[list[_Pending], set[str]]:
        pending: list[_Pending] = []
        seen: set[str] = set()
        for found in walk.videos:
            key = str(found.path)
            seen.add(key)
            row = known.get(key)
            names = walk.sidecars.get(found.path.parent, {})
            if (
                row is not None
                and row["size"] == found.size
                and row["mtime_ns"] == found.mtime_ns
                and row["sidecar_signature"] == sidecar_signature(found.path, names)
                and row["start_offset_s"] is not None  # else probed before timelines (m013)
                and row["probe_version"] >= PROBE_VERSION  # else an older probe missed things
            ):
                report.unchanged += 1
                continue
            try:
                fp = fingerprint(found.path, found.size)
            except OSError as exc:
                walk.problems.append(Problem(found.path, f"cannot read file: {exc.strerror}"))
                continue
            pending.append(_Pending(found, fp, keep_item=row["item_id"] if row else None))
        return pending, seen

    def _match_moves(
        self, pending: list[_Pending], missing: dict[str, Any], report: ScanReport
    ) -> None:
        by_print: dict[tuple[int, str], list[str]] = {}
        for path, row in missing.items():
            by_print.setdefault((row["size"], row["fingerprint"]), []).append(path)
        moves: list[tuple[int, FoundFile]] = []
        for item in pending:
            candidates = by_print.get((item.found.size, item.fingerprint))
            if item.keep_item is None and candidates:
                row = missing.pop(candidates.pop())
                item.keep_item = row["item_id"]
                moves.append((int(row["id"]), item.found))
        if moves:
            report.moved = len(moves)

            def write(db: sqlite_utils.Database) -> None:
                for file_id, found in moves:
                    catalog.move_file(db, file_id, found)

            self.db.write(write)

    def _probe_and_save(
        self,
        library_id: int,
        roots: Sequence[Path],
        walk: WalkResult,
        pending: list[_Pending],
        report: ScanReport,
        progress: Progress,
        should_stop: Callable[[], bool],
    ) -> None:
        if not pending:
            return
        folder_counts = Counter(f.path.parent for f in walk.videos)
        prober = Prober(self.probe_workers, self.probe_timeout_s)
        try:
            for item in pending:
                if item.found.size == 0:
                    item.result = ProbeResult(error="empty file (0 bytes)")
                else:
                    # The poster frame comes out of the same worker, while the file is open.
                    frame = self.images_dir / f"{item.fingerprint}.jpg"
                    wanted = None if frame.exists() else frame
                    root = root_of(item.found.path, roots)
                    item.future = prober.submit(item.found.path, root, wanted)
            batch: list[tuple[catalog.MediaRecord, int | None]] = []
            for done, item in enumerate(pending, 1):
                if should_stop():
                    break
                progress("probing", done, len(pending), item.found.path.name)
                if item.future is not None:
                    item.result = Prober.result(item.future)
                    report.probed += 1
                result = item.result
                assert result is not None
                if result.transient:
                    log.warning("probe skipped", path=str(item.found.path), reason=result.error)
                    continue
                record = build_record(
                    item.found,
                    root_of(item.found.path, roots),
                    walk.sidecars,
                    folder_counts[item.found.path.parent],
                    result,
                    item.fingerprint,
                )
                batch.append((record, item.keep_item))
                if len(batch) >= _BATCH:
                    report.items_added += self._save(library_id, batch)
                    batch = []
            report.items_added += self._save(library_id, batch)
        finally:
            prober.close()

    def _save(
        self, library_id: int, batch: list[tuple[catalog.MediaRecord, int | None]]
    ) -> list[int]:
        def write(db: sqlite_utils.Database) -> list[int]:
            added: list[int] = []
            for record, keep in batch:
                added += catalog.save_media(db, library_id, record, keep_item=keep)
            return added

        added = self.db.write(write) if batch else []
        for record, _ in batch:
            if record.probe.error:
                log.warning("file flagged", path=str(record.found.path), reason=record.probe.error)
            elif record.probe.readable_s is not None:
                log.warning(
                    "damaged file added",
                    path=str(record.found.path),
                    readable_s=round(record.probe.readable_s, 1),
                    duration_s=record.probe.duration_s,
                )
        return added

    def _save_problems(self, library_id: int, walk: WalkResult, report: ScanReport) -> None:
        rows = [
            {"library_id": library_id, "path": str(p.path), "reason": p.reason}
            for p in walk.problems
        ]
        flagged = self.db.query_one(
            "SELECT count(*) FROM files WHERE library_id = ? "
            "AND (probe_error IS NOT NULL OR readable_s IS NOT NULL)",
            [library_id],
        )
        # What the problems page lists: unreadable things, files that failed to probe and
        # damaged files (added, with a warning).
        report.problems = len(rows) + (int(flagged[0]) if flagged else 0)

        def write(db: sqlite_utils.Database) -> None:
            db.execute("DELETE FROM scan_problems WHERE library_id = ?", [library_id])
            if rows:
                db.table("scan_problems").insert_all(rows, replace=True)

        self.db.write(write)

    def _make_images(
        self, library_id: int, progress: Progress, should_stop: Callable[[], bool]
    ) -> int:
        """Extract a frame for every movie/episode without a poster.

        Shows, seasons and collections without art of their own keep none: each viewer
        sees the first picture among what they may see inside (``queries._art``).
        """
        todo = self.db.query(
            """SELECT i.id, f.path, f.duration_s, f.fingerprint FROM items i
               JOIN files f ON f.id = (SELECT id FROM files WHERE item_id = i.id LIMIT 1)
               WHERE i.library_id = ? AND i.poster IS NULL AND i.kind IN ('movie', 'episode')""",
            [library_id],
        )
        made: list[tuple[int, str]] = []

        def one(row: Any) -> None:
            name = f"{row['fingerprint']}.jpg"
            target = self.images_dir / name
            if (
                target.exists()
                or extract_frame(self.ffmpeg_binary, Path(row["path"]), row["duration_s"], target)
                or target.exists()  # a copy of the same file, framed by another thread
            ):
                made.append((int(row["id"]), CACHE_PREFIX + name))

        with ThreadPoolExecutor(self.image_workers, thread_name_prefix="poster") as pool:
            for n, _ in enumerate(pool.map(one, todo), 1):
                progress("making posters", n, len(todo), None)
                if should_stop():
                    break

        self.db.write(
            lambda db: db.conn.executemany(
                "UPDATE items SET poster = ? WHERE id = ?", [(p, i) for i, p in made]
            )
        )
        return len(made)
