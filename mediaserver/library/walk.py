"""Walking a library folder: the media files, their sidecars, and what cannot be read.

Nothing here opens a media file.  Loops (a symlink to a parent), FIFOs, sockets and folders
we may not read become :class:`Problem` entries instead of hangs or crashes, and so do links
that lead outside the library, which are not followed unless the library allows it
(:mod:`mediaserver.library.links`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mediaserver.library.links import homes_of, outside_target, stays_home

__all__ = [
    "ACTORS_FOLDER",
    "IMAGE_EXTENSIONS",
    "SKIPPED_FOLDERS",
    "SUBTITLE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FoundFile",
    "Problem",
    "WalkResult",
    "describe_os_error",
    "folders_to_watch",
    "root_of",
    "walk_folders",
    "walk_library",
]

VIDEO_EXTENSIONS = frozenset(
    [
        ".mp4",
        ".m4v",
        ".mkv",
        ".webm",
        ".mov",
        ".avi",
        ".ts",
        ".m2ts",
        ".mts",
        ".mpg",
        ".mpeg",
        ".wmv",
        ".flv",
        ".ogv",
        ".3gp",
    ]
)
SUBTITLE_EXTENSIONS = frozenset([".srt", ".ass", ".ssa", ".vtt"])
IMAGE_EXTENSIONS = frozenset([".jpg", ".jpeg", ".png", ".webp"])
_SIDECAR_EXTENSIONS = SUBTITLE_EXTENSIONS | IMAGE_EXTENSIONS | {".nfo"}
ACTORS_FOLDER = ".actors"  # Kodi's actor photos beside a film or in a show's folder
# Folders that NAS software and desktops litter libraries with.
SKIPPED_FOLDERS = frozenset(
    {"@eaDir", "#recycle", "$RECYCLE.BIN", "lost+found", "System Volume Information"}
)


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class Problem:
    path: Path
    reason: str
    # Files below ``path`` may still be there (a folder that could not be read): the scan
    # keeps them.  False for a link it chose not to follow: what came through it goes.
    unsure: bool = True


def _outside(kind: str, target: Path) -> str:
    return (
        f"a link to a {kind} outside this library, leading to {target}; not followed "
        "(Admin → Libraries can allow links that lead outside)"
    )


@dataclass(slots=True)
class WalkResult:
    videos: list[FoundFile] = field(default_factory=list)
    # folder -> sidecar files in it (name -> mtime_ns); lets the scanner match cheaply.
    sidecars: dict[Path, dict[str, int]] = field(default_factory=dict)
    # folder -> the pictures in its ``.actors`` folder (name -> mtime_ns)
    actor_photos: dict[Path, dict[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    root_readable: bool = True


def describe_os_error(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENAMETOOLONG:
        return "name too long"
    if exc.errno == errno.ENOENT:
        return "broken symlink"
    return exc.strerror or str(exc)


def _kind_of(mode: int) -> str | None:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return None


def walk_library(
    root: Path,
    should_stop: Callable[[], bool] = lambda: False,
    homes: Sequence[Path] | None = None,
) -> WalkResult:
    """Every video below ``root`` with size and mtime, following symlinks safely: never
    twice into one folder, and (with ``homes``, the library's real folders) never through
    a link that leads outside them."""
    result = WalkResult()
    try:
        root_stat = root.stat()
    except OSError as exc:
        result.root_readable = False
        # ENOENT means "broken symlink" below the root, but the root itself is just gone.
        reason = "not found" if exc.errno == errno.ENOENT else describe_os_error(exc)
        result.problems.append(Problem(root, f"library folder: {reason}"))
        return result
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    pending = [root]
    while pending and not should_stop():
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            result.problems.append(Problem(folder, f"cannot read folder: {describe_os_error(exc)}"))
            if folder == root:
                result.root_readable = False
            continue
        for entry in entries:
            _visit(entry, Path(entry.path), result, visited, pending, homes)
    return result


def walk_folders(
    roots: Sequence[Path],
    should_stop: Callable[[], bool] = lambda: False,
    *,
    follow_outside: bool = False,
) -> WalkResult:
    """:func:`walk_library` over each of a library's folders, as one result;
    ``root_readable`` is true only when every folder could be read.  Links that lead out of
    all of them are followed only with ``follow_outside``."""
    result = WalkResult()
    homes = None if follow_outside else homes_of(roots)
    for root in roots:
        part = walk_library(root, should_stop, homes)
        result.videos += part.videos
        for folder, names in part.sidecars.items():
            result.sidecars.setdefault(folder, {}).update(names)
        for folder, names in part.actor_photos.items():
            result.actor_photos.setdefault(folder, {}).update(names)
        result.problems += part.problems
        result.root_readable = result.root_readable and part.root_readable
    return result


def folders_to_watch(roots: Sequence[Path], *, follow_outside: bool = False) -> list[Path]:
    """Every folder a scan of these library folders walks (``.actors`` folders too), for
    the watcher to watch one by one: a recursive watch would follow every link, even one
    that leads out of the library (``Films/loop -> /``).  Folders only: cheap to redo."""
    homes = None if follow_outside else homes_of(roots)
    found: list[Path] = []
    visited: set[tuple[int, int]] = set()
    pending = [r for r in roots if r.is_dir()]
    while pending:
        folder = pending.pop()
        try:
            st = folder.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in visited:
            continue  # a loop, or a link to a folder already here
        visited.add((st.st_dev, st.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if _may_hold_media(e, homes)]
        except OSError:
            continue  # unreadable: a watch on it would fail too (the scan reports it)
        found.append(folder)
        pending += [Path(e.path) for e in entries]
    return found


def _may_hold_media(entry: os.DirEntry[str], homes: Sequence[Path] | None) -> bool:
    """A folder the scan walks (or reads actor photos from)."""
    if entry.name != ACTORS_FOLDER and (
        entry.name.startswith(".") or entry.name in SKIPPED_FOLDERS
    ):
        return False
    try:
        if not entry.is_dir():  # follows links
            return False
    except OSError:
        return False
    return (
        homes is None or not entry.is_symlink() or outside_target(Path(entry.path), homes) is None
    )


def root_of(path: Path, roots: Sequence[Path]) -> Path:
    """The library folder ``path`` lies in (the deepest, should one hold another)."""
    holding = [r for r in roots if path.is_relative_to(r)]
    return max(holding, key=lambda r: len(r.parts)) if holding else path.parent


def _visit(
    entry: os.DirEntry[str],
    path: Path,
    result: WalkResult,
    visited: set[tuple[int, int]],
    pending: list[Path],
    homes: Sequence[Path] | None,
) -> None:
    if entry.name == ACTORS_FOLDER:
        if homes is None or outside_target(path, homes) is None:
            _visit_actors(path, result)
        return
    if entry.name.startswith(".") or entry.name in SKIPPED_FOLDERS:
        return
    try:
        st = entry.stat()  # follows symlinks; ELOOP for a link to itself
    except OSError as exc:
        result.problems.append(Problem(path, describe_os_error(exc)))
        return
    suffix = os.path.splitext(entry.name)[1].lower()
    is_dir = stat.S_ISDIR(st.st_mode)
    if homes is not None and entry.is_symlink() and (is_dir or suffix in VIDEO_EXTENSIONS):
        target = outside_target(path, homes)
        if target is not None:
            kind = "folder" if is_dir else "file"
            result.problems.append(Problem(path, _outside(kind, target), unsure=False))
            return
    if is_dir:
        key = (st.st_dev, st.st_ino)
        if key in visited:
            result.problems.append(Problem(path, "symlink loop (folder already scanned)"))
        else:
            visited.add(key)
            pending.append(path)
        return
    if suffix in VIDEO_EXTENSIONS:
        odd = _kind_of(st.st_mode)
        if odd:
            result.problems.append(Problem(path, f"not a regular file: {odd}"))
        else:
            result.videos.append(FoundFile(path, st.st_size, st.st_mtime_ns))
    elif suffix in _SIDECAR_EXTENSIONS and stat.S_ISREG(st.st_mode):
        if entry.is_symlink() and not stays_home(path):
            result.problems.append(Problem(path, "a link to a file outside its folder; not used"))
            return
        result.sidecars.setdefault(path.parent, {})[entry.name] = st.st_mtime_ns


def _visit_actors(folder: Path, result: WalkResult) -> None:
    """The pictures in a ``.actors`` folder; never walked further (no videos live there)."""
    photos: dict[str, int] = {}
    try:
        with os.scandir(folder) as it:
            for entry in it:
                if os.path.splitext(entry.name)[1].lower() not in IMAGE_EXTENSIONS:
                    continue
                path = Path(entry.path)
                try:
                    st = entry.stat()
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and (not entry.is_symlink() or stays_home(path)):
                    photos[entry.name] = st.st_mtime_ns
    except OSError as exc:
        if exc.errno != errno.ENOTDIR:
            result.problems.append(Problem(folder, f"cannot read folder: {describe_os_error(exc)}"))
        return
    if photos:
        result.actor_photos[folder.parent] = photos
