"""What the search box, a person's page and a genre's page show: read-side queries over
``library/search.py`` and ``library/queries.py``, for the API and the UI alike.

Everything goes through the viewer's :class:`Access`: a person is there only with a title
the viewer may see (and counted by those titles), a genre only with such a film or show.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from mediaserver.db import Database
from mediaserver.library import queries, search
from mediaserver.library.access import EVERYTHING, Access

__all__ = ["ROLES", "find", "genre", "genre_titles", "genre_url", "person"]

# The roles of item_people, in the order a person's page lists them, with their headings.
ROLES = {"director": "Directed", "actor": "Acting", "writer": "Writing"}


def find(
    db: Database, text: str, access: Access = EVERYTHING, *, limit: int = 24
) -> dict[str, Any]:
    """The search answer: ``{"items", "total", "people", "genres"}``, each best first."""
    items, total = queries.list_items(db, queries.ItemQuery(q=text, limit=limit), access)
    condition = queries.visible_condition(db, access)("i")
    # Names spelled nearly like the words only when no title was found, even with typos:
    # a title's words are rarely a name, and the look would double the work of a search.
    near = total == 0
    return {
        "items": items,
        "total": total,
        "people": search.matching_people(db, text, condition, near=near),
        "genres": search.matching_genres(db, text, condition),
    }


def person(db: Database, person_id: int, access: Access = EVERYTHING) -> dict[str, Any] | None:
    """A person and the titles they are in that the viewer may see, by role, newest first:
    ``{"id", "name", "roles": [{"role", "heading", "items"}]}``; None when there are none."""
    row = db.query_one("SELECT id, name FROM people WHERE id = ?", [person_id])
    if row is None:
        return None
    visible = queries.visible_condition(db, access)("i")
    found = db.query(
        f"""SELECT ip.role, i.id FROM item_people ip JOIN items i ON i.id = ip.item_id
            WHERE ip.name = ? COLLATE NOCASE {f"AND {visible}" if visible else ""}
            ORDER BY i.year IS NULL, i.year DESC, i.sort_title""",
        [row["name"]],
    )
    if not found:
        return None
    roles = []
    for role, heading in ROLES.items():
        ids = list(dict.fromkeys(int(r[1]) for r in found if r[0] == role))
        if ids:
            items = queries.items_by_id(db, ids, access)
            roles.append({"role": role, "heading": heading, "items": items})
    return {"id": int(row["id"]), "name": row["name"], "roles": roles}


def genre_url(name: str) -> str:
    """The web page of a genre across the libraries."""
    return f"/genres/{quote(name, safe='')}"


def genre(db: Database, name: str, access: Access = EVERYTHING) -> dict[str, Any] | None:
    """``{"name", "title_count"}`` of a genre the viewer has films or shows of, whatever
    case ``name`` is typed in; None otherwise."""
    counts = search.visible_genres(db, queries.visible_condition(db, access)("i"))
    wanted = name.casefold()
    return next(
        ({"name": g, "title_count": n} for g, n in counts.items() if g.casefold() == wanted),
        None,
    )


def genre_titles(
    db: Database,
    name: str,
    access: Access = EVERYTHING,
    *,
    sort: str = "title",
    limit: int = 48,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the films and shows of a genre, across every library the viewer sees."""
    query = queries.ItemQuery(
        kind=("movie", "show"), genre=name, sort=sort, limit=limit, offset=offset
    )
    return queries.list_items(db, query, access)
