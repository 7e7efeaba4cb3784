"""Read-side queries of the catalog: the only SQL the API and the UI depend on.

Functions return plain dicts shaped for JSON, so a controller only validates and renders.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from mediaserver.db import Database

__all__ = [
    "ITEM_KINDS",
    "SORTS",
    "ItemQuery",
    "children",
    "fts_query",
    "genres",
    "get_item",
    "list_items",
    "problems",
    "recently_added",
]

ITEM_KINDS = ("movie", "show", "season", "episode", "collection")
SORTS: dict[str, str] = {
    "title": "i.sort_title, i.year",
    "-title": "i.sort_title DESC",
    "year": "i.year, i.sort_title",
    "-year": "i.year DESC, i.sort_title",
    "added": "i.added_at, i.id",
    "-added": "i.added_at DESC, i.id DESC",
}
# Parent and show come from scalar subqueries, not LEFT JOINs: SQLite runs joins for every
# row an OFFSET skips, but evaluates result columns only for the rows it returns.
_BASE = """
    SELECT i.*,
           (SELECT p.title FROM items p WHERE p.id = i.parent_id) AS parent_title,
           (SELECT g.title FROM items p JOIN items g ON g.id = p.parent_id
            WHERE p.id = i.parent_id) AS show_title,
           (SELECT g.id FROM items p JOIN items g ON g.id = p.parent_id
            WHERE p.id = i.parent_id) AS show_id,
           CASE WHEN i.kind = 'collection'
                THEN (SELECT count(*) FROM collection_items ci WHERE ci.collection_id = i.id)
                ELSE (SELECT count(*) FROM items c WHERE c.parent_id = i.id) END AS child_count
    FROM items i
    JOIN libraries l ON l.id = i.library_id AND l.active = 1
