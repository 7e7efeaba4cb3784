"""Writing scan results into the catalog.  Every function runs inside one write transaction.

Items are matched by a stable key (``movie:<title>:<year>``, ``show:<title>``, ...) so that
a rescan updates rows in place; a file keeps its row (and so its item and user data) when
it moves, because the scanner re-points the row rather than deleting it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlite_utils

from mediaserver.db import stamp
from mediaserver.library.images import FILE_PREFIX
from mediaserver.library.nfo import Actor
from mediaserver.library.probe import PROBE_VERSION, ProbeResult
from mediaserver.library.ratings import rating_age
from mediaserver.library.sidecars import SidecarSubtitle
from mediaserver.library.walk import FoundFile

__all__ = [
    "ItemMeta",
    "MediaRecord",
    "ensure_library",
    "move_file",
    "refresh_rating_ages",
    "remove_files",
    "save_media",
    "sort_title",
]

_ARTICLES = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)
_STREAM_COLUMNS = [
    "codec",
    "profile",
    "level",
    "width",
    "height",
    "bit_depth",
    "pix_fmt",
    "frame_rate",
    "channels",
    "channel_layout",
    "sample_rate",
    "bit_rate",
    "language",
    "title",
    "is_default",
    "is_forced",
    "field_order",
    "color_transfer",
]


@dataclass(slots=True)
class ItemMeta:
    title: str
    year: int | None = None
    original_title: str | None = None
    sort_title: str | None = None
    overview: str | None = None
    tagline: str | None = None
    runtime_s: float | None = None
    content_rating: str | None = None
    rating: float | None = None
    premiered: str | None = None
    genres: Sequence[str] = ()
    studios: Sequence[str] = ()
    actors: Sequence[Actor] = ()
    directors: Sequence[str] = ()
    poster: str | None = None
    backdrop: str | None = None
    collection: str | None = None


@dataclass(slots=True)
class MediaRecord:
    found: FoundFile
    fingerprint: str
    probe: ProbeResult
    signature: int
    kind: Literal["movie", "episode"]
    meta: ItemMeta  # the movie, or the episode
    show: ItemMeta | None = None
    season_number: int | None = None
    episodes: tuple[int, ...] = ()
    season_poster: str | None = None
    subtitles: list[SidecarSubtitle] = field(default_factory=list)


def sort_title(title: str) -> str:
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode() or title
    return _ARTICLES.sub("", folded).casefold().strip()


def _key(*parts: object) -> str:
    return ":".join(sort_title(str(p)) if isinstance(p, str) else str(p) for p in parts)


def ensure_library(
    db: sqlite_utils.Database, name: str, path: Path, *, source: str = "config"
) -> int:
    """The library whose folder ``path`` is (made if none is), active, named ``name`` and
    marked as set by ``source`` (``config`` or ``demo``): the config file wins over a
    library that the web UI made on the same folder."""
    row = (
        db.execute("SELECT library_id FROM library_folders WHERE path = ?", [str(path)]).fetchone()
        or db.execute("SELECT id FROM libraries WHERE path = ?", [str(path)]).fetchone()
    )
    if row:
        db.execute(
            "UPDATE libraries SET active = 1, name = ?, source = ? WHERE id = ?",
            [name, source, row[0]],
        )
        library_id = int(row[0])
    else:
        library_id = _insert(db, "libraries", {"name": name, "path": str(path), "source": source})
    db.execute(
        "INSERT OR IGNORE INTO library_folders (library_id, position, path) VALUES (?, "
        "(SELECT count(*) FROM library_folders WHERE library_id = ?), ?)",
        [library_id, library_id, str(path)],
    )
    return library_id


def _upsert_item(
    db: sqlite_utils.Database,
    library_id: int,
    kind: str,
    key: str,
    meta: ItemMeta,
    *,
    parent_id: int | None = None,
    numbers: tuple[int | None, int | None, int | None] = (None, None, None),
    keep_id: int | None = None,
) -> tuple[int, bool]:
    values: dict[str, Any] = {
        "library_id": library_id,
        "parent_id": parent_id,
        "kind": kind,
        "match_key": key,
        "title": meta.title,
        "sort_title": meta.sort_title or sort_title(meta.title),
        "original_title": meta.original_title,
        "year": meta.year,
        "overview": meta.overview,
        "tagline": meta.tagline,
        "season_number": numbers[0],
        "episode_number": numbers[1],
        "episode_end": numbers[2],
        "runtime_s": meta.runtime_s,
        "content_rating": meta.content_rating,
        "rating_age": rating_age(meta.content_rating),
        "rating": meta.rating,
        "premiered": meta.premiered,
        "genres": json.dumps(list(meta.genres)),
        "studios": json.dumps(list(meta.studios)),
        "people": " ".join([*meta.directors, *(a.name for a in meta.actors)]),
    }
    for image in ("poster", "backdrop"):
        if getattr(meta, image):
            values[image] = getattr(meta, image)
    row = db.execute(
        "SELECT id FROM items WHERE library_id = ? AND match_key = ?", [library_id, key]
    ).fetchone()
    if keep_id is not None and (row is None or int(row[0]) == keep_id):
        row = (keep_id,)  # a moved file renames its item in place, keeping its id
    if row:
        item_id, created = int(row[0]), False
        sets = ", ".join(f"{k} = :{k}" for k in values)
        db.execute(
            f"UPDATE items SET {sets}, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = :id",
            {**values, "id": item_id},
        )
    else:
        if kind in ("movie", "show", "collection"):
            values["last_added_at"] = stamp()
        item_id, created = _insert(db, "items", values), True
    _replace_links(db, item_id, meta)
    return item_id, created


def refresh_rating_ages(db: sqlite_utils.Database) -> None:
    """Give seasons and episodes without a rating of their own their show's, and a
    collection its youngest rated film's (it shows when one of its films may).

    Run after every scan, in the same writer as its last write: until then a new episode
    is unrated, which hides it from a restricted viewer rather than showing it.
    """
    db.conn.create_function("rating_age", 1, rating_age, deterministic=True)
    db.execute(
        """UPDATE items SET rating_age = rating_age(content_rating)
           WHERE (kind IN ('movie', 'show') OR content_rating IS NOT NULL)
             AND kind != 'collection' AND rating_age IS NOT rating_age(content_rating)"""
    )
    inherit = """(SELECT p.rating_age FROM items p WHERE p.id = items.parent_id)"""
    for kind in ("season", "episode"):  # a season from its show, then an episode from it
        db.execute(
            f"""UPDATE items SET rating_age = {inherit}
                WHERE kind = ? AND content_rating IS NULL AND rating_age IS NOT {inherit}""",
            [kind],
        )
    youngest = """(SELECT min(m.rating_age) FROM collection_items ci
                   JOIN items m ON m.id = ci.item_id WHERE ci.collection_id = items.id)"""
    db.execute(
        f"UPDATE items SET rating_age = {youngest} "
        f"WHERE kind = 'collection' AND rating_age IS NOT {youngest}"
    )


def _replace_links(db: sqlite_utils.Database, item_id: int, meta: ItemMeta) -> None:
    db.execute("DELETE FROM item_genres WHERE item_id = ?", [item_id])
    # An actor keeps the photo found for them until the cast photo pass looks again
    # (cast_photos.py): a rescan of the film does not blank the cast row in between.
    photos = dict(
        db.execute(
            "SELECT name, photo FROM item_people WHERE item_id = ? AND photo IS NOT NULL",
            [item_id],
        ).fetchall()
    )
    db.execute("DELETE FROM item_people WHERE item_id = ?", [item_id])
    genres = {g.strip(): None for g in meta.genres if g.strip()}
    db.conn.executemany(
        "INSERT OR IGNORE INTO item_genres (item_id, genre) VALUES (?, ?)",
        [(item_id, g) for g in genres],
    )
    people: list[tuple[int, int, str, str, str | None, str | None, str | None]] = [
        (item_id, i, n, "director", None, None, None) for i, n in enumerate(meta.directors)
    ]
    people += [
        (item_id, i, a.name, "actor", a.character, _thumb(a), photos.get(a.name))
        for i, a in enumerate(meta.actors)
    ]
    db.conn.executemany(
        """INSERT INTO item_people (item_id, ord, name, role, character, thumb, photo)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        people,
    )


