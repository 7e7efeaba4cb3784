"""Rescan a library a few seconds after files change in one of its folders.

watchfiles (inotify) watches every folder of every active library, debounced: each folder
on its own (not recursively), the folders a scan would walk, so the watch never follows a
link the scan does not (``Films/loop -> /`` would have it watch the whole disk).  It
watches in rounds: adding, re-foldering or removing a library in the web UI ends the round
(:meth:`LibraryWatcher.folders_changed`, from any thread), and so does a folder appearing
or going on disk; the next round watches the new set of folders.  Periodic scans catch
whatever a watch misses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from mediaserver.library.service import LibraryService
from mediaserver.library.walk import folders_to_watch

__all__ = ["LibraryWatcher"]

log = structlog.get_logger(__name__)


class LibraryWatcher:
    def __init__(
        self, library: LibraryService, debounce_s: float, ready: Callable[[], bool]
    ) -> None:
        self.library = library
        self.debounce_ms = int(debounce_s * 1000)
        self.ready = ready  # the libraries are prepared (the demo generated, if it is needed)
        # Set once the first round watches: the startup scan waits for it, so a file landing
        # between the two is seen by one of them.
        self.watching = threading.Event()
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._round: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(self._stop))

    async def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
        self._end_round()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, timeout=5)

    def folders_changed(self) -> None:
        """Watch the libraries' folders anew (callable from any thread)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._end_round)

    def _end_round(self) -> None:
        if self._round is not None:
            self._round.set()

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set() and not self.ready():
            await asyncio.sleep(0.5)
        while not stop.is_set():
            # The round exists before the folders are read: a change from now on ends it.
            self._round = asyncio.Event()
            await self._watch(self._round)

    async def _watch(self, round_: asyncio.Event) -> None:
        import watchfiles

        owners, folders = await asyncio.to_thread(_what_to_watch, self.library.libraries())
        if not folders:
            self.watching.set()
            await round_.wait()
            return
        watched = set(folders)
        try:
            # awatch registers its watches before its first await, so the startup scan,
            # released here, cannot miss a change that the watcher would not see.
            self.watching.set()
            async for changes in watchfiles.awatch(
                *folders,
                stop_event=round_,
                debounce=self.debounce_ms,
                recursive=False,
                ignore_permission_denied=True,
            ):
                touched = {
                    lid
                    for root, lid in owners.items()
                    for _, changed in changes
                    if Path(changed).is_relative_to(root)
                }
                log.info("library changed on disk", files=len(changes), libraries=sorted(touched))
                self.library.request_scan(sorted(touched))
                if _reshaped(changes, watched):
                    round_.set()  # folders came or went: watch the new set
        except FileNotFoundError:
            # A folder went between the walk and its watch: walk again, a moment later.
            await asyncio.sleep(1)
        except Exception:
            log.exception("file watching stopped; periodic scans continue")
            await round_.wait()


def _what_to_watch(libraries: list[dict[str, Any]]) -> tuple[dict[Path, int], list[Path]]:
    """Each library folder with its library, and every folder to watch: those a scan walks,
    so never one behind a link the library does not follow (library/links.py)."""
    owners: dict[Path, int] = {}
    folders: dict[Path, None] = {}  # in order, once each
    for lib in libraries:
        roots = [Path(f) for f in lib["folders"]]
        owners.update(dict.fromkeys(roots, int(lib["id"])))
        follow = bool(lib.get("follow_outside_links"))
        folders.update(dict.fromkeys(folders_to_watch(roots, follow_outside=follow)))
    return owners, list(folders)


def _reshaped(changes: set[tuple[Any, str]], watched: set[Path]) -> bool:
    """True when a folder appeared (a new one, or a link to one) or a watched one went."""
    for _, changed in changes:
        path = Path(changed)
        if (path in watched) != os.path.isdir(path):
            return True
    return False
