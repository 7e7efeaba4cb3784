"""The admin's folder browser: which folders may hold a library, and what is in them.

Only folders inside the *browse roots* are ever listed or accepted as library folders:
``[library] browse_roots`` (or ``MEDIASERVER_BROWSE_ROOTS``), else those of ``/srv``,
``/mnt``, ``/media``, ``/home`` and the service user's home that exist.  Every path is
resolved (symlinks and ``..``) before it is judged, so neither a link nor ``..`` leads out.

Whether a folder can be read is found out by listing it, as the user Hearth runs as: the
only test that gives the answer the scanner will get (``os.access`` says yes to root for a
``chmod 000`` folder, and root can indeed read it).  Listings are bounded: the first
:data:`MAX_ENTRIES` folders in name order with a count of the rest, and video counts that
look at no more than :data:`COUNT_LIMIT` entries of each subfolder.
"""

from __future__ import annotations

import errno
import os
import pwd
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mediaserver.library.walk import SKIPPED_FOLDERS, VIDEO_EXTENSIONS, describe_os_error

__all__ = [
    "COUNT_LIMIT",
    "DEFAULT_ROOTS",
    "MAX_ENTRIES",
    "BadFolderPath",
    "FolderBrowser",
    "FolderEntry",
    "FolderError",
    "FolderListing",
    "FolderNotFound",
    "FolderUnreadable",
    "OutsideRoots",
    "default_roots",
    "service_user",
]

DEFAULT_ROOTS = ("/srv", "/mnt", "/media", "/home")
MAX_ENTRIES = 500  # folders listed at once; the rest are counted
COUNT_LIMIT = 200  # entries looked at per subfolder when counting its videos
_COUNT_BUDGET = 20_000  # entries looked at for counts in one listing, all subfolders together
_MAX_PATH = 4096


class FolderError(ValueError):
    """A folder that cannot be browsed or used; the message says why, in words."""


class BadFolderPath(FolderError):
    """Not a usable path at all: relative, a NUL byte, too long, or a file."""


class OutsideRoots(FolderError):
    """The path (once resolved) is outside every browse root."""


class FolderNotFound(FolderError):
    """Inside the roots, but nothing is there."""


class FolderUnreadable(FolderError):
    """There, but the user Hearth runs as cannot list it."""


@dataclass(frozen=True, slots=True)
class FolderEntry:
    name: str
    path: str
    readable: bool
    reason: str | None = None  # why it cannot be read or opened, in words
    videos: int | None = None  # video files directly inside; None: not counted
    videos_more: bool = False  # counting stopped early: there may be more
    subfolders: bool = False  # has folders inside (worth opening)


@dataclass(frozen=True, slots=True)
class FolderListing:
    path: str | None  # None: the list of browse roots
    parent: str | None  # None: going up shows the roots
    entries: list[FolderEntry] = field(default_factory=list)
    more: int = 0  # folders not listed (beyond MAX_ENTRIES)
    videos: int = 0  # video files directly in ``path``