def _thumb(actor: Actor) -> str | None:
    """The photo an NFO names: a picture on disk wins over a URL (no fetch needed)."""
    if actor.photo_path is not None:
        return FILE_PREFIX + str(actor.photo_path)
    return actor.photo_url


def save_media(
    db: sqlite_utils.Database, library_id: int, record: MediaRecord, *, keep_item: int | None = None
) -> list[int]:
    """Create or update the item(s) for one video file and the file row; new item ids.

    ``keep_item`` is the item a moved file had: a movie keeps it even when renamed.
    """
    created: list[int] = []
    if record.probe.error:  # flagged, not catalogued: it gets no item until it plays
        _save_file(db, library_id, None, record)
        return created
    if record.kind == "movie":
        key = _key("movie", record.meta.title, record.meta.year or "")
        item_id, new = _upsert_item(db, library_id, "movie", key, record.meta, keep_id=keep_item)
        created += [item_id] if new else []
        created += _link_collection(db, library_id, item_id, record.meta.collection)
    else:
        assert record.show is not None
        show_key = _key("show", record.show.title)
        show_id, new = _upsert_item(db, library_id, "show", show_key, record.show)
        created += [show_id] if new else []
        season = record.season_number if record.season_number is not None else 1
        season_meta = ItemMeta(
            title="Specials" if season == 0 else f"Season {season}",
            sort_title=f"{season:04d}",
            poster=record.season_poster,
        )
        season_id, new = _upsert_item(
            db,
            library_id,
            "season",
            _key("season", show_id, season),
            season_meta,
            parent_id=show_id,
            numbers=(season, None, None),
        )
        created += [season_id] if new else []
        first = record.episodes[0] if record.episodes else 0
        last = record.episodes[-1] if len(record.episodes) > 1 else None
        item_id, new = _upsert_item(
            db,
            library_id,
            "episode",
            _key("episode", show_id, season, first),
            record.meta,
            parent_id=season_id,
            numbers=(season, first, last),
        )
        created += [item_id] if new else []
        if new:  # the show counts as recently added again
            db.execute("UPDATE items SET last_added_at = ? WHERE id = ?", [stamp(), show_id])
    _save_file(db, library_id, item_id, record)
    return created


