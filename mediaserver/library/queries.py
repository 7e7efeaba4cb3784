"""Read-side queries of the catalog: the only SQL the API and the UI depend on.

Functions return plain dicts shaped for JSON, so a controller only validates and renders.
"""

from __future__ import annotations

import re
import sqlite3
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from mediaserver.db import Database
from mediaserver.library import browse, search
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.browse import SORTS, ItemQuery
from mediaserver.library.damage import damage_note

__all__ = [
    "ITEM_KINDS",
    "SORTS",
    "ItemQuery",
    "Poster",
    "cast_photo",
    "children",
    "genres",
    "get_item",
    "is_visible",
    "items_by_id",
    "list_items",
    "photo_url",
    "poster_of",
    "problems",
    "recently_added",
    "titles_containing",
    "visible_condition",
]

ITEM_KINDS = ("movie", "show", "season", "episode", "collection")
# Parent and show come from scalar subqueries, not LEFT JOINs: SQLite runs joins for every
# row an OFFSET skips, but evaluates result columns only for the rows it returns.
_COLUMNS = [
    "id",
    "kind",
    "title",
    "year",
    "library_id",
    "parent_id",
    "overview",
    "tagline",
    "season_number",
    "episode_number",
    "episode_end",
    "runtime_s",
    "content_rating",
    "rating",
    "premiered",
    "genres",
    "studios",
    "added_at",
    "backdrop",
]
_NAMES = (*_COLUMNS, "child_count", "art_id", "parent_title", "show_id", "show_title")


def _base(visible: Callable[[str], str | None]) -> str:
    """The item rows' SELECT, counting and picturing only what ``visible(alias)`` allows.

    A container's count is of the children this viewer may see, and one without art of its
    own shows the first picture among them (``art_id``: whose poster to show): a hidden
    film's poster never stands for its collection.
    """
    shown = visible("c")
    films = "JOIN items c ON c.id = ci.item_id" if shown else ""  # the index alone, else
    return f"""
    SELECT {", ".join("i." + c for c in _COLUMNS)},
           CASE WHEN i.kind = 'collection'
                THEN (SELECT count(*) FROM collection_items ci {films}
                      WHERE ci.collection_id = i.id {_and(shown)})
                ELSE (SELECT count(*) FROM items c WHERE c.parent_id = i.id {_and(shown)}) END,
           {_art("i", visible)},
           (SELECT p.title FROM items p WHERE p.id = i.parent_id),
           CASE WHEN i.kind = 'episode'
                THEN (SELECT p.parent_id FROM items p WHERE p.id = i.parent_id) END,
           CASE WHEN i.kind = 'episode'
                THEN (SELECT g.title FROM items p JOIN items g ON g.id = p.parent_id
                      WHERE p.id = i.parent_id) END
    FROM items i
"""


def _art(alias: str, visible: Callable[[str], str | None]) -> str:
    """The id of the item whose poster ``alias`` shows: its own, else for a collection its
    oldest visible film's, for a season its first visible episode's, for a show its first
    visible season's (own or borrowed); NULL for none."""
    a = alias

    def first_episode(season: str) -> str:
        return f"""(SELECT e.id FROM items e WHERE e.parent_id = {season}.id
                    AND e.poster IS NOT NULL {_and(visible("e"))}
                    ORDER BY e.season_number, e.episode_number LIMIT 1)"""

    return f"""CASE WHEN {a}.poster IS NOT NULL THEN {a}.id
        WHEN {a}.kind = 'collection' THEN (
            SELECT m.id FROM collection_items cm JOIN items m ON m.id = cm.item_id
            WHERE cm.collection_id = {a}.id AND m.poster IS NOT NULL {_and(visible("m"))}
            ORDER BY m.year, m.sort_title LIMIT 1)
        WHEN {a}.kind = 'season' THEN {first_episode(a)}
        WHEN {a}.kind = 'show' THEN (
            SELECT coalesce(CASE WHEN s.poster IS NOT NULL THEN s.id END, {first_episode("s")})
            FROM items s WHERE s.parent_id = {a}.id {_and(visible("s"))}
            AND (s.poster IS NOT NULL OR {first_episode("s")} IS NOT NULL)
            ORDER BY s.season_number LIMIT 1) END"""


@dataclass(frozen=True, slots=True)
class Poster:
    reference: str  # as stored: see library/images.resolve_image
    borrowed: bool  # a film's or an episode's, standing for its container


