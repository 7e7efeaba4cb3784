"""Each person's favourites: a flag per (person, item) with the time it last changed.

Taking a favourite back keeps its row, as ``favourite = 0`` with the time: per-person
state is a last-writer-wins register, so a peer merging this catalog can tell a flag
taken back from one never set (``docs/architecture.md``, "Browsing a library").  Writes go
through the catalog's writer as durable writes, like progress: they change nothing the
catalog's memo remembers, so they leave it standing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from mediaserver.db import Database, stamp
from mediaserver.library import queries
from mediaserver.library.access import EVERYTHING, Access

__all__ = ["Favourite", "favourite_ids", "favourite_items", "set_favourite"]


@dataclass(frozen=True, slots=True)
class Favourite:
    item_id: int
    favourite: bool
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "favourite": self.favourite, "updated_at": self.updated_at}


def set_favourite(db: Database, user_id: int, item_id: int, favourite: bool) -> Favourite:
    """Mark or unmark ``item_id`` as one of ``user_id``'s favourites; KeyError for no item.

    Setting what is already set keeps the time it was set: pressing the button twice is
    not a newer change for a peer to take.
    """
    if db.query_one("SELECT 1 FROM items WHERE id = ?", [item_id]) is None:
        raise KeyError(item_id)
    now = stamp()

    def write(d: sqlite_utils.Database) -> Favourite:
        d.execute(
            """INSERT INTO favourites (user_id, item_id, favourite, updated_at) VALUES (?, ?, ?, ?)
               ON CONFLICT (user_id, item_id) DO UPDATE SET favourite = excluded.favourite,
                   updated_at = excluded.updated_at
               WHERE favourites.favourite != excluded.favourite""",
            [user_id, item_id, int(favourite), now],
        )
        row = d.execute(
            "SELECT favourite, updated_at FROM favourites WHERE user_id = ? AND item_id = ?",
            [user_id, item_id],
        ).fetchone()
        return Favourite(item_id, bool(row[0]), str(row[1]))

    return db.write(write, catalog=False, durable=True)


def favourite_ids(db: Database, user_id: int, item_ids: Sequence[int]) -> set[int]:
    """Which of ``item_ids`` are ``user_id``'s favourites (one query for the lot)."""
    if not item_ids:
        return set()
    rows = db.query(
        f"""SELECT item_id FROM favourites WHERE user_id = ? AND favourite
            AND item_id IN ({",".join("?" * len(item_ids))})""",
        [user_id, *item_ids],
    )
    return {int(r[0]) for r in rows}


def favourite_items(
    db: Database, user_id: int, access: Access = EVERYTHING, limit: int = 24
) -> list[dict[str, Any]]:
    """``user_id``'s favourites that they may still see, the latest marked first."""
    rows = db.query(
        """SELECT item_id FROM favourites WHERE user_id = ? AND favourite
           ORDER BY updated_at DESC, item_id DESC LIMIT ?""",
        [user_id, limit * 2],  # room for the ones the viewer's limits hide
    )
    return queries.items_by_id(db, [int(r[0]) for r in rows], access)[:limit]
