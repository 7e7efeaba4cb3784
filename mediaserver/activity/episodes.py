"""A show's episodes in watching order, for one person: what Play plays, and what comes next.

A show's or season's Play button plays the episode in progress (Resume), else the first
unwatched episode after the one watched last (Next up), else the first episode (Play): as
Jellyfin and Plex do.  Specials (season 0) are left out of the order unless the person is
in season 0 already.  The player's previous and next episode come from the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mediaserver.db import Database
from mediaserver.library import queries
from mediaserver.library.access import EVERYTHING, Access

__all__ = ["Pick", "neighbours", "pick_episode"]


@dataclass(frozen=True, slots=True)
class Pick:
    item: dict[str, Any]
    action: Literal["resume", "next", "play"]
    position_s: float

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "action": self.action, "position_s": self.position_s}


def _episodes(
    db: Database, show_id: int, user_id: int | None, access: Access, *, specials: bool
) -> list[Any]:
    """The show's visible episodes in order, each with this person's progress."""
    visible = access.condition("e")
    return db.query(
        f"""SELECT e.id, e.season_number, COALESCE(p.position_s, 0) AS position_s,
                   COALESCE(p.watched, 0) AS watched, p.last_played_at
            FROM items e JOIN items se ON se.id = e.parent_id
            LEFT JOIN progress p ON p.item_id = e.id AND p.user_id = ?
            WHERE se.parent_id = ? AND e.kind = 'episode'
              {"AND " + visible if visible else ""}
              {"" if specials else "AND COALESCE(e.season_number, 1) > 0"}
            ORDER BY e.season_number, e.episode_number, e.sort_title""",
        [user_id or 0, show_id],
    )


def _show_of(db: Database, item_id: int) -> tuple[int, int | None] | None:
    """(show id, season id or None) for a show, season or episode; None for anything else."""
    row = db.query_one(
        """SELECT i.kind, i.id, p.id AS parent, p.parent_id AS grandparent
           FROM items i LEFT JOIN items p ON p.id = i.parent_id WHERE i.id = ?""",
        [item_id],
    )
    if row is None:
        return None
    if row["kind"] == "show":
        return int(row["id"]), None
    if row["kind"] == "season":
        return int(row["parent"]), int(row["id"])
    if row["kind"] == "episode" and row["grandparent"] is not None:
        return int(row["grandparent"]), int(row["parent"])
    return None


def pick_episode(
    db: Database, user_id: int, container_id: int, access: Access = EVERYTHING
) -> Pick | None:
    """What the Play button of a show or season plays for this person (None: no episodes)."""
    where = _show_of(db, container_id)
    if where is None:
        return None
    show_id, season_id = where
    in_season = (
        {int(r[0]) for r in db.query("SELECT id FROM items WHERE parent_id = ?", [season_id])}
        if season_id is not None
        else None
    )
    season = db.query_one("SELECT season_number FROM items WHERE id = ?", [season_id or 0])
    specials = season is not None and (season["season_number"] or 0) == 0
    rows = [
        r
        for r in _episodes(db, show_id, user_id, access, specials=specials)
        if in_season is None or int(r["id"]) in in_season
    ]
    if not rows:
        return None
    # In progress, a rewatch too (watched before, under way again), as Continue watching has it.
    started = [r for r in rows if r["position_s"] > 0 and r["last_played_at"]]
    watched = [r for r in rows if r["watched"] and r["last_played_at"]]
    choice = rows[0]
    action: Literal["resume", "next", "play"] = "play"
    if started:
        choice, action = max(started, key=lambda r: r["last_played_at"]), "resume"
    elif watched:
        last = rows.index(max(watched, key=lambda r: r["last_played_at"]))
        after = next((r for r in rows[last + 1 :] if not r["watched"]), None)
        if after is not None:
            choice, action = after, "next"
    (item,) = queries.items_by_id(db, [int(choice["id"])])
    position = float(choice["position_s"]) if action == "resume" else 0.0
    return Pick(item, action, position)


def neighbours(
    db: Database, episode_id: int, access: Access = EVERYTHING
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The episodes before and after this one in watching order (either may be None)."""
    where = _show_of(db, episode_id)
    if where is None:
        return None, None
    special = db.query_one("SELECT season_number FROM items WHERE id = ?", [episode_id])
    specials = special is not None and (special["season_number"] or 0) == 0
    ids = [int(r["id"]) for r in _episodes(db, where[0], None, access, specials=specials)]
    if episode_id not in ids:
        return None, None
    at = ids.index(episode_id)
    around = [ids[at - 1] if at > 0 else None, ids[at + 1] if at + 1 < len(ids) else None]
    found = {i["id"]: i for i in queries.items_by_id(db, [i for i in around if i is not None])}
    before, after = (found.get(i) if i is not None else None for i in around)
    return before, after