_decode_list = msgspec.json.Decoder(list[str]).decode


def _item(row: Sequence[Any]) -> dict[str, Any]:
    """A row of ``_base`` as the API shows an item (hot: every list and search row)."""
    out = dict(zip(_NAMES, row, strict=True))
    item_id, kind = out["id"], out["kind"]
    out["genres"] = _decode_list(out["genres"])
    out["studios"] = _decode_list(out["studios"])
    art = out.pop("art_id")
    out["poster_url"] = f"/api/v1/items/{art}/image/poster" if art is not None else None
    out["backdrop_url"] = f"/api/v1/items/{item_id}/image/backdrop" if out.pop("backdrop") else None
    parent_title = out.pop("parent_title")
    if kind == "season":
        out["show_id"], out["show_title"] = out["parent_id"], parent_title
    elif kind != "episode":
        del out["show_id"], out["show_title"]
    return out


def list_items(
    db: Database, query: ItemQuery, access: Access = EVERYTHING
) -> tuple[list[dict[str, Any]], int]:
    """One page of items for a filter (and a search, best matches first unless sorted
    otherwise), plus how many match in all."""
    visible = visible_condition(db, access)
    where, params = browse.conditions(query, visible)
    where += [c] if (c := visible("i")) else []
    ids: Sequence[int]
    if query.q is not None:
        ids = search.title_ids(db, query.q, where, params)
        if query.sort != "title":
            ids = _sorted(db, ids, query, visible)
    else:
        order, order_params = browse.order(query, visible)
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        sql = f"SELECT i.id FROM items i {clause} ORDER BY {order}"
        ids = _ordered_ids(db, sql, params + order_params, remember=not query.personal)
    return _rows_by_id(db, ids[query.offset : query.offset + query.limit], access), len(ids)


def _sorted(
    db: Database, ids: Sequence[int], query: ItemQuery, visible: browse.Visible
) -> array[int]:
    """Found ids in another order than the best match first."""
    order, order_params = browse.order(query, visible)
    sql = (
        f"SELECT i.id FROM items i WHERE i.id IN (SELECT value FROM json_each(?)) ORDER BY {order}"
    )
    params = [msgspec.json.encode(list(ids)).decode(), *order_params]
    return _ordered_ids(db, sql, params, remember=not query.personal)


def _ordered_ids(db: Database, sql: str, params: list[Any], *, remember: bool) -> array[int]:
    """Every matching id in order, remembered until the catalog changes (``remember``).

    Paging then costs a slice and one lookup of the page's rows, wherever the page is: an
    ``OFFSET`` would step through every row before it on each request.  A personal list
    (watched, favourites) is not remembered: the viewer's state changes without a write
    to the catalog.
    """

    def compute() -> array[int]:
        return array("q", (r[0] for r in db.query(sql, params)))

    return db.memo(("ids", sql, tuple(params)), compute) if remember else compute()


def _rows_by_id(db: Database, ids: Sequence[int], access: Access) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = db.query(f"{_select(db, access)} WHERE i.id IN ({','.join('?' * len(ids))})", list(ids))
    by_id = {int(r["id"]): r for r in rows}
    return [_item(by_id[i]) for i in ids if i in by_id]


def items_by_id(
    db: Database, ids: Sequence[int], access: Access = EVERYTHING
) -> list[dict[str, Any]]:
    """Items in the order of ``ids``, leaving out any this viewer may not see."""
    visible = [i for i in ids if not access.restricted or is_visible(db, i, access)]
    return _rows_by_id(db, visible, access)


def _visible(db: Database, access: Access, alias: str = "i") -> str | None:
    """The SQL condition on ``alias`` hiding what this viewer may not see and items of
    libraries no longer configured (None: everything shown)."""

    def active() -> str | None:
        rows = db.query("SELECT id, active FROM libraries")
        if all(r["active"] for r in rows):
            return None
        return ",".join(str(int(r["id"])) for r in rows if r["active"]) or "NULL"

    ids = db.memo("active-libraries", active)
    configured = f"{alias}.library_id IN ({ids})" if ids is not None else None
    parts = [c for c in (configured, access.condition(alias)) if c]
    return " AND ".join(parts) if parts else None


def visible_condition(db: Database, access: Access) -> Callable[[str], str | None]:
    """The viewer's SQL condition on an alias of ``items`` (``visible("e")``), for queries
    built elsewhere (library/facets.py, library/browse.py); None where nothing is hidden."""
    return lambda alias: _visible(db, access, alias)


def _select(db: Database, access: Access) -> str:
    """The item rows' SELECT for this viewer (counts and pictures of what they may see)."""
    return _base(lambda alias: _visible(db, access, alias))


def _and(condition: str | None) -> str:
    return f"AND {condition}" if condition else ""


def is_visible(db: Database, item_id: int, access: Access = EVERYTHING) -> bool:
    """Whether this viewer may see the item (a set of ids per viewer, until the next write)."""
    condition = _visible(db, access)
    if condition is None:
        return db.query_one("SELECT 1 FROM items WHERE id = ?", [item_id]) is not None
    ids = db.memo(
        ("visible-ids", condition),
        lambda: frozenset(r[0] for r in db.query(f"SELECT i.id FROM items i WHERE {condition}")),
    )
    return item_id in ids


def get_item(db: Database, item_id: int, access: Access = EVERYTHING) -> dict[str, Any] | None:
    visible = _visible(db, access)
    row = db.query_one(f"{_select(db, access)} WHERE i.id = ? {_and(visible)}", [item_id])
    if row is None:
        return None
    item = _item(row)
    item["people"] = [
        {
            "id": r["id"],
            "name": r["name"],
            "role": r["role"],
            "character": r["character"],
            "photo_url": photo_url(item_id, r["ord"]) if r["photo"] else None,
        }
        for r in db.query(
            """SELECT p.id, ip.name, ip.role, ip.ord, ip.character, ip.photo FROM item_people ip
               LEFT JOIN people p ON p.name = ip.name COLLATE NOCASE
               WHERE ip.item_id = ? ORDER BY ip.role DESC, ip.ord""",
            [item_id],
        )
    ]
    item["collections"] = [
        {"id": r["id"], "title": r["title"]}
        for r in db.query(
            """SELECT c.id, c.title FROM collection_items ci JOIN items c ON c.id = ci.collection_id
               WHERE ci.item_id = ? ORDER BY c.sort_title""",
            [item_id],
        )
    ]
    item["files"] = [
        _file(db, f)
        for f in db.query("SELECT * FROM files WHERE item_id = ? ORDER BY id", [item_id])
    ]
    return item


def poster_of(db: Database, item_id: int, access: Access = EVERYTHING) -> Poster | None:
    """The poster this viewer sees for an item (None: none), as in its ``poster_url``."""
    art = _art("i", lambda alias: _visible(db, access, alias))
    row = db.query_one(
        f"SELECT p.poster, p.id FROM items i JOIN items p ON p.id = ({art}) WHERE i.id = ?",
        [item_id],
    )
    return Poster(row[0], borrowed=int(row[1]) != item_id) if row else None


def photo_url(item_id: int, ord_: int) -> str:
    """Where an actor's photo is served (``ord_``: their place in the cast)."""
    return f"/api/v1/items/{item_id}/cast/{ord_}/photo"


def cast_photo(db: Database, item_id: int, ord_: int) -> str | None:
    """The image reference of an actor's photo, if one was found."""
    row = db.query_one(
        "SELECT photo FROM item_people WHERE item_id = ? AND role = 'actor' AND ord = ?",
        [item_id, ord_],
    )
    return row[0] if row else None


