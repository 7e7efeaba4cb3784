"""Trickplay: thumbnail sprite sheets and a WebVTT track for the seek bar, and chapter images.

A background run visits every catalogued video without current sprites and runs one ffmpeg
per file (``fps=1/interval,scale=W:-2,tile=CxR``) into
``cache/trickplay/{file_id}-{size}-{mtime_ns}``, so a changed file gets a new folder and the
old one is dropped.  Chapter images (one frame a few seconds into each chapter) go in the
same folder.  Work is done only when nothing more important runs: ffmpeg is niced (``nice
-n 19``, ``ionice -c 3``, one thread), and while ``busy()`` says so (transcodes at their cap)
the running ffmpeg's process group is stopped with SIGSTOP and continued with SIGCONT.
A file ffmpeg fails on gets ``failed.json`` with the reason and is not retried until it
changes.  Only the folder's ``manifest.json`` (written last) means "built".
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from mediaserver.db import Database
from mediaserver.ffmpeg_tools import (
    INPUT_GUARD,
    failure_words,
    ffmpeg_failure,
    guarded_argv,
    input_url,
    low_priority_prefix,
)
from mediaserver.words import plural

__all__ = [
    "RUN_INTERVAL_MINUTES",
    "SpriteLayout",
    "TrickplayService",
    "TrickplayStatus",
    "TrickplayUnavailable",
    "jpeg_size",
    "parse_index",
    "render_vtt",
]

log = structlog.get_logger(__name__)

RUN_INTERVAL_MINUTES = 60  # the scheduler's catch-up run; scans trigger one as they finish
MAX_COLUMNS = MAX_ROWS = 10  # at most 100 tiles (1,000 s at 10 s) per 3200 px wide sheet
MAX_CHAPTERS = 100
CHAPTER_OFFSET_S = 3.0  # a chapter's first frame is often black: look a little later
MANIFEST_VERSION = 1
_MANIFEST, _FAILED, _VTT, _COUNT = "manifest.json", "failed.json", "thumbnails.vtt", "tiles.crc"
_KEY = re.compile(r"(\d+)-(\d+)-(\d+)", re.ASCII)
_INDEX = re.compile(r"(0|[1-9][0-9]{0,5})\.jpg", re.ASCII)
# Thumbnails tolerate a sloppier decode: skipping the loop filter and unreferenced frames
# cut the CPU time of a 1080p H.264 file by 40 % (measured); tiles move by a frame at most.
_FAST_DECODE = ["-skip_frame", "noref", "-skip_loop_filter", "all"]


class TrickplayUnavailable(Exception):
    """No previews for this file (not catalogued, not built yet, or ffmpeg failed): says why."""


class _Cancelled(Exception):
    pass


class _Failed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SpriteLayout:
    """Where each tile sits: ``tiles`` tiles, ``columns`` × ``rows`` per sheet, row by row."""

    interval_s: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    tiles: int
    duration_s: float

    @property
    def sheets(self) -> int:
        return math.ceil(self.tiles / (self.columns * self.rows))

    def cues(self) -> Iterator[tuple[float, float, int, int, int]]:
        """(start, end, sheet, x, y) per cue; together they cover 0 to the duration."""
        count = max(1, min(self.tiles, math.ceil(self.duration_s / self.interval_s)))
        for i in range(count):
            start = i * self.interval_s
            end = self.duration_s if i == count - 1 else (i + 1) * self.interval_s
            sheet, pos = divmod(i, self.columns * self.rows)
            row, col = divmod(pos, self.columns)
            yield start, end, sheet, col * self.tile_width, row * self.tile_height


def render_vtt(layout: SpriteLayout, sheet_url: Callable[[int], str]) -> str:
    """The WebVTT thumbnails track: one cue per tile, ``URL#xywh=x,y,w,h``."""
    lines = ["WEBVTT", ""]
    w, h = layout.tile_width, layout.tile_height
    for start, end, sheet, x, y in layout.cues():
        lines += [
            f"{_vtt_time(start)} --> {_vtt_time(end)}",
            f"{sheet_url(sheet)}#xywh={x},{y},{w},{h}",
            "",
        ]
    return "\n".join(lines)


def _vtt_time(seconds: float) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    return f"{hours:02d}:{minutes:02d}:{ms // 1000:02d}.{ms % 1000:03d}"


