"""The home page's rows for one person: Continue watching and Next up.

Both read the progress table and come back as catalog items with the viewer's limits
applied, newest activity first.  Next up is, for each show with a watched episode, the
first unwatched episode after the one watched most recently (specials only when the
person was watching specials), as Jellyfin and Plex do.
"""

from __future__ import annotations

from typing import Any

from mediaserver.db import Database
from mediaserver.library import queries
from mediaserver.library.access import EVERYTHING, Access

__all__ = ["continue_watching", "next_up"]


def continue_watching(
    db: Database, user_id: int, access: Access = EVERYTHING, limit: int = 24
) -> list[dict[str, Any]]:
    """Started and not finished, most recently played first.

    A resume point is only kept past the start and is cleared when an item is finished or
    marked watched, so a watched item is here only while it is being watched again (its
    ``user_data`` says ``rewatching``).  The home page, ``/api/v1/home`` and the DLNA
    folder all read this one list.
    """
    rows = db.query(
        """SELECT p.item_id FROM progress p JOIN items i ON i.id = p.item_id
           WHERE p.user_id = ? AND p.position_s > 0 AND i.kind IN ('movie', 'episode')
           ORDER BY p.last_played_at DESC LIMIT ?""",
        [user_id, limit * 2],  # room for the ones the viewer's limits hide
    )
    return queries.items_by_id(db, [int(r[0]) for r in rows], access)[:limit]


def next_up(
    db: Database, user_id: int, access: Access = EVERYTHING, limit: int = 24
) -> list[dict[str, Any]]:
    """The next episode of each show in progress, most recently watched show first."""
    latest = db.query(
        """SELECT se.parent_id AS show_id, e.season_number, e.episode_number,
                  max(p.last_played_at) AS at
           FROM progress p JOIN items e ON e.id = p.item_id AND e.kind = 'episode'
           JOIN items se ON se.id = e.parent_id
           WHERE p.user_id = ? AND p.watched = 1 AND p.last_played_at IS NOT NULL
           GROUP BY se.parent_id ORDER BY at DESC LIMIT ?""",
        [user_id, limit * 2],
    )  # SQLite fills the bare columns from the row that has the max()
    started = {
        int(r[0])
        for r in db.query(
            "SELECT item_id FROM progress WHERE user_id = ? AND position_s > 0", [user_id]
        )
    }
    picks: list[int] = []
    for show in latest:
        episode = db.query_one(
            """SELECT e.id FROM items e JOIN items se ON se.id = e.parent_id
               LEFT JOIN progress p ON p.item_id = e.id AND p.user_id = ?
               WHERE se.parent_id = ? AND e.kind = 'episode' AND COALESCE(p.watched, 0) = 0
                 AND (e.season_number > ? OR (e.season_number = ? AND e.episode_number > ?))
                 AND (e.season_number > 0 OR ? = 0)
               ORDER BY e.season_number, e.episode_number LIMIT 1""",
            [
                user_id,
                show["show_id"],
                show["season_number"] or 0,
                show["season_number"] or 0,
                show["episode_number"] or 0,
                show["season_number"] or 0,
            ],
        )
        if episode is not None and int(episode[0]) not in started:  # that one is in Continue
            picks.append(int(episode[0]))
    return queries.items_by_id(db, picks, access)[:limit]