"""


@dataclass(frozen=True, slots=True)
class ItemQuery:
    kind: tuple[str, ...] = ()
    library_id: int | None = None
    parent_id: int | None = None
    q: str | None = None
    genre: str | None = None
    year: int | None = None
    sort: str = "title"
    limit: int = 50
    offset: int = 0


def fts_query(text: str) -> str | None:
    """Search-as-you-type: every word must match, the last one as a prefix."""
    words = re.findall(r"\w+", text)
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words)


def _item(row: sqlite3.Row) -> dict[str, Any]:
    data = dict(row)
    item_id = data["id"]
    out: dict[str, Any] = {
        "id": item_id,
        "kind": data["kind"],
        "title": data["title"],
        "year": data["year"],
        "library_id": data["library_id"],
        "parent_id": data["parent_id"],
        "overview": data["overview"],
        "tagline": data["tagline"],
        "season_number": data["season_number"],
        "episode_number": data["episode_number"],
        "episode_end": data["episode_end"],
        "runtime_s": data["runtime_s"],
        "content_rating": data["content_rating"],
        "rating": data["rating"],
        "premiered": data["premiered"],
        "genres": json.loads(data["genres"]),
        "studios": json.loads(data["studios"]),
        "added_at": data["added_at"],
        "child_count": data.get("child_count", 0),
        "poster_url": f"/api/v1/items/{item_id}/image/poster" if data["poster"] else None,
        "backdrop_url": f"/api/v1/items/{item_id}/image/backdrop" if data["backdrop"] else None,
    }
    if data["kind"] == "episode":
        out["show_id"], out["show_title"] = data.get("show_id"), data.get("show_title")
    if data["kind"] == "season":
        out["show_id"], out["show_title"] = data["parent_id"], data.get("parent_title")
    return out


def list_items(db: Database, query: ItemQuery) -> tuple[list[dict[str, Any]], int]:
    where: list[str] = []
    params: list[Any] = []
    join = ""
    order = SORTS[query.sort]
    if query.q is not None:
        match = fts_query(query.q)
        if match is None:
            return [], 0
        join = "JOIN items_fts ON items_fts.rowid = i.id"
        where.append("items_fts MATCH ?")
        params.append(match)
        order = "items_fts.rank" if query.sort == "title" else order
        if not query.kind:
            where.append("i.kind IN ('movie', 'show', 'episode', 'collection')")
    if query.kind:
        where.append(f"i.kind IN ({','.join('?' * len(query.kind))})")
        params += query.kind
    for column, value in (
        ("library_id", query.library_id),
        ("parent_id", query.parent_id),
        ("year", query.year),
    ):
        if value is not None:
            where.append(f"i.{column} = ?")
            params.append(value)
    if query.genre:
        where.append(
            "EXISTS (SELECT 1 FROM item_genres ig WHERE ig.item_id = i.id AND ig.genre = ?)"
        )
        params.append(query.genre)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    base = _BASE.replace("FROM items i", f"FROM items i {join}")
    total_row = db.query_one(
        f"SELECT count(*) FROM items i {join} JOIN libraries l ON l.id = i.library_id AND l.active = 1 {clause}",
        params,
    )
    rows = db.query(
        f"{base} {clause} ORDER BY {order} LIMIT ? OFFSET ?", [*params, query.limit, query.offset]
    )
    return [_item(r) for r in rows], int(total_row[0]) if total_row else 0


def get_item(db: Database, item_id: int) -> dict[str, Any] | None:
    row = db.query_one(f"{_BASE} WHERE i.id = ?", [item_id])
    if row is None:
        return None
    item = _item(row)
    item["people"] = [
        {"name": r["name"], "role": r["role"]}
        for r in db.query(
            "SELECT name, role FROM item_people WHERE item_id = ? ORDER BY role DESC, ord",
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
        "bit_rate": data["bit_rate"],
        "chapters": json.loads(data["chapters"]),
        "streams": streams,
    }


def children(db: Database, item_id: int, limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    """A show's seasons, a season's episodes, a collection's films (oldest first)."""
    members = db.query_one("SELECT 1 FROM items WHERE id = ? AND kind = 'collection'", [item_id])
    if members:
        rows = db.query(
            f"""{_BASE} JOIN collection_items ci ON ci.item_id = i.id AND ci.collection_id = ?
                ORDER BY i.year, i.sort_title LIMIT ? OFFSET ?""",
            [item_id, limit, offset],
        )
        return [_item(r) for r in rows]
    rows = db.query(
        f"{_BASE} WHERE i.parent_id = ? ORDER BY i.season_number, i.episode_number, i.sort_title LIMIT ? OFFSET ?",
        [item_id, limit, offset],
    )
    return [_item(r) for r in rows]


def recently_added(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """Movies and shows, a show counting as new when one of its episodes is."""
    rows = db.query(
        f"""{_BASE} WHERE i.kind IN ('movie', 'show')
            ORDER BY coalesce((SELECT max(e.added_at) FROM items s JOIN items e ON e.parent_id = s.id
                               WHERE s.parent_id = i.id), i.added_at) DESC, i.id DESC
            LIMIT ?""",
        [limit],
    )
    return [_item(r) for r in rows]


def genres(db: Database, library_id: int | None = None) -> list[str]:
    sql = "SELECT DISTINCT ig.genre FROM item_genres ig JOIN items i ON i.id = ig.item_id"
    params: list[Any] = []
    if library_id is not None:
        sql += " WHERE i.library_id = ?"
        params.append(library_id)
    return [r[0] for r in db.query(sql + " ORDER BY ig.genre", params)]


def problems(db: Database, library_id: int | None = None) -> list[dict[str, Any]]:
    """Files the scan flagged, with the reason, for the UI and the API."""
    scope = "" if library_id is None else "AND library_id = ?"
    params: list[Any] = [] if library_id is None else [library_id, library_id]
    rows = db.query(
        f"""SELECT library_id, path, probe_error AS reason, probed_at AS seen_at FROM files
            WHERE probe_error IS NOT NULL {scope}
            UNION ALL
            SELECT library_id, path, reason, seen_at FROM scan_problems WHERE 1 {scope}
            ORDER BY path""",
        params,
    )
    return [dict(r) for r in rows]


Kind = Literal["movie", "show", "season", "episode", "collection"]