def _file(db: Database, row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    streams = [
        {k: v for k, v in dict(s).items() if k != "file_id"}
        for s in db.query("SELECT * FROM streams WHERE file_id = ? ORDER BY idx", [data["id"]])
    ]
    for s in streams:
        s["is_default"], s["is_forced"] = bool(s["is_default"]), bool(s["is_forced"])
        s["external"] = s.pop("external_path") is not None
    return {
        "id": data["id"],
        "path": data["path"],
        "size": data["size"],
        "container": data["container"],
        "duration_s": data["duration_s"],
        "start_offset_s": data["start_offset_s"] or 0.0,
        "readable_s": data["readable_s"],
        # A file cut short plays only so far: "only 0:00:01 of 0:00:12 can be read".
        "damage": _damage(data),
        "bit_rate": data["bit_rate"],
        "chapters": msgspec.json.decode(data["chapters"]),
        "streams": streams,
    }


def children(
    db: Database, item_id: int, limit: int = 500, offset: int = 0, access: Access = EVERYTHING
) -> list[dict[str, Any]]:
    """A show's seasons, a season's episodes, a collection's films (oldest first)."""
    visible = _visible(db, access)
    members = db.query_one("SELECT 1 FROM items WHERE id = ? AND kind = 'collection'", [item_id])
    if members:
        rows = db.query(
            f"""{_select(db, access)} JOIN collection_items ci ON ci.item_id = i.id AND ci.collection_id = ?
                WHERE 1 {_and(visible)} ORDER BY i.year, i.sort_title LIMIT ? OFFSET ?""",
            [item_id, limit, offset],
        )
        return [_item(r) for r in rows]
    rows = db.query(
        f"""{_select(db, access)} WHERE i.parent_id = ? {_and(visible)}
            ORDER BY i.season_number, i.episode_number, i.sort_title LIMIT ? OFFSET ?""",
        [item_id, limit, offset],
    )
    return [_item(r) for r in rows]


def recently_added(
    db: Database, limit: int = 20, access: Access = EVERYTHING, library_id: int | None = None
) -> list[dict[str, Any]]:
    """Movies and shows, newest first; a show counts as new when one of its episodes is."""
    in_library = "AND i.library_id = ?" if library_id is not None else ""
    rows = db.query(
        f"""{_select(db, access)} WHERE i.last_added_at IS NOT NULL AND i.kind IN ('movie', 'show')
            {in_library} {_and(_visible(db, access))}
            ORDER BY i.last_added_at DESC, i.id DESC LIMIT ?""",
        [*([library_id] if library_id is not None else []), limit],
    )
    return [_item(r) for r in rows]


def titles_containing(
    db: Database,
    text: str,
    kinds: Sequence[str],
    access: Access = EVERYTHING,
    limit: int = 1000,
    *,
    sort: str = "title",
) -> list[dict[str, Any]]:
    """Items of ``kinds`` whose title contains ``text`` anywhere (not only at a word's start,
    as the search box's index matches), case-insensitively for ASCII, in ``sort`` order."""
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
    rows = db.query(
        f"""{_select(db, access)} WHERE i.kind IN ({",".join("?" * len(kinds))})
            AND i.title LIKE ? ESCAPE '\\' {_and(_visible(db, access))}
            ORDER BY {SORTS[sort]} LIMIT ?""",
        [*kinds, pattern, limit],
    )
    return [_item(r) for r in rows]


def genres(db: Database, library_id: int | None = None, access: Access = EVERYTHING) -> list[str]:
    """Genres of the items this viewer may see (a genre of hidden films only is not named)."""
    sql = "SELECT DISTINCT ig.genre FROM item_genres ig JOIN items i ON i.id = ig.item_id WHERE 1"
    params: list[Any] = []
    if library_id is not None:
        sql += " AND i.library_id = ?"
        params.append(library_id)
    sql += f" {_and(_visible(db, access))} ORDER BY ig.genre"
    return [r[0] for r in db.query(sql, params)]


def _damage(row: Any) -> str | None:
    if row["readable_s"] is None:
        return None
    return damage_note(float(row["readable_s"]), row["duration_s"])


def problems(db: Database, library_id: int | None = None) -> list[dict[str, Any]]:
    """Files the scan flagged, with the reason, for the UI and the API: those it could not
    add, and damaged files it added with a warning."""
    scope = "" if library_id is None else "AND library_id = ?"
    params: list[Any] = [] if library_id is None else [library_id, library_id, library_id]
    rows = db.query(
        f"""SELECT library_id, path, probe_error AS reason, probed_at AS seen_at,
                   NULL AS readable_s, NULL AS duration_s FROM files
            WHERE probe_error IS NOT NULL {scope}
            UNION ALL
            SELECT library_id, path, NULL, probed_at, readable_s, duration_s FROM files
            WHERE probe_error IS NULL AND readable_s IS NOT NULL {scope}
            UNION ALL
            SELECT library_id, path, reason, seen_at, NULL, NULL FROM scan_problems
            WHERE 1 {scope}
            ORDER BY path""",
        params,
    )
    return [
        {
            "library_id": r["library_id"],
            "path": r["path"],
            "reason": r["reason"] or f"damaged: {_damage(r)}",
            "seen_at": r["seen_at"],
        }
        for r in rows
    ]


Kind = Literal["movie", "show", "season", "episode", "collection"]
