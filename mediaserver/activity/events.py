"""Playback events: what happened during each viewing, for analytics.

Players send batches (play, pause, resume, seek, progress, quality, stop, complete,
error) with the item, session, position, decision (direct, remux, transcode) and rung.
Each event is checked on its own: an unknown type, a position past the end, a time in
the future or a hidden item rejects that event with a reason, and the rest are kept.
Accepted events are appended through the single writer without waiting for it (a player
never waits for analytics); the table is append-only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import sqlite_utils

from mediaserver.db import Database, stamp
from mediaserver.events import Event, EventBus
from mediaserver.library import queries
from mediaserver.library.access import Access

__all__ = ["MAX_BATCH", "PlaybackEvent", "PlaybackEvents", "Rejected"]

MAX_BATCH = 500
EventType = Literal[
    "play", "pause", "resume", "seek", "progress", "quality", "stop", "complete", "error"
]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=7 * 24 * 3600)]
_FUTURE_SLACK = timedelta(minutes=5)  # clocks drift; a TV's by minutes
_OLDEST = timedelta(days=30)  # a player offline for longer has nothing worth keeping


class PlaybackEvent(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    type: EventType
    item_id: int
    position_s: Seconds | None = None
    from_s: Seconds | None = None  # seek
    to_s: Seconds | None = None
    at: datetime | None = None  # when it happened (the player's clock); default: now
    session: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    decision: Literal["direct", "remux", "transcode"] | None = None
    rung: Annotated[str, msgspec.Meta(max_length=20)] | None = None  # "720p", "Original"
    detail: Annotated[str, msgspec.Meta(max_length=500)] | None = None  # an error's text


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "status": 400, "detail": self.detail}


class PlaybackEvents:
    def __init__(self, db: Database, bus: EventBus | None = None) -> None:
        self.db = db
        self.bus = bus

    def ingest(
        self,
        user_id: int,
        device: str,
        raw: Sequence[Any],
        access: Access,
        *,
        now: datetime | None = None,
    ) -> tuple[int, list[Rejected]]:
        """Keep the valid events of a batch; (how many were kept, the rejected ones)."""
        moment = now or datetime.now(UTC)
        rows: list[tuple[Any, ...]] = []
        kept: list[PlaybackEvent] = []
        rejected: list[Rejected] = []
        lengths: dict[int, float | None] = {}
        for index, entry in enumerate(raw):
            try:
                event = msgspec.convert(entry, PlaybackEvent, strict=False)
                at = self._check(event, moment, access, lengths)
            except (msgspec.ValidationError, ValueError) as exc:
                rejected.append(Rejected(index, str(exc)))
                continue
            rows.append(
                (user_id, event.item_id, event.type, stamp(at), stamp(moment), device[:100],
                 event.session, event.position_s, event.from_s, event.to_s, event.decision,
                 event.rung, event.detail)
            )  # fmt: skip
            kept.append(event)
        if rows:
            self.db.submit(lambda db: _append(db, rows), catalog=False)
            if self.bus is not None:  # now playing and the activity log follow along
                self.bus.publish(
                    Event.PLAYBACK, {"user_id": user_id, "device": device[:100], "events": kept}
                )
        return len(rows), rejected

    def _check(
        self,
        event: PlaybackEvent,
        moment: datetime,
        access: Access,
        lengths: dict[int, float | None],
    ) -> datetime:
        at = event.at or moment
        if at.tzinfo is None:
            raise ValueError("at: give the time zone (e.g. 2026-12-02T20:15:00Z)")
        if at > moment + _FUTURE_SLACK:
            raise ValueError("at: in the future")
        if at < moment - _OLDEST:
            raise ValueError("at: more than 30 days ago")
        if not queries.is_visible(self.db, event.item_id, access):
            raise ValueError(f"item_id: no item with id {event.item_id}")
        if event.type == "seek" and (event.from_s is None or event.to_s is None):
            raise ValueError("a seek needs from_s and to_s")
        if event.item_id not in lengths:
            row = self.db.query_one(
                "SELECT max(f.duration_s) FROM files f WHERE f.item_id = ?", [event.item_id]
            )
            lengths[event.item_id] = float(row[0]) if row and row[0] else None
        length = lengths[event.item_id]
        for name in ("position_s", "from_s", "to_s"):
            value = getattr(event, name)
            if value is not None and length is not None and value > length + 60:
                raise ValueError(f"{name}: {value:g} is past the end ({length:.0f} s)")
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name}: not a number")
        return at

    def recent(self, limit: int = 100, item_id: int | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE item_id = ?", [item_id]) if item_id is not None else ("", [])
        rows = self.db.query(
            f"SELECT * FROM playback_events {where} ORDER BY id DESC LIMIT ?", [*params, limit]
        )
        return [dict(r) for r in rows]


def _append(db: sqlite_utils.Database, rows: list[tuple[Any, ...]]) -> None:
    db.conn.executemany(
        """INSERT INTO playback_events (user_id, item_id, type, at, received_at, device,
               session, position_s, from_s, to_s, decision, rung, detail)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )
