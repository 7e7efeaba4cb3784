"""Posters and backdrops that an NFO names by URL, downloaded once into the images dir.

Kodi and tinyMediaManager NFOs carry ``<thumb aspect="poster">https://…</thumb>`` and
``<fanart><thumb>https://…</thumb></fanart>`` (``nfo.py`` reads them).  After the probes,
:meth:`ArtworkFetcher.fill` finds the items with no sidecar image for a slot whose NFO names a
URL, and downloads each URL through :func:`mediaserver.net.fetch.fetch`, so the ``[network]``
rules hold (no loopback, LAN or metadata address in any spelling, every redirect checked, one
deadline).  A body is kept only when its first bytes say JPEG, PNG or WebP (never SVG), and
only up to 10 MB.  It is stored as ``remote-<sha256 of the URL>.<ext>``: no part of the URL
ever becomes part of a path, and a file that exists is a URL already downloaded.

A failed download never fails the scan: it is logged, listed with the scan's problems, and
remembered so that the next scans do not ask again at once (a refusal: not until restart,
since the rules come from the settings; anything else: not for a quarter of an hour).

The cast's photos (``cast_photos.py``) come through :meth:`ArtworkFetcher.fetch_all` too,
asked for ``width``: such a picture is decoded within the Pillow limits of
:mod:`mediaserver.imaging` and kept as a JPEG at most that wide
(``remote-<sha256>-w<width>.jpg``), since a cast is many pictures shown small.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import sqlite_utils
import structlog

from mediaserver.config import NetworkSettings
from mediaserver.db import Database
from mediaserver.imaging import ImageRejected, shrunk_jpeg
from mediaserver.library.images import CACHE_PREFIX, FILE_PREFIX
from mediaserver.library.metadata import show_folder
from mediaserver.library.nfo import read_nfo
from mediaserver.library.sidecars import find_image
from mediaserver.library.walk import Problem, WalkResult, root_of
from mediaserver.net.fetch import FetchError, FetchFailed, FetchRefused, fetch

__all__ = ["MAX_IMAGE_BYTES", "ArtworkFetcher", "NotAnImage", "WantedArt", "image_suffix"]

log = structlog.get_logger(__name__)

_MB = 1024 * 1024
MAX_IMAGE_BYTES = 10 * _MB
REMOTE_PREFIX = "remote-"
_SUFFIXES = (".jpg", ".png", ".webp")
_ACCEPT = "image/jpeg, image/png, image/webp"
_WORKERS = 4
_RETRY_AFTER_S = 15 * 60.0
_HOST_FAILURES = 3  # a host that cannot be reached this often is skipped for the rest of a scan

Slot = Literal["poster", "backdrop", "photo"]
Progress = Callable[[str, int, int, str | None], None]


class NotAnImage(FetchRefused):
    """The answer is not a JPEG, PNG or WebP image."""


@dataclass(frozen=True, slots=True)
class WantedArt:
    item_id: int
    slot: Slot
    url: str
    nfo: Path  # where the URL is written: the problems list names it
    ord: int = 0  # slot "photo": the actor's place in the cast


@dataclass(frozen=True, slots=True)
class _Failure:
    at: float
    reason: str
    final: bool  # refused: asking again under the same settings cannot help


def image_suffix(data: bytes) -> str | None:
    """``.jpg``, ``.png`` or ``.webp`` by the magic bytes; None for anything else, SVG too."""
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return None


def _stem(url: str, width: int | None = None) -> str:
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
    return REMOTE_PREFIX + digest + (f"-w{width}" if width else "")


class ArtworkFetcher:
    """NFO artwork for one scanner: each URL downloaded once, failures remembered a while."""

    def __init__(
        self, network: NetworkSettings, images_dir: Path, *, workers: int = _WORKERS
    ) -> None:
        self.network = network
        self.images_dir = images_dir
        self.workers = workers
        self.max_bytes = min(MAX_IMAGE_BYTES, network.fetch_max_mb * _MB)
        self._nfo_urls: dict[Path, tuple[int, str | None, str | None]] = {}
        self._failures: dict[str, _Failure] = {}

    def fill(
        self,
        db: Database,
        library_id: int,
        roots: Path | Sequence[Path],
        walk: WalkResult,
        progress: Progress = lambda *a: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[Problem]:
        """Download what the library's NFOs name for empty slots, save it; the failures."""
        wanted = self.wanted(db, library_id, roots, walk)
        if not wanted:
            return []
        stored, failed = self.fetch_all(wanted, progress, should_stop)

        def write(conn: sqlite_utils.Database) -> None:
            for slot in ("poster", "backdrop"):  # column names from this list only
                conn.conn.executemany(
                    f"UPDATE items SET {slot} = ? WHERE id = ?",
                    [(ref, w.item_id) for w, ref in stored if w.slot == slot],
                )

        if stored:
            db.write(write)
        log.info("nfo artwork", library_id=library_id, stored=len(stored), failed=len(failed))
        reasons: dict[Path, list[str]] = {}
        for w, reason in failed:
            reasons.setdefault(w.nfo, []).append(f"{w.slot} not downloaded: {reason}")
        return [Problem(nfo, "; ".join(dict.fromkeys(r))) for nfo, r in reasons.items()]

    def wanted(
        self, db: Database, library_id: int, roots: Path | Sequence[Path], walk: WalkResult
    ) -> list[WantedArt]:
        """Slots without a sidecar image whose NFO names a URL not stored there yet.

        Sidecars and NFOs are looked up in what the walk listed, so this opens only NFOs it
        has not read at their current mtime.  A folder the walk did not list is left alone.
        """
        folders = [roots] if isinstance(roots, Path) else list(roots)
        counts = Counter(f.path.parent for f in walk.videos)
        wanted: list[WantedArt] = []
        for row in db.query(
            """SELECT i.id, i.kind, i.poster, i.backdrop, f.path FROM items i
               JOIN files f ON f.id = (SELECT min(id) FROM files WHERE item_id = i.id)
               WHERE i.library_id = ? AND i.kind IN ('movie', 'episode')
               AND (i.poster IS NULL OR i.poster NOT LIKE 'file:%'
                    OR (i.kind = 'movie' AND (i.backdrop IS NULL OR i.backdrop NOT LIKE 'file:%')))""",
            [library_id],
        ):
            video = Path(row["path"])
            names = walk.sidecars.get(video.parent, {})
            nfo_name = f"{video.stem}.nfo"
            if nfo_name not in names and counts[video.parent] == 1:
                nfo_name = "movie.nfo"  # Kodi's lookup, as in nfo.find_nfo
            # Episodes take their backdrop from the show, as metadata.build_record does.
            slots: tuple[Slot, ...] = (
                ("poster", "backdrop") if row["kind"] == "movie" else ("poster",)
            )
            wanted += self._slots(row, video.parent / nfo_name, names, slots, has_sidecar=None)
        for row in db.query(
            """SELECT s.id, s.poster, s.backdrop, (
                 SELECT f.path FROM items se JOIN items e ON e.parent_id = se.id
                 JOIN files f ON f.item_id = e.id WHERE se.parent_id = s.id
                 ORDER BY f.id LIMIT 1) AS path
               FROM items s WHERE s.library_id = ? AND s.kind = 'show'""",
            [library_id],
        ):
            if row["path"] is None:
                continue
            video = Path(row["path"])
            folder = show_folder(video, root_of(video, folders))
            names = walk.sidecars.get(folder, {})
            # Ask the sidecar rules: the folder is what counts, not what the row holds.
            sidecar = {
                s: find_image(folder, names, kind=s) is not None for s in ("poster", "backdrop")
            }
            wanted += self._slots(
                row, folder / "tvshow.nfo", names, ("poster", "backdrop"), sidecar
            )
        return wanted

    def _slots(
        self,
        row: Any,
        nfo: Path,
        names: dict[str, int],
        slots: tuple[Slot, ...],
        has_sidecar: dict[str, bool] | None,
    ) -> Iterator[WantedArt]:
        if nfo.name not in names:
            return
        urls = dict(zip(("poster", "backdrop"), self._urls(nfo, names[nfo.name]), strict=True))
        for slot in slots:
            url, current = urls[slot], row[slot] or ""
            if url is None or current.startswith(CACHE_PREFIX + _stem(url)):
                continue
            sidecar = current.startswith(FILE_PREFIX) if has_sidecar is None else has_sidecar[slot]
            if not sidecar:
                yield WantedArt(int(row["id"]), slot, url, nfo)

    def _urls(self, nfo: Path, mtime_ns: int) -> tuple[str | None, str | None]:
        cached = self._nfo_urls.get(nfo)
        if cached is None or cached[0] != mtime_ns:
            data = read_nfo(nfo)
            urls = (data.poster_url, data.backdrop_url) if data else (None, None)
            cached = self._nfo_urls[nfo] = (mtime_ns, *urls)
        return cached[1], cached[2]

    def fetch_all(
        self,
        wanted: list[WantedArt],
        progress: Progress,
        should_stop: Callable[[], bool],
        *,
        phase: str = "fetching artwork",
        width: int | None = None,
    ) -> tuple[list[tuple[WantedArt, str]], list[tuple[WantedArt, str]]]:
        """Each URL downloaded once (``width``: shrunk, see the module's docstring), what
        failed lately not asked again: (wanted, ``cache:`` reference) and (wanted, reason)."""
        by_url: dict[str, list[WantedArt]] = {}
        for w in wanted:
            by_url.setdefault(w.url, []).append(w)
        stored: list[tuple[WantedArt, str]] = []
        failed: list[tuple[WantedArt, str]] = []
        todo: list[str] = []
        now = time.monotonic()
        for url, ws in by_url.items():
            earlier = self._failures.get(url)
            if earlier and (earlier.final or now - earlier.at < _RETRY_AFTER_S):
                failed += [(w, earlier.reason) for w in ws]  # still listed, not asked again
            elif ref := self.stored(url, width):
                stored += [(w, ref) for w in ws]
            else:
                todo.append(url)
        host_failures: Counter[str] = Counter()
        lock = threading.Lock()

        def one(url: str) -> str:
            host = urlsplit(url).hostname or ""
            with lock:
                if host_failures[host] >= _HOST_FAILURES:
                    raise FetchFailed(f"{host} could not be reached {_HOST_FAILURES} times")
            try:
                return self.download(url, width=width)
            except FetchFailed:
                with lock:
                    host_failures[host] += 1
                raise

        with ThreadPoolExecutor(self.workers, thread_name_prefix="artwork") as pool:
            futures = {pool.submit(one, url): url for url in todo}
            for done, future in enumerate(as_completed(futures), 1):
                url = futures[future]
                progress(phase, done, len(todo), None)
                try:
                    ref = future.result()
                except Exception as exc:  # nothing about one picture may end the scan
                    reason = self._failed(url, exc, by_url[url])
                    failed += [(w, reason) for w in by_url[url]]
                else:
                    stored += [(w, ref) for w in by_url[url]]
                if should_stop():
                    pool.shutdown(wait=True, cancel_futures=True)
                    break
        return stored, failed

    def _failed(self, url: str, exc: Exception, ws: Iterable[WantedArt]) -> str:
        ws = list(ws)
        items = sorted({w.item_id for w in ws})
        where = {"slots": sorted({w.slot for w in ws}), "nfos": sorted({str(w.nfo) for w in ws})}
        if isinstance(exc, FetchError):
            reason, final = exc.reason, isinstance(exc, FetchRefused)
        elif isinstance(exc, OSError):
            reason, final = f"cannot store it: {exc.strerror or exc}", False
        else:
            log.exception("nfo artwork crashed", url=url, items=items, **where)
            reason, final = f"unexpected error: {exc!r}", False
        log.warning("nfo artwork not downloaded", url=url, items=items, reason=reason, **where)
        self._failures[url] = _Failure(time.monotonic(), reason, final)
        return reason

    def stored(self, url: str, width: int | None = None) -> str | None:
        """The ``cache:`` reference of ``url`` if an earlier download stored it."""
        stem = _stem(url, width)
        for suffix in _SUFFIXES[:1] if width else _SUFFIXES:
            if (self.images_dir / (stem + suffix)).is_file():
                return CACHE_PREFIX + stem + suffix
        return None

    def download(self, url: str, *, width: int | None = None) -> str:
        """``url`` stored in the images dir (unless it is already): its ``cache:`` reference.
        With ``width``, the picture is kept as a JPEG at most ``width`` pixels wide.

        Raises :class:`~mediaserver.net.fetch.FetchRefused` (:class:`NotAnImage` among them)
        or :class:`~mediaserver.net.fetch.FetchFailed`.
        """
        if ref := self.stored(url, width):
            return ref
        result = fetch(url, settings=self.network, max_bytes=self.max_bytes, accept=_ACCEPT)
        if result.status != 200:
            raise FetchFailed(f"{url} answered HTTP {result.status}")
        suffix = image_suffix(result.content)
        if suffix is None:
            what = result.content_type or "no content type"
            raise NotAnImage(f"{url} is not a JPEG, PNG or WebP image ({what})")
        content = result.content
        if width:
            try:
                content, suffix = shrunk_jpeg(content, width), ".jpg"
            except ImageRejected as exc:
                raise NotAnImage(f"{url}: {exc}") from None
        name = _stem(url, width) + suffix
        _write_atomically(self.images_dir / name, content)
        return CACHE_PREFIX + name


def _write_atomically(target: Path, data: bytes) -> None:
    """A reader sees the whole image or none: written beside ``target``, then renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