def service_user() -> str:
    """The name of the user this process runs as (what a permission message names)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _home() -> str | None:
    try:
        return pwd.getpwuid(os.geteuid()).pw_dir or None
    except KeyError:
        return os.environ.get("HOME")


def default_roots() -> list[str]:
    """The default browse roots: those of /srv, /mnt, /media, /home and the home folder
    of the service user that exist."""
    candidates = [*DEFAULT_ROOTS, *([home] if (home := _home()) else [])]
    return [c for c in candidates if os.path.isdir(c)]


def _normalised(roots: Sequence[str | Path]) -> list[Path]:
    """Resolved, existing, in the given order, without one inside another."""
    kept: list[Path] = []
    for raw in roots:
        real = Path(os.path.realpath(os.path.expanduser(str(raw))))
        if not real.is_dir() or any(real == k or real.is_relative_to(k) for k in kept):
            continue
        kept = [k for k in kept if not k.is_relative_to(real)] + [real]
    return kept


class _Budget:
    def __init__(self, entries: int) -> None:
        self.left = entries


class FolderBrowser:
    """Lists folders inside the browse roots and checks folders chosen for a library."""

    def __init__(self, configured: Sequence[str | Path] = ()) -> None:
        self.configured = tuple(str(c) for c in configured)

    @property
    def roots(self) -> list[Path]:
        """Resolved every time: a disk mounted under /media later is there at once."""
        return _normalised(self.configured or default_roots())

    def roots_text(self) -> str:
        return ", ".join(str(r) for r in self.roots) or "none"

    def root_of(self, real: Path) -> Path | None:
        """The browse root that holds ``real`` (a resolved path), or None."""
        for root in self.roots:
            if real == root or real.is_relative_to(root):
                return root
        return None

    def resolve(self, raw: str) -> Path:
        """``raw`` resolved, checked to be a folder inside the roots; FolderError if not."""
        shown = raw if len(raw) <= 200 else raw[:200] + "…"
        if "\x00" in raw:
            raise BadFolderPath("A folder path cannot contain a NUL character.")
        if len(raw) > _MAX_PATH:
            raise BadFolderPath("That folder path is too long.")
        if not raw.startswith("/"):
            raise BadFolderPath(f"{shown!r} is not a full folder path: it must start with /.")
        real = Path(os.path.realpath(raw))
        if self.root_of(real) is None:
            raise OutsideRoots(
                f"{shown} is outside the folders Hearth may browse ({self.roots_text()}). "
                "To use it, add it to [library] browse_roots in the config file "
                "(or MEDIASERVER_BROWSE_ROOTS) and restart Hearth."
            )
        try:
            mode = real.stat().st_mode
        except FileNotFoundError:
            raise FolderNotFound(f"There is no folder {shown}.") from None
        except OSError as exc:
            raise FolderUnreadable(self._cannot_read(exc)) from None
        if not stat.S_ISDIR(mode):
            raise BadFolderPath(f"{shown} is a file, not a folder.")
        return real

    def check_library_folder(self, raw: str) -> Path:
        """A folder a library may use: inside the roots, and readable by Hearth's user."""
        real = self.resolve(raw)
        try:
            with os.scandir(real) as it:
                next(it, None)
        except OSError as exc:
            raise FolderUnreadable(f"{real}: {self._cannot_read(exc)}") from None
        return real

    def listing(self, raw: str | None = None) -> FolderListing:
        """The roots (``raw`` empty), or the folders inside ``raw``."""
        budget = _Budget(_COUNT_BUDGET)
        if not raw:
            entries = [self._entry(root, str(root), budget) for root in self.roots]
            return FolderListing(path=None, parent=None, entries=entries)
        real = self.resolve(raw)
        names: list[str] = []
        videos = 0
        try:
            with os.scandir(real) as it:
                for entry in it:
                    if _hidden(entry.name):
                        continue
                    if _is_folder(entry):
                        names.append(entry.name)
                    elif _is_video(entry):
                        videos += 1
        except OSError as exc:
            raise FolderUnreadable(self._cannot_read(exc)) from None
        names.sort(key=lambda n: (n.casefold(), n))
        shown = [self._entry(real / name, name, budget) for name in names[:MAX_ENTRIES]]
        parent = None if real in self.roots else str(real.parent)
        return FolderListing(
            path=str(real),
            parent=parent,
            entries=shown,
            more=max(0, len(names) - MAX_ENTRIES),
            videos=videos,
        )

    def _entry(self, path: Path, name: str, budget: _Budget) -> FolderEntry:
        real = Path(os.path.realpath(path))
        if self.root_of(real) is None:
            return FolderEntry(
                name,
                str(path),
                readable=False,
                reason="A link to a folder outside the ones Hearth may browse.",
            )
        videos = 0
        more = subfolders = False
        try:
            with os.scandir(real) as it:
                for looked, entry in enumerate(it):
                    if looked >= COUNT_LIMIT or budget.left <= 0:
                        more = True
                        break
                    budget.left -= 1
                    if _hidden(entry.name):
                        continue
                    if _is_video(entry):
                        videos += 1
                    elif not subfolders and _is_folder(entry):
                        subfolders = True
        except OSError as exc:
            return FolderEntry(name, str(path), readable=False, reason=self._cannot_read(exc))
        return FolderEntry(
            name, str(path), readable=True, videos=videos, videos_more=more, subfolders=subfolders
        )

    @staticmethod
    def _cannot_read(exc: OSError) -> str:
        why = "permission denied" if exc.errno in (errno.EACCES, errno.EPERM) else None
        return (
            f"Hearth's user ({service_user()}) cannot read this folder: "
            f"{why or describe_os_error(exc)}."
        )


def _hidden(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_FOLDERS


def _is_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows a symlink; the entry judges where it leads
    except OSError:
        return False


def _is_video(entry: os.DirEntry[str]) -> bool:
    if os.path.splitext(entry.name)[1].lower() not in VIDEO_EXTENSIONS:
        return False
    try:
        return entry.is_file()
    except OSError:
        return False
