"""The data folder belongs to the server's user alone: folders 0700, files 0600.

It holds the catalog (password and token hashes, sealed two-factor secrets), ``secret.key``
and ``totp.key``, backups and caches.  The command line sets a process-wide umask of 077
before anything is opened, so everything made afterwards is private, whoever makes it
(SQLite's ``-wal`` and ``-shm``, ffmpeg's segments, backups).  An older Hearth ran under
the usual 022 and left 0755 folders and 0644 files: :func:`tighten` takes the group's and
everyone else's bits off those once, at start-up, and the server logs one line saying how
many it changed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "make_private", "tighten"]

PRIVATE_UMASK = 0o077


def make_private() -> None:
    """Everything this process creates from now on is readable by its own user only."""
    os.umask(PRIVATE_UMASK)


def tighten(roots: Iterable[Path]) -> list[Path]:
    """Take group and other permissions off the folders and files under ``roots`` that
    this user owns; the paths changed.

    Every entry of a root is looked at (the catalog and the keys live there), and a folder's
    contents only when the folder itself was loose: this Hearth never makes one, so a private
    folder was made by it and holds private files, and even a file copied in with other modes
    cannot be reached through it.  A start then costs a few dozen ``lstat`` calls, not one per
    poster (1 s for 20,000).  Links are neither changed nor followed (a link to a media folder
    stays as the admin made it), and what cannot be changed is left alone.
    """
    changed: list[Path] = []
    uid = os.geteuid()
    for root in dict.fromkeys(roots):
        if root.is_symlink() or not root.is_dir():
            continue
        if _strip(root, uid):
            changed.append(root)
        _tighten_inside(root, uid, changed)
    return changed


def _tighten_inside(folder: Path, uid: int, changed: list[Path]) -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if _strip(path, uid):
            changed.append(path)
            if entry.is_dir(follow_symlinks=False):
                _tighten_inside(path, uid, changed)


def _strip(path: Path, uid: int) -> bool:
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != uid or not info.st_mode & 0o077:
            return False
        path.chmod(stat.S_IMODE(info.st_mode) & ~0o077)
    except OSError:  # gone meanwhile, or not ours to change
        return False
    return True
