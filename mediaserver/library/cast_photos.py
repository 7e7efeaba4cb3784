"""Photos of the cast, found after every scan: on disk first, downloaded only if allowed.

For each actor of a library's films, shows and episodes, the first of:

1. Kodi's ``.actors`` folder: ``.actors/First_Last.jpg`` beside the film or episode, else
   in the show's folder.  A name matches its file ignoring case, accents and what stands
   between the words, so "Zoë Kravitz" finds ``Zoe_Kravitz.jpg`` or ``Zoë Kravitz.png``.
2. The NFO's ``<thumb>`` when it names a picture inside the library (a relative path is
   read from the NFO's folder).  A path anywhere else on the machine is never served.
3. The NFO's ``<thumb>`` URL, for the first :data:`FETCH_PER_ITEM` of a cast: downloaded
   once through the posters' :class:`~mediaserver.library.remote_artwork.ArtworkFetcher`
   (the ``[network]`` rules, failures remembered) and kept :data:`PHOTO_WIDTH` pixels wide;
   only while ``[library] fetch_artwork`` is on.

``item_people.photo`` holds the image reference (as ``items.poster`` does); only what
changed is written.  A failed download is logged, never one of the library's problems: a
missing face is not something to fix.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from mediaserver.db import Database
from mediaserver.library.images import CACHE_PREFIX, FILE_PREFIX
from mediaserver.library.links import stays_home
from mediaserver.library.metadata import show_folder
from mediaserver.library.remote_artwork import ArtworkFetcher, WantedArt
from mediaserver.library.walk import ACTORS_FOLDER, IMAGE_EXTENSIONS, WalkResult, root_of

__all__ = ["FETCH_PER_ITEM", "PHOTO_WIDTH", "CastPhotos", "PhotoFolder", "photo_key"]

log = structlog.get_logger(__name__)

PHOTO_WIDTH = 400  # pixels: a cast card is 96 px, twice that on a sharp screen, with room
FETCH_PER_ITEM = 24  # the cast row shows this many; nobody scrolls to the 60th extra
Progress = Callable[[str, int, int, str | None], None]

_PEOPLE = """SELECT ip.item_id, ip.ord, ip.name, ip.thumb, ip.photo FROM item_people ip
             JOIN items i ON i.id = ip.item_id
             WHERE i.library_id = ? AND ip.role = 'actor' ORDER BY ip.item_id, ip.ord"""
# Where each item with a cast lives: its first file, or a show's first episode's file.
_PLACES = """SELECT i.id, i.kind, CASE i.kind
               WHEN 'show' THEN (SELECT f.path FROM items se JOIN items e ON e.parent_id = se.id
                                 JOIN files f ON f.item_id = e.id
                                 WHERE se.parent_id = i.id ORDER BY f.id LIMIT 1)
               ELSE (SELECT f.path FROM files f WHERE f.item_id = i.id ORDER BY f.id LIMIT 1)
             END AS path
             FROM items i WHERE i.library_id = ? AND i.id IN (
               SELECT item_id FROM item_people WHERE role = 'actor')"""


# Letters that are not an accent on another letter, but that file names spell plain.
_PLAIN = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l", "\u0131": "i"}
)


def photo_key(name: str) -> str:
    """A name as file names spell it loosely: letters and digits only, lower case, no
    accents (``"Zoë  Kravitz"`` and ``"zoe_kravitz"`` are both ``"zoekravitz"``)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold().translate(_PLAIN))
    return "".join(c for c in decomposed if c.isalnum())  # combining accents are not alnum


def _exact_key(name: str) -> str:
    """Kodi's own spelling: spaces as underscores, case aside."""
    return unicodedata.normalize("NFC", name).casefold().replace(" ", "_")


@dataclass(frozen=True, slots=True)
class PhotoFolder:
    """One ``.actors`` folder's pictures, by the keys a name is looked up with."""

    folder: Path
    exact: Mapping[str, str]
    loose: Mapping[str, str]

    @classmethod
    def of(cls, folder: Path, names: Mapping[str, int]) -> PhotoFolder:
        exact: dict[str, str] = {}
        loose: dict[str, str] = {}
        for name in sorted(names):  # .jpg before .png: one answer, always the same
            stem, suffix = Path(name).stem, Path(name).suffix.lower()
            if suffix in IMAGE_EXTENSIONS:
                exact.setdefault(_exact_key(stem), name)
                loose.setdefault(photo_key(stem), name)
        return cls(folder, exact, loose)

    def photo_of(self, name: str) -> Path | None:
        found = self.exact.get(_exact_key(name)) or self.loose.get(photo_key(name))
        return self.folder / ACTORS_FOLDER / found if found else None


