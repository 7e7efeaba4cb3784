"""Symbolic links in a library: followed only where they stay inside it.

Libraries often *are* links (a folder linked in from another disk), and those are fine:
a library's folders are judged by where they really are.  A link *inside* a library is
different.  A sidecar that links elsewhere (a ``poster.jpg`` pointing at ``/etc/passwd`` or
a key in someone's home) would be served to every viewer, so a sidecar link is used only
when its target lies in the folder the link is in (or below it).  A folder or video link
that leads out of the library's folders (``Films/loop -> ..``, or into another library)
would show members of this library what they may not see, so the scan does not follow it
unless the admin allows it for that library (``libraries.follow_outside_links``); a link
from one of the library's folders to another place in them (a film linked into two
folders) is followed as before.  Both are checked at scan time and again whenever the file
is read or played, since a link can change after a scan.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["OutsideLibrary", "homes_of", "outside_target", "stays_home", "within"]


class OutsideLibrary(LookupError):
    """A catalogued file now lies outside its library's folders (a link that changed):
    it is not served, as if it were not there."""


def stays_home(path: Path) -> bool:
    """True for a regular file, or a link whose target is inside the link's own folder."""
    if not os.path.islink(path):
        return True
    try:
        target = Path(os.path.realpath(path, strict=True))
        home = Path(os.path.realpath(path.parent, strict=True))
    except OSError:
        return False
    return target.is_relative_to(home)


def homes_of(folders: Iterable[str | Path]) -> list[Path]:
    """A library's folders where they really are (links and ``..`` resolved)."""
    return [Path(os.path.realpath(f)) for f in folders]


def within(path: str | Path, homes: Sequence[Path]) -> bool:
    """True when ``path``, links resolved, lies in one of ``homes`` (see :func:`homes_of`)."""
    real = Path(os.path.realpath(path))
    return any(real.is_relative_to(home) for home in homes)


def outside_target(path: Path, homes: Sequence[Path]) -> Path | None:
    """Where the link at ``path`` leads, when that is outside every one of ``homes``;
    None when it stays inside (or ``path`` is no link)."""
    if not os.path.islink(path):
        return None
    target = Path(os.path.realpath(path))
    return None if any(target.is_relative_to(h) for h in homes) else target
