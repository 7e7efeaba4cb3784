"""What a library's page offers beside its list: the A-Z bar and the filter menus.

Both follow the viewer's limits: a letter, a decade or a rating only hidden titles have is
not offered.  Like the list, the letters are remembered until the catalog changes unless
they depend on the viewer's own state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mediaserver.db import Database
from mediaserver.library import browse, queries
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.browse import ItemQuery

__all__ = ["choices", "first_letters", "jump_to"]


def first_letters(db: Database, query: ItemQuery, access: Access = EVERYTHING) -> dict[str, int]:
    """For the A-Z bar: where each letter's titles start in ``query``'s list in title order
    (``#`` for digits and signs), for the letters it has."""
    return browse.letter_offsets(_first_characters(db, query, access))


def jump_to(db: Database, query: ItemQuery, letter: str, access: Access = EVERYTHING) -> int:
    """The offset of the first title starting with ``letter`` (A-Z or #) in ``query``'s list
    in title order; with none, of the next letter's first title."""
    counts = _first_characters(db, query, access)
    return browse.jump_offset(browse.letter_offsets(counts), letter, sum(n for _, n in counts))


def _first_characters(db: Database, query: ItemQuery, access: Access) -> list[tuple[str, int]]:
    """(first character of the sort title, how many) in title order."""
    visible = queries.visible_condition(db, access)
    where, params = browse.conditions(query, visible)
    where += [c] if (c := visible("i")) else []
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    sql = f"""SELECT substr(i.sort_title, 1, 1) AS c, count(*) FROM items i {clause}
              GROUP BY c ORDER BY c"""

    def compute() -> list[tuple[str, int]]:
        return [(str(r[0]), int(r[1])) for r in db.query(sql, params)]

    return compute() if query.personal else db.memo(("letters", sql, tuple(params)), compute)


def choices(
    db: Database, library_id: int, kinds: Sequence[str], access: Access = EVERYTHING
) -> dict[str, list[Any]]:
    """What a library's filter menus offer: its genres, decades (newest first) and content
    ratings (youngest audience first), of the titles this viewer may see."""
    where = f"i.library_id = ? AND i.kind IN ({','.join('?' * len(kinds))})"
    if (visible := queries.visible_condition(db, access)("i")) is not None:
        where += f" AND {visible}"
    params = [library_id, *kinds]

    def compute() -> dict[str, list[Any]]:
        decades = db.query(
            f"""SELECT DISTINCT (i.year / 10) * 10 AS d FROM items i WHERE {where}
                AND i.year IS NOT NULL ORDER BY d DESC""",
            params,
        )
        ratings = db.query(
            f"""SELECT DISTINCT i.content_rating FROM items i WHERE {where}
                AND coalesce(i.content_rating, '') != ''""",
            params,
        )
        return {
            "genres": queries.genres(db, library_id, access),
            "decades": [int(r[0]) for r in decades],
            "content_ratings": browse.rating_order(str(r[0]) for r in ratings),
        }

    return db.memo(("choices", where, tuple(params)), compute)