def parse_index(name: str) -> int | None:
    """``"12.jpg"`` -> 12; anything but a plain decimal (no sign, no leading zero) -> None."""
    match = _INDEX.fullmatch(name)
    return int(match.group(1)) if match else None


def jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker; ValueError if there is none."""
    data = path.read_bytes()
    if data[:2] != b"\xff\xd8":
        raise ValueError(f"{path.name} is not a JPEG")
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"{path.name}: bad JPEG marker at byte {i}")
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = int.from_bytes(data[i + 5 : i + 7]), int.from_bytes(data[i + 7 : i + 9])
            return width, height
        i += 2 + int.from_bytes(data[i + 2 : i + 4])
    raise ValueError(f"{path.name}: no JPEG frame header")


@dataclass(frozen=True, slots=True)
class _File:
    id: int
    item_id: int
    path: Path
    size: int
    mtime_ns: int
    duration_s: float
    chapters: list[dict[str, Any]]

    @property
    def key(self) -> str:
        return f"{self.id}-{self.size}-{self.mtime_ns}"


@dataclass(slots=True)
class TrickplayStatus:
    enabled: bool = True
    state: str = "idle"  # idle | running | paused | stopping
    files_done: int = 0
    files_total: int = 0
    current: str | None = None
    built: int = 0
    failed: int = 0
    started_at: float | None = None
    last: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Run:
    built: int = 0
    failed: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)


_FILES_SQL = """
SELECT f.id, f.item_id, f.path, f.size, f.mtime_ns, f.duration_s, f.chapters FROM files f
JOIN libraries l ON l.id = f.library_id
WHERE l.active = 1 AND f.item_id IS NOT NULL AND f.probe_error IS NULL AND f.duration_s > 0
  AND EXISTS (SELECT 1 FROM streams s WHERE s.file_id = f.id AND s.type = 'video'
              AND s.external_path IS NULL)