def _link_collection(
    db: sqlite_utils.Database, library_id: int, item_id: int, name: str | None
) -> list[int]:
    """Put a movie in its NFO's collection (Kodi "set"), and in no other; new collection ids."""
    db.execute("DELETE FROM collection_items WHERE item_id = ?", [item_id])
    if not name:
        return []
    collection_id, new = _upsert_item(
        db, library_id, "collection", _key("collection", name), ItemMeta(title=name)
    )
    db.execute(
        "INSERT INTO collection_items (collection_id, item_id) VALUES (?, ?)",
        [collection_id, item_id],
    )
    return [collection_id] if new else []


def _save_file(
    db: sqlite_utils.Database, library_id: int, item_id: int | None, rec: MediaRecord
) -> None:
    probe = rec.probe
    values = {
        "library_id": library_id,
        "item_id": item_id,
        "path": str(rec.found.path),
        "size": rec.found.size,
        "mtime_ns": rec.found.mtime_ns,
        "fingerprint": rec.fingerprint,
        "sidecar_signature": rec.signature,
        "container": probe.container,
        "duration_s": probe.duration_s,
        "start_offset_s": probe.start_offset_s,
        "readable_s": probe.readable_s,
        "bit_rate": probe.bit_rate,
        "chapters": json.dumps(probe.chapters),
        "probe_error": probe.error,
        "probe_version": PROBE_VERSION,
        "keyframes": None,  # new content: the old index no longer applies
    }
    row = db.execute("SELECT id FROM files WHERE path = ?", [values["path"]]).fetchone()
    if row:
        file_id = int(row[0])
        sets = ", ".join(f"{k} = :{k}" for k in values)
        db.execute(
            f"UPDATE files SET {sets}, probed_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = :id",
            {**values, "id": file_id},
        )
    else:
        file_id = _insert(db, "files", values)
        db.execute("UPDATE files SET probed_at = added_at WHERE id = ?", [file_id])
    db.execute("DELETE FROM streams WHERE file_id = ?", [file_id])
    rows = [
        {"file_id": file_id, "idx": s["idx"], "type": s["type"]}
        | {c: s.get(c) for c in _STREAM_COLUMNS}
        for s in probe.streams
    ]
    for n, sub in enumerate(rec.subtitles):
        rows.append(
            {
                "file_id": file_id,
                "idx": 1000 + n,
                "type": "subtitle",
                "codec": sub.codec,
                "language": sub.language,
                "title": sub.title,
                "is_forced": sub.forced,
                "is_default": False,
                "external_path": str(sub.path),
            }
        )
    if rows:
        db.table("streams").insert_all(rows, alter=False)


def _insert(db: sqlite_utils.Database, table: str, values: dict[str, Any]) -> int:
    return int(
        db.execute(
            f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        ).lastrowid
        or 0
    )


def move_file(db: sqlite_utils.Database, file_id: int, found: FoundFile) -> None:
    db.execute(
        "UPDATE files SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
        [str(found.path), found.size, found.mtime_ns, file_id],
    )


def remove_files(db: sqlite_utils.Database, file_ids: Iterable[int]) -> list[int]:
    """Delete file rows, then every item left with no file and no children; removed ids."""
    ids = list(file_ids)
    db.conn.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in ids])
    removed: list[int] = []
    for kind in ("movie", "episode", "season", "show"):
        orphans = [
            int(r[0])
            for r in db.execute(
                f"""SELECT id FROM items i WHERE kind = '{kind}'
                    AND NOT EXISTS (SELECT 1 FROM files f WHERE f.item_id = i.id)
                    AND NOT EXISTS (SELECT 1 FROM items c WHERE c.parent_id = i.id)"""
            ).fetchall()
        ]
        db.conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in orphans])
        removed += orphans
    empty = [
        int(r[0])
        for r in db.execute(
            """SELECT id FROM items i WHERE kind = 'collection'
               AND NOT EXISTS (SELECT 1 FROM collection_items c WHERE c.collection_id = i.id)"""
        ).fetchall()
    ]
    db.conn.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in empty])
    return removed + empty