class CastPhotos:
    """The photo pass of one scanner; ``artwork`` None: no downloads (fetch_artwork off)."""

    def __init__(self, artwork: ArtworkFetcher | None) -> None:
        self.artwork = artwork

    def fill(
        self,
        db: Database,
        library_id: int,
        roots: Path | Sequence[Path],
        walk: WalkResult,
        progress: Progress = lambda *a: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Find every actor's photo in the library with these folders; how many changed."""
        folders_of_library = [roots] if isinstance(roots, Path) else list(roots)
        # Only folders the walk listed: one it could not read (an unplugged disk) keeps
        # the photos it had.
        listed = {f.path.parent for f in walk.videos}
        places: dict[int, tuple[Path, list[Path]]] = {}  # item -> its library folder, .actors
        for r in db.query(_PLACES, [library_id]):
            video = Path(r["path"]) if r["path"] is not None else None
            if video is not None and video.parent in listed:
                root = root_of(video, folders_of_library)
                places[int(r["id"])] = (root, _folders(str(r["kind"]), video, root))
        indexes = {f: PhotoFolder.of(f, names) for f, names in walk.actor_photos.items()}
        changes: list[tuple[str | None, int, int]] = []
        wanted: list[WantedArt] = []
        for row in db.query(_PEOPLE, [library_id]):
            item_id, ord_, current = int(row["item_id"]), int(row["ord"]), row["photo"]
            place = places.get(item_id)
            if place is None:
                continue
            root, where = place
            photo = self._found(row, where, indexes, root)
            thumb = row["thumb"] or ""
            if photo is None and thumb.startswith(("http://", "https://")):
                ref = self.artwork.stored(thumb, PHOTO_WIDTH) if self.artwork else None
                if ref is None and self.artwork is not None and ord_ < FETCH_PER_ITEM:
                    wanted.append(WantedArt(item_id, "photo", thumb, where[0], ord_))
                # Until a download succeeds (or with downloads off), an earlier one stays.
                kept = current if current and current.startswith(CACHE_PREFIX) else None
                photo = ref or kept
            if photo != current:
                changes.append((photo, item_id, ord_))
        if wanted and self.artwork is not None and not should_stop():
            stored, failed = self.artwork.fetch_all(
                wanted, progress, should_stop, phase="fetching cast photos", width=PHOTO_WIDTH
            )
            changes += [(ref, w.item_id, w.ord) for w, ref in stored]
            if failed:
                log.info("cast photos not downloaded", library_id=library_id, count=len(failed))
        if changes:
            db.write(
                lambda d: d.conn.executemany(
                    "UPDATE item_people SET photo = ? WHERE item_id = ? AND role = 'actor'"
                    " AND ord = ?",
                    changes,
                )
            )
        return len(changes)

    def _found(
        self, row: Any, where: list[Path], indexes: Mapping[Path, PhotoFolder], root: Path
    ) -> str | None:
        """A picture on disk: the ``.actors`` folders, then the NFO's local ``<thumb>``."""
        for folder in where:
            index = indexes.get(folder)
            path = index.photo_of(str(row["name"])) if index else None
            if path is not None:
                return FILE_PREFIX + str(path)
        thumb = row["thumb"] or ""
        if thumb.startswith(FILE_PREFIX):
            path = Path(thumb[len(FILE_PREFIX) :])
            if _in_library(path, root):
                return thumb
        return None


def _folders(kind: str, video: Path, root: Path) -> list[Path]:
    """Where an item's ``.actors`` folder may be: a film's or episode's own folder, and an
    episode's or show's show folder."""
    if kind == "show":
        return [show_folder(video, root)]
    if kind == "episode":
        return list(dict.fromkeys([video.parent, show_folder(video, root)]))
    return [video.parent]


def _in_library(path: Path, root: Path) -> bool:
    """A picture inside the library (by its path: links into the library are followed as
    the walk follows them), and not itself a link out of its folder."""
    try:
        return (
            path.suffix.lower() in IMAGE_EXTENSIONS
            and path.is_relative_to(root)
            and path.is_file()
            and stays_home(path)
        )
    except (OSError, ValueError):
        return False