"""


class TrickplayService:
    """Builds previews in the background, one file at a time; see the module docstring.

    ``busy`` is a public attribute: set it to any ``() -> bool`` (the transcoder's "at
    capacity") and the work pauses whenever it returns True.
    """

    def __init__(
        self,
        db: Database,
        *,
        ffmpeg_binary: str,
        cache_dir: Path,
        interval_s: int = 10,
        width: int = 320,
        enabled: bool = True,
        busy: Callable[[], bool] | None = None,
        poll_s: float = 0.25,
        timeout_base_s: float = 120.0,
        timeout_per_media_s: float = 2.0,
    ) -> None:
        self.db = db
        self.ffmpeg_binary = ffmpeg_binary
        self.root = cache_dir / "trickplay"
        self.interval_s = interval_s
        self.width = width
        self.busy: Callable[[], bool] = busy or (lambda: False)
        self.poll_s = poll_s
        self.timeout_base_s = timeout_base_s
        self.timeout_per_media_s = timeout_per_media_s
        self._prefix = low_priority_prefix()
        self._status = TrickplayStatus(enabled=enabled)
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._cancel = threading.Event()
        self._again = False
        self._running = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.running_pid: int | None = None  # the ffmpeg at work, for tests and the curious

    # -- running ---------------------------------------------------------------------
    def request_run(self) -> None:
        """Start a background run; if one is running, it goes round once more when done."""
        with self._lock:
            if self._closed:
                return
            if self._running:
                self._again = True
                return
            self._running, self._again = True, False
            self._thread = threading.Thread(target=self._loop, name="trickplay", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        try:
            while True:
                self.run_once()
                with self._lock:
                    if not self._again or self._closed:
                        self._running = False
                        return
                    self._again = False
        except Exception:
            log.exception("trickplay run failed")
            with self._lock:
                self._running = False

    def stop(self, timeout: float = 15.0) -> None:
        """Cancel the run, kill its ffmpeg, and refuse new runs."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if self._running:
                self._status.state = "stopping"
        self._cancel.set()
        if thread is not None:
            thread.join(timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def run_once(self) -> dict[str, Any]:
        """Build what is missing, on the calling thread; returns the run's summary."""
        with self._run_lock:
            report, started = _Run(), time.monotonic()
            s = self._status
            s.state, s.started_at, s.files_done, s.built, s.failed = "running", time.time(), 0, 0, 0
            try:
                self._sweep()
                todo = self.pending()
                s.files_total = len(todo)
                if todo:
                    log.info("trickplay started", files=len(todo))
                for file in todo:
                    s.current = file.path.name
                    self._wait_while_busy()
                    if self._build(file):
                        report.built += 1
                    else:
                        report.failed += 1
                    report.files.append(str(file.path))
                    s.files_done, s.built, s.failed = s.files_done + 1, report.built, report.failed
            except _Cancelled:
                report.cancelled = True
            finally:
                report.seconds = round(time.monotonic() - started, 3)
                summary = {k: v for k, v in asdict(report).items() if k != "files"}
                if report.files or report.cancelled:
                    log.info("trickplay finished", **summary)
                s.state, s.current, s.last = "idle", None, summary
            return {**summary, "files": report.files}

    def status(self) -> dict[str, Any]:
        return self._status.as_dict()

    # -- what there is to do ---------------------------------------------------------
    def _files(self, where: str = "", params: Sequence[Any] = ()) -> list[_File]:
        rows = self.db.query(_FILES_SQL + where + " ORDER BY f.id", params)
        return [
            _File(
                id=r["id"],
                item_id=r["item_id"],
                path=Path(r["path"]),
                size=r["size"],
                mtime_ns=r["mtime_ns"],
                duration_s=float(r["duration_s"]),
                chapters=json.loads(r["chapters"] or "[]"),
            )
            for r in rows
        ]

    def pending(self) -> list[_File]:
        """Catalogued videos with neither current previews nor a recorded failure."""
        return [f for f in self._files() if self._manifest(f) is None and not self._failure(f)]

    def _sweep(self) -> None:
        """Drop folders of files that changed or left the catalog, and half-built ones."""
        if not self.root.is_dir():
            return
        current = {
            f"{r['id']}-{r['size']}-{r['mtime_ns']}"
            for r in self.db.query("SELECT id, size, mtime_ns FROM files")
        }
        for entry in self.root.iterdir():
            if entry.name.startswith(".tmp-") or (
                _KEY.fullmatch(entry.name) and entry.name not in current
            ):
                shutil.rmtree(entry, ignore_errors=True)

    # -- building one file -----------------------------------------------------------
    def _build(self, file: _File) -> bool:
        final = self.root / file.key
        tmp = self.root / f".tmp-{file.key}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        started = time.monotonic()
        try:
            layout = self._sprites(file, tmp)
            chapters = self._chapter_images(file, tmp)
        except _Failed as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            final.mkdir(parents=True)
            reason = {
                "reason": str(exc),
                "failed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (final / _FAILED).write_text(json.dumps(reason), encoding="utf-8")
            log.warning("trickplay failed", path=str(file.path), file_id=file.id, reason=str(exc))
            return False
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        manifest = {
            "version": MANIFEST_VERSION,
            "width": self.width,
            "layout": asdict(layout),
            "chapters": chapters,
        }
        (tmp / _VTT).write_text(render_vtt(layout, lambda n: f"{n}.jpg"), encoding="utf-8")
        (tmp / _MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        log.info(
            "trickplay built",
            path=str(file.path),
            file_id=file.id,
            tiles=layout.tiles,
            sheets=layout.sheets,
            chapters=sum(1 for c in chapters if c["image"]),
            seconds=round(time.monotonic() - started, 2),
        )
        return True

    def _sprites(self, file: _File, out: Path) -> SpriteLayout:
        expected = max(1, math.ceil(file.duration_s / self.interval_s))
        columns = min(MAX_COLUMNS, expected)
        rows = min(MAX_ROWS, math.ceil(expected / columns))
        # The split feeds a framecrc output one line per tile: the exact tile count, which
        # neither the sheets (the last is padded) nor the duration (rounding) can tell.
        # start_time=0: tile n is at n x interval even when the video starts a little late
        # (audio priming), and a clip shorter than one interval still gets its tile.
        graph = (
            f"[0:V:0]fps=1/{self.interval_s}:start_time=0:round=up,scale={self.width}:-2,"
            "split[tiles][count];"
            f"[tiles]tile={columns}x{rows}[sheets]"
        )
        argv = [
            *self._ffmpeg_head(),
            *_FAST_DECODE,
            *self._input(file.path),
            "-filter_complex", graph, "-filter_complex_threads", "1",
            "-map", "[sheets]", "-threads", "1", "-q:v", "5", "-start_number", "0",
            "-f", "image2", str(out / "%d.jpg"),
            "-map", "[count]", "-f", "framecrc", str(out / _COUNT),
        ]  # fmt: skip
        self._run(argv, timeout_s=self.timeout_base_s + self.timeout_per_media_s * file.duration_s)
        try:
            lines = (out / _COUNT).read_text(encoding="ascii").splitlines()
            tiles = sum(1 for line in lines if line and not line.startswith("#"))
            width, height = jpeg_size(out / "0.jpg")
        except (OSError, ValueError) as exc:
            raise _Failed(f"ffmpeg made no thumbnails ({failure_words(exc)})") from None
        (out / _COUNT).unlink()
        layout = SpriteLayout(
            self.interval_s, columns, rows, width // columns, height // rows, tiles, file.duration_s
        )
        if tiles == 0 or not (out / f"{layout.sheets - 1}.jpg").is_file():
            made, wanted = plural(tiles, "thumbnail"), plural(layout.sheets, "sheet")
            raise _Failed(f"ffmpeg made {made} but not all {wanted}")
        return layout

    def _chapter_images(self, file: _File, out: Path) -> list[dict[str, Any]]:
        chapters = []
        for n, chapter in enumerate(file.chapters[:MAX_CHAPTERS]):
            start = float(chapter.get("start_s") or 0.0)
            end = float(chapter.get("end_s") or file.duration_s)
            at = start + min(CHAPTER_OFFSET_S, max(0.0, end - start) / 2)
            at = max(0.0, min(at, file.duration_s - 0.1))
            target = out / f"chapter-{n}.jpg"
            argv = [
                *self._ffmpeg_head(),
                "-ss", f"{at:.3f}",
                *self._input(file.path),
                "-map", "0:V:0", "-frames:v", "1", "-vf", f"scale={self.width}:-2",
                "-threads", "1", "-q:v", "4", "-f", "image2", "-update", "1", str(target),
            ]  # fmt: skip
            try:
                self._run(argv, timeout_s=self.timeout_base_s)
            except _Failed as exc:
                log.warning("chapter image failed", path=str(file.path), chapter=n, reason=str(exc))
            made = target.is_file() and target.stat().st_size > 0
            chapters.append(
                {"start_s": start, "end_s": end, "title": chapter.get("title"), "image": made}
            )
        return chapters

    def _ffmpeg_head(self) -> list[str]:
        return [
            self.ffmpeg_binary,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-threads",
            "1",
        ]

    @staticmethod
    def _input(path: Path) -> list[str]:
        guard = [arg for key, value in INPUT_GUARD.items() for arg in (f"-{key}", value)]
        return [*guard, "-i", input_url(path)]

    # -- one ffmpeg, pausable and cancellable ----------------------------------------
    def _is_busy(self) -> bool:
        try:
            return bool(self.busy())
        except Exception:
            log.exception("trickplay busy() check failed; carrying on")
            return False

    def _wait_while_busy(self) -> None:
        if not self._is_busy():
            return
        self._pause(True)
        while self._is_busy():
            if self._cancel.wait(self.poll_s):
                raise _Cancelled
        self._pause(False)

    def _pause(self, paused: bool) -> None:
        self._status.state = "paused" if paused else "running"
        log.info(
            "trickplay paused" if paused else "trickplay resumed", current=self._status.current
        )

    def _run(self, argv: list[str], *, timeout_s: float) -> None:
        """Run ffmpeg niced in its own process group; SIGSTOP it while busy, kill it on stop.

        Raises _Failed (exit status, timeout) or _Cancelled; time spent stopped is not
        counted against ``timeout_s``.
        """
        if self._cancel.is_set():
            raise _Cancelled
        self._wait_while_busy()
        with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a chatty ffmpeg never blocks
            proc = subprocess.Popen(  # noqa: S603 - an argv list, never a shell
                guarded_argv([*self._prefix, *argv]),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                process_group=0,
            )
            self.running_pid = proc.pid
            try:
                code = self._supervise(proc, timeout_s)
            finally:
                if proc.poll() is None:  # not reaped yet, so the group id is still ours
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                self.running_pid = None
            if code != 0:
                stderr.seek(0)
                raise _Failed(ffmpeg_failure(stderr.read(), argv=argv, code=code))

    def _supervise(self, proc: subprocess.Popen[bytes], timeout_s: float) -> int:
        ran, paused, last = 0.0, False, time.monotonic()
        while True:
            if self._cancel.is_set():
                raise _Cancelled
            busy = self._is_busy()
            if busy != paused:
                os.killpg(proc.pid, signal.SIGSTOP if busy else signal.SIGCONT)
                paused = busy
                self._pause(paused)
            try:
                return proc.wait(timeout=self.poll_s)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if not paused:
                ran += now - last
            last = now
            if ran > timeout_s:
                raise _Failed(f"ffmpeg took longer than {timeout_s:.0f} s")

    # -- reading what was built ------------------------------------------------------
    def _manifest(self, file: _File) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.root / file.key / _MANIFEST).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if (data.get("version"), data.get("width")) != (MANIFEST_VERSION, self.width):
            return None
        if data.get("layout", {}).get("interval_s") != self.interval_s:
            return None
        return data

    def _failure(self, file: _File) -> str | None:
        try:
            reason: str = json.loads((self.root / file.key / _FAILED).read_text("utf-8"))["reason"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return reason

    def _file(self, item_id: int, file_id: int | None) -> _File:
        where, params = " AND f.item_id = ?", [item_id]
        if file_id is not None:
            where += " AND f.id = ?"
            params.append(file_id)
        files = self._files(where, params)
        if not files:
            which = f"file {file_id}" if file_id is not None else "video file"
            raise TrickplayUnavailable(f"item {item_id} has no {which} with previews")
        return files[0]

    def _built(self, item_id: int, file_id: int | None) -> tuple[_File, dict[str, Any]]:
        file = self._file(item_id, file_id)
        manifest = self._manifest(file)
        if manifest is None:
            reason = self._failure(file)
            if reason:
                raise TrickplayUnavailable(f"no previews for file {file.id}: {reason}")
            raise TrickplayUnavailable(f"previews for file {file.id} are not built yet")
        return file, manifest

    def vtt(self, item_id: int, file_id: int | None = None) -> str:
        """The thumbnails track with absolute image URLs; raises TrickplayUnavailable."""
        file, manifest = self._built(item_id, file_id)
        layout = SpriteLayout(**manifest["layout"])
        base = f"/api/v1/items/{item_id}/trickplay/{file.id}"
        return render_vtt(layout, lambda n: f"{base}/{n}.jpg?v={file.size}-{file.mtime_ns}")

    def vtt_url(self, item_id: int, file_id: int) -> str | None:
        """Where the player finds the thumbnails track, or None while there is none."""
        try:
            self._built(item_id, file_id)
        except TrickplayUnavailable:
            return None
        return f"/api/v1/items/{item_id}/trickplay.vtt?file_id={file_id}"

    def sprite(self, item_id: int, file_id: int, name: str) -> Path:
        """The sheet called ``name`` (``"3.jpg"``); raises TrickplayUnavailable."""
        n = parse_index(name)
        file, manifest = self._built(item_id, file_id)
        if n is None or n >= SpriteLayout(**manifest["layout"]).sheets:
            raise TrickplayUnavailable(f"file {file_id} has no thumbnail sheet {name!r}")
        return self.root / file.key / f"{n}.jpg"

    def chapter_image(self, item_id: int, file_id: int, name: str) -> Path:
        n = parse_index(name)
        file, manifest = self._built(item_id, file_id)
        chapters = manifest["chapters"]
        if n is None or n >= len(chapters) or not chapters[n]["image"]:
            raise TrickplayUnavailable(f"file {file_id} has no chapter image {name!r}")
        return self.root / file.key / f"chapter-{n}.jpg"

    def chapters(self, item_id: int, file_id: int | None = None) -> list[dict[str, Any]]:
        """The file's chapters from the catalog, each with its image URL once built."""
        file = self._file(item_id, file_id)
        manifest = self._manifest(file) or {"chapters": []}
        made = [c["image"] for c in manifest["chapters"]]
        base = f"/api/v1/items/{item_id}/chapters/{file.id}"
        return [
            {
                "n": n,
                "start_s": c.get("start_s"),
                "end_s": c.get("end_s"),
                "title": c.get("title"),
                "image_url": f"{base}/{n}.jpg?v={file.size}-{file.mtime_ns}"
                if n < len(made) and made[n]
                else None,
            }
            for n, c in enumerate(file.chapters)
        ]
