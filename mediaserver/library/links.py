"""Symbolic links among sidecar files: followed only when they stay in their own folder.

Libraries often *are* links (a folder linked in from another disk), and those are fine:
the files inside are real files.  A sidecar that is itself a link to somewhere else is
different: a ``poster.jpg`` pointing at ``/etc/passwd`` or a key in someone's home would
be served to every viewer.  So a sidecar link is used only when its target lies in the
folder the link is in (or below it); checked at scan time and again whenever the file is
read, since a link can change after a scan.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["stays_home"]


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
