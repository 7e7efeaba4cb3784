"""Libraries the admin makes in the web UI: add, rename, change kind and folders, remove.

Three sources of libraries live side by side: ``config`` (``[library] media_dirs`` or
``MEDIASERVER_MEDIA_DIRS``: read-only here, the file decides), ``web`` (made here) and
``demo`` (shown only while there is no other library and none was ever added here).

A library's folders must lie inside the folder browser's roots, be readable by Hearth's
user, and overlap no other library's folders nor Hearth's own data folder: a file belongs
to one library, and the HLS cache (``.ts`` segments) must never be catalogued.  Removing a
library removes its catalog rows (items, files, watch progress of those items); the media
files themselves are never touched.  Whether a library's scan follows links that lead out of
its folders (``follow_outside_links``, off unless the admin allows it) can be changed for a
config file's library too: the file names folders, not that.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mediaserver.db import Database
from mediaserver.library.folders import FolderBrowser
from mediaserver.library.service import LibraryService, ScanStatus
from mediaserver.server_profile import ServerProfileStore

__all__ = [
    "CONFIG_HINT",
    "KINDS",
    "MAX_FOLDERS",
    "Libraries",
    "LibraryConflict",
    "LibraryError",
    "NoSuchLibrary",
    "ReadOnlyLibrary",
]

KINDS = ("films", "shows", "mixed")
MAX_FOLDERS = 20
MAX_NAME = 100
CONFIG_HINT = (
    "it is set in the config file: change [library] media_dirs there "
    "(or MEDIASERVER_MEDIA_DIRS) and restart Hearth"
)


class LibraryError(ValueError):
    """A choice that cannot be made; the message says why, in words."""


class LibraryConflict(LibraryError):
    """The name or a folder is already taken by another library."""


class ReadOnlyLibrary(LibraryError):
    """A library from the config file (or the demo): the UI cannot change it."""


class NoSuchLibrary(LookupError):
    pass


def _checked_name(raw: object) -> str:
    name = " ".join(str(raw or "").split())
    if not name:
        raise LibraryError("name: give the library a name")
    if len(name) > MAX_NAME:
        raise LibraryError(f"name: at most {MAX_NAME} characters")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise LibraryError("name: control characters cannot be part of a name")
    return name


def _checked_kind(raw: object) -> str:
    if raw not in KINDS:
        raise LibraryError(f"kind: choose one of {', '.join(KINDS)}")
    return str(raw)


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


class Libraries:
    def __init__(
        self,
        db: Database,
        scans: LibraryService,
        browser: FolderBrowser,
        profile: ServerProfileStore,
        *,
        data_dir: Path,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.scans = scans
        self.browser = browser
        self.profile = profile
        self.data_dir = data_dir
        self.on_change = on_change  # the folders to watch changed

    # -- reading ---------------------------------------------------------------------------
    def all(self, *, inactive: bool = False) -> list[dict[str, Any]]:
        """Active libraries by name with their folders (and, with ``inactive``, the config
        libraries the file no longer names, whose catalog is kept)."""
        where = "" if inactive else "WHERE active = 1"
        rows = [dict(r) for r in self.db.query(f"SELECT * FROM libraries {where} ORDER BY name")]
        folders = self.scans.folders()
        for row in rows:
            row["folders"] = folders.get(int(row["id"]), [row["path"]])
            row["active"] = bool(row["active"])
            row["follow_outside_links"] = bool(row["follow_outside_links"])
        return rows

    def get(self, library_id: int, *, inactive: bool = False) -> dict[str, Any]:
        for row in self.all(inactive=inactive):
            if row["id"] == library_id:
                return row
        raise NoSuchLibrary(f"no library with id {library_id}")

    def demo_showing(self) -> bool:
        return (
            self.db.query_one("SELECT 1 FROM libraries WHERE source = 'demo' AND active = 1")
            is not None
        )

    def contents(self, library_id: int) -> dict[str, int]:
        """What removing the library takes out of the catalog, counted."""
        counts = {"films": 0, "shows": 0, "episodes": 0, "collections": 0}
        names = {"movie": "films", "show": "shows", "episode": "episodes"}
        for kind, n in self.db.query(
            "SELECT kind, count(*) FROM items WHERE library_id = ? GROUP BY kind", [library_id]
        ):
            if kind in names or kind == "collection":
                counts[names.get(kind, "collections")] = int(n)
        files = self.db.query_one("SELECT count(*) FROM files WHERE library_id = ?", [library_id])
        watched = self.db.query_one(
            "SELECT count(*) FROM progress p JOIN items i ON i.id = p.item_id "
            "WHERE i.library_id = ?",
            [library_id],
        )
        counts["files"] = int(files[0]) if files else 0
        counts["progress"] = int(watched[0]) if watched else 0
        return counts

    # -- changing --------------------------------------------------------------------------
    def create(
        self,
        name: object,
        kind: object,
        folders: Sequence[str],
        *,
        follow_outside_links: bool = False,
    ) -> dict[str, Any]:
        """A new library, scanned at once; the demo library goes away for good."""
        name, kind = _checked_name(name), _checked_kind(kind)
        follow = int(bool(follow_outside_links))
        paths = self._checked_folders(folders)

        def write(db: Any) -> int:
            adopted = self._adoptable(db, paths)
            self._check_free(db, name, paths, adopted)
            if adopted is None:
                library_id = int(
                    db.execute(
                        "INSERT INTO libraries (name, path, kind, source, follow_outside_links) "
                        "VALUES (?, ?, ?, 'web', ?)",
                        [name, str(paths[0]), kind, follow],
                    ).lastrowid
                )
            else:  # the config file's library on this folder, keeping its history
                library_id = adopted
                db.execute(
                    "UPDATE libraries SET name = ?, kind = ?, source = 'web', active = 1, "
                    "follow_outside_links = ? WHERE id = ?",
                    [name, kind, follow, library_id],
                )
            self._set_folders(db, library_id, paths)
            db.execute("UPDATE libraries SET active = 0 WHERE source = 'demo'")
            return library_id

        library_id = self.db.write(write)
        self.profile.update(demo_retired=True)
        self.scans.request_scan([library_id])
        self.on_change()
        return self.get(library_id)

    def update(
        self,
        library_id: int,
        *,
        name: object = None,
        kind: object = None,
        folders: Sequence[str] | None = None,
        follow_outside_links: bool | None = None,
    ) -> dict[str, Any]:
        """Rename, change kind, change folders, or allow links that lead outside (then
        rescan: files in a folder taken out, or behind a link no longer followed, leave the
        catalog; files in a new one come in).  A config file's library takes only the
        last of these."""
        only_links = name is None and kind is None and folders is None
        library = self._changeable(library_id, links_only=only_links)
        follow = (
            bool(library["follow_outside_links"])
            if follow_outside_links is None
            else bool(follow_outside_links)
        )
        new_name = library["name"] if name is None else _checked_name(name)
        new_kind = library["kind"] if kind is None else _checked_kind(kind)
        paths = None if folders is None else self._checked_folders(folders)

        def write(db: Any) -> None:
            self._check_free(db, new_name, paths or [], library_id)
            db.execute(
                "UPDATE libraries SET name = ?, kind = ?, follow_outside_links = ? WHERE id = ?",
                [new_name, new_kind, int(follow), library_id],
            )
            if paths is not None:
                self._set_folders(db, library_id, paths)

        self.db.write(write)
        refoldered = paths is not None and [str(p) for p in paths] != library["folders"]
        if refoldered or follow != bool(library["follow_outside_links"]):
            self.scans.request_scan([library_id])
            self.on_change()
        return self.get(library_id)

    def remove(self, library_id: int) -> dict[str, int]:
        """Take the library and its catalog rows away (never a media file); what went."""
        self._changeable(library_id, inactive=True)
        self.scans.forget(library_id)
        removed = self.contents(library_id)
        self.db.write(lambda db: db.execute("DELETE FROM libraries WHERE id = ?", [library_id]))
        self.on_change()
        return removed

    def rescan(self, library_id: int) -> ScanStatus:
        self.get(library_id)
        return self.scans.request_scan([library_id])

    # -- checks ----------------------------------------------------------------------------
    def _changeable(
        self, library_id: int, *, inactive: bool = False, links_only: bool = False
    ) -> dict[str, Any]:
        library = self.get(library_id, inactive=inactive)
        if library["source"] == "demo":
            raise ReadOnlyLibrary(
                f"{library['name']} is the demo library: it goes away once you add a library"
            )
        if library["source"] == "config" and library["active"] and not links_only:
            raise ReadOnlyLibrary(f"{library['name']} cannot be changed here: {CONFIG_HINT}")
        return library

    def _checked_folders(self, folders: Sequence[str]) -> list[Path]:
        raw = [f for f in folders if isinstance(f, str) and f.strip()]
        if not raw:
            raise LibraryError("folders: choose at least one folder")
        if len(raw) > MAX_FOLDERS:
            raise LibraryError(f"folders: at most {MAX_FOLDERS} folders in one library")
        paths: list[Path] = []
        for value in raw:
            path = self.browser.check_library_folder(value.strip())
            if path in paths:
                continue
            for other in paths:
                if _overlap(path, other):
                    inner, outer = (path, other) if path.is_relative_to(other) else (other, path)
                    raise LibraryError(f"folders: {inner} is inside {outer}; choose one of them")
            data = Path(self.data_dir).resolve()
            if _overlap(path, data):
                raise LibraryError(
                    f"folders: {path} holds Hearth's own data folder ({data}); "
                    "choose the folders with your films and shows"
                )
            paths.append(path)
        return paths

    def _adoptable(self, db: Any, paths: Sequence[Path]) -> int | None:
        """A library the config file no longer names whose folders are all among ``paths``."""
        chosen = {str(p) for p in paths}
        found: dict[int, set[str]] = {}
        for library_id, path in db.execute(
            "SELECT f.library_id, f.path FROM library_folders f JOIN libraries l "
            "ON l.id = f.library_id WHERE l.active = 0 AND l.source = 'config'"
        ).fetchall():
            found.setdefault(int(library_id), set()).add(path)
        matches = [lid for lid, owned in found.items() if owned <= chosen]
        return matches[0] if len(matches) == 1 else None

    def _check_free(self, db: Any, name: str, paths: Sequence[Path], own_id: int | None) -> None:
        """Refuse a name or folder another library has (an inactive one's folders count)."""
        same = db.execute(
            "SELECT 1 FROM libraries WHERE active = 1 AND name = ? COLLATE NOCASE AND id IS NOT ?",
            [name, own_id],
        ).fetchone()
        if same:
            raise LibraryConflict(f"name: there is already a library called {name}")
        taken = db.execute(
            "SELECT f.path, l.name, l.active, l.source FROM library_folders f "
            "JOIN libraries l ON l.id = f.library_id WHERE f.library_id IS NOT ?",
            [own_id],
        ).fetchall()
        for path in paths:
            for other, owner, active, source in taken:
                if not _overlap(path, Path(other)):
                    continue
                where = "is" if path == Path(other) else "overlaps"
                gone = "" if active else " (no longer in the config file; remove it first)"
                kind = "the demo library" if source == "demo" else f"the library {owner}"
                raise LibraryConflict(f"folders: {path} {where} {other}, a folder of {kind}{gone}")

    @staticmethod
    def _set_folders(db: Any, library_id: int, paths: Sequence[Path]) -> None:
        db.execute("DELETE FROM library_folders WHERE library_id = ?", [library_id])
        db.conn.executemany(
            "INSERT INTO library_folders (library_id, position, path) VALUES (?, ?, ?)",
            [(library_id, n, str(p)) for n, p in enumerate(paths)],
        )
        db.execute("UPDATE libraries SET path = ? WHERE id = ?", [str(paths[0]), library_id])
