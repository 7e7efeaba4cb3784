"""Where each person is in each film or episode, and what they have watched.

Players report a position every few seconds and when they pause, seek or stop.  A report
is one row per (user, item), written through the catalog's single writer with
``synchronous = FULL``; the call returns only once that transaction is on the disk, so a
2xx to the player means the position survives a crash or a power cut.  An item counts as watched once the position passes
``watched_fraction`` of its length (90 %) or the start of its credits (a chapter called
"Credits" or "End Credits"); then its play count goes up and the resume point is cleared.
The length is the one the file states: a damaged file (cut short) counts a position no
further than its readable end, so playing it out is not watching it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import sqlite_utils

from mediaserver.db import Database, stamp
from mediaserver.events import Event, EventBus
from mediaserver.library.access import EVERYTHING, Access

__all__ = ["NOTHING_YET", "ProgressError", "ProgressService", "State", "UserData"]

State = Literal["playing", "paused", "stopped"]
_CREDITS = re.compile(r"^\s*(end\s*)?credits\b|^\s*outro\b|^\s*abspann\b", re.IGNORECASE)
# A resume point this close to the start (30 s, or 5 % of a short item) is no resume point.
MIN_RESUME_S = 30.0


class ProgressError(ValueError):
    """A report that cannot be right (a position past the end); the message says why."""


@dataclass(frozen=True, slots=True)
class UserData:
    position_s: float
    watched: bool
    play_count: int
    last_played_at: str | None

    @property
    def rewatching(self) -> bool:
        """Watched before and in progress again past the start: shown as in progress (in
        Continue watching, with Resume), not as done."""
        return self.watched and self.position_s > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "position_s": round(self.position_s, 3),
            "watched": self.watched,
            "rewatching": self.rewatching,
            "play_count": self.play_count,
            "last_played_at": self.last_played_at,
        }


NOTHING_YET = UserData(0.0, False, 0, None)


def _from_row(row: Any) -> UserData:
    return UserData(
        float(row["position_s"]),
        bool(row["watched"]),
        int(row["play_count"]),
        row["last_played_at"],
    )


class ProgressService:
    def __init__(self, db: Database, bus: EventBus, *, watched_fraction: float = 0.9) -> None:
        self.db = db
        self.bus = bus
        self.watched_fraction = watched_fraction

    # -- reads ----------------------------------------------------------------------

    def user_data(self, user_id: int, item_id: int) -> UserData:
        row = self.db.query_one(
            "SELECT * FROM progress WHERE user_id = ? AND item_id = ?", [user_id, item_id]
        )
        return _from_row(row) if row else NOTHING_YET

    def user_data_many(self, user_id: int, item_ids: Sequence[int]) -> dict[int, UserData]:
        if not item_ids:
            return {}
        rows = self.db.query(
            f"SELECT * FROM progress WHERE user_id = ? AND item_id IN "
            f"({','.join('?' * len(item_ids))})",
            [user_id, *item_ids],
        )
        return {int(r["item_id"]): _from_row(r) for r in rows}

    def watched_containers(
        self, user_id: int, ids: Sequence[int], access: Access = EVERYTHING
    ) -> set[int]:
        """Of these shows, seasons and collections, the ones whose every episode or film
        this person watched, of those they may see (one with nothing in it is not watched)."""
        members = self._members(ids, access)
        seen = self.user_data_many(user_id, sorted({m for ms in members.values() for m in ms}))
        return {
            container
            for container, items in members.items()
            if items and all(seen.get(i, NOTHING_YET).watched for i in items)
        }

    def _members(self, ids: Sequence[int], access: Access) -> dict[int, list[int]]:
        """The episodes of shows and seasons and the films of collections that this viewer
        may see, by container."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        seen = f"AND {condition}" if (condition := access.condition("e")) else ""
        rows = self.db.query(
            f"""SELECT e.parent_id, e.id FROM items e
                WHERE e.kind = 'episode' AND e.parent_id IN ({marks}) {seen}
                UNION SELECT se.parent_id, e.id FROM items e JOIN items se ON se.id = e.parent_id
                WHERE e.kind = 'episode' AND se.parent_id IN ({marks}) {seen}
                UNION SELECT ci.collection_id, e.id FROM collection_items ci
                JOIN items e ON e.id = ci.item_id WHERE ci.collection_id IN ({marks}) {seen}""",
            [*ids, *ids, *ids],
        )
        members: dict[int, list[int]] = {int(i): [] for i in ids}
        for container, item in rows:
            members[int(container)].append(int(item))
        return members

    def _timing(self, item_id: int) -> tuple[float | None, float | None, float | None]:
        """(length, credits start, readable length if the file is damaged) of an item's
        first playable file, from the catalog."""
        row = self.db.query_one(
            """SELECT f.duration_s, f.chapters, f.readable_s, i.runtime_s FROM items i
               LEFT JOIN files f ON f.item_id = i.id AND f.probe_error IS NULL
               WHERE i.id = ? ORDER BY f.id LIMIT 1""",
            [item_id],
        )
        if row is None:
            raise KeyError(item_id)
        length = row["duration_s"] or row["runtime_s"]
        credits = None
        for chapter in msgspec.json.decode(row["chapters"] or "[]"):
            title = str(chapter.get("title") or "")
            start = chapter.get("start_s")
            if _CREDITS.match(title) and isinstance(start, int | float) and start > 0:
                credits = float(start)
        readable = float(row["readable_s"]) if row["readable_s"] is not None else None
        return (float(length) if length else None), credits, readable

    # -- writes ---------------------------------------------------------------------

    def record(self, user_id: int, item_id: int, position_s: float, state: State) -> UserData:
        """Store a player's report; KeyError for an unknown item, ProgressError for nonsense."""
        length, credits, readable = self._timing(item_id)
        if not math.isfinite(position_s) or position_s < 0:
            raise ProgressError("position_s must be a number of seconds, 0 or more")
        if length is not None and position_s > length + max(60.0, length * 0.05):
            raise ProgressError(f"position_s {position_s:g} is past the end ({length:.0f} s)")
        if readable is not None:
            # A damaged file stops where its data does; a player that then "ends" reports
            # the stated length (Chromium does), but nobody watched past the readable end.
            position_s = min(position_s, readable)
        finished = length is not None and (
            position_s >= length * self.watched_fraction
            or (credits is not None and position_s >= credits)
        )
        now = stamp()

        def write(db: sqlite_utils.Database) -> UserData:
            row = db.execute(
                "SELECT position_s, watched, play_count, last_played_at FROM progress "
                "WHERE user_id = ? AND item_id = ?",
                [user_id, item_id],
            ).fetchone()
            before = UserData(float(row[0]), bool(row[1]), int(row[2]), row[3]) if row else None
            if finished:
                # Counted once per viewing: reports keep coming while the credits roll.
                counted = before is not None and before.watched and before.position_s == 0.0
                plays = (before.play_count if before else 0) + (0 if counted else 1)
                after = UserData(0.0, True, plays, now)
            else:
                start = min(MIN_RESUME_S, (length or MIN_RESUME_S) * 0.05)
                keep = position_s if position_s >= start else 0.0
                watched = before.watched if before else False
                after = UserData(keep, watched, before.play_count if before else 0, now)
            db.execute(
                """INSERT INTO progress (user_id, item_id, position_s, watched, play_count,
                       last_played_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (user_id, item_id) DO UPDATE SET position_s = excluded.position_s,
                       watched = excluded.watched, play_count = excluded.play_count,
                       last_played_at = excluded.last_played_at,
                       updated_at = excluded.updated_at""",
                [user_id, item_id, after.position_s, int(after.watched), after.play_count,
                 after.last_played_at, now],
            )  # fmt: skip
            return after

        data = self.db.write(write, catalog=False, durable=True)
        self._changed(user_id, {item_id: data}, state)
        return data

    def mark(
        self, user_id: int, item_id: int, watched: bool, access: Access = EVERYTHING
    ) -> list[int]:
        """Mark an item watched or not; a show or season means all its episodes (those this
        viewer may see). The ids."""
        ids = self._playable_ids(item_id, access)
        now = stamp()

        def write(db: sqlite_utils.Database) -> None:
            for one in ids:
                db.execute(
                    """INSERT INTO progress (user_id, item_id, position_s, watched, play_count,
                           last_played_at, updated_at) VALUES (?, ?, 0, ?, ?, ?, ?)
                       ON CONFLICT (user_id, item_id) DO UPDATE SET position_s = 0,
                           watched = excluded.watched,
                           play_count = CASE WHEN excluded.watched AND NOT progress.watched
                                        THEN progress.play_count + 1 ELSE progress.play_count END,
                           last_played_at = COALESCE(excluded.last_played_at,
                                                     progress.last_played_at),
                           updated_at = excluded.updated_at""",
                    [user_id, one, int(watched), int(watched), now if watched else None, now],
                )

        self.db.write(write, catalog=False, durable=True)
        self._changed(user_id, self.user_data_many(user_id, ids), "stopped")  # one read for all
        return ids

    def _playable_ids(self, item_id: int, access: Access) -> list[int]:
        row = self.db.query_one("SELECT kind FROM items WHERE id = ?", [item_id])
        if row is None:
            raise KeyError(item_id)
        if row["kind"] in ("movie", "episode"):
            return [item_id]
        return self._members([item_id], access)[item_id]

    def _changed(self, user_id: int, changed: Mapping[int, UserData], state: State) -> None:
        for item_id, data in changed.items():
            self.bus.publish(
                Event.PROGRESS,
                {"user_id": user_id, "item_id": item_id, "state": state, **data.as_dict()},
            )
