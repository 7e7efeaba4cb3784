"""Who is watching what right now, kept in memory from what the players report.

Players send playback events (play, pause, seek, quality, stop...) every few seconds and
a progress report every ten; either keeps a viewing here, keyed by person and item.  A
stop or a completed item ends it, and so does silence: a viewing not heard from for
``STALE_S`` (a closed laptop, a TV switched off at the wall) is dropped.  Nothing here is
stored; the events table keeps the history.  The analytics page and ``/metrics`` read it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mediaserver.activity.analytics import ITEM_TITLE, ITEM_TITLE_JOINS
from mediaserver.db import Database
from mediaserver.events import Event, EventBus
from mediaserver.streaming.ladder import AUDIO_KBPS, RUNGS

__all__ = ["STALE_S", "NowPlaying", "Viewing"]

STALE_S = 45.0  # players report every 10 s; three missed reports and it is over
_RUNG_KBPS = {f"{height}p": kbps + AUDIO_KBPS for height, kbps, _ in RUNGS}


@dataclass(frozen=True, slots=True)
class Viewing:
    user_id: int
    item_id: int
    started_at: str
    position_s: float = 0.0
    paused: bool = False
    device: str | None = None
    session: str | None = None
    decision: str | None = None  # direct, remux, transcode
    rung: str | None = None  # "720p", "Original"
    error: str | None = None
    heard: float = 0.0  # monotonic time of the last report


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NowPlaying:
    def __init__(
        self, db: Database, bus: EventBus, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.bus = bus
        self.clock = clock
        self._viewings: dict[tuple[int, int], Viewing] = {}
        self._lock = threading.Lock()

    def attach(self) -> Callable[[], None]:
        """Follow the bus; returns a function that stops following."""
        stops = [
            self.bus.subscribe(self._on_playback, Event.PLAYBACK),
            self.bus.subscribe(self._on_progress, Event.PROGRESS),
        ]

        def detach() -> None:
            for stop in stops:
                stop()

        return detach

    # -- what the players say -------------------------------------------------------------

    def _update(self, user_id: int, item_id: int, **changes: Any) -> None:
        key = (user_id, item_id)
        with self._lock:
            before = self._viewings.get(key) or Viewing(user_id, item_id, _now_iso())
            changes = {k: v for k, v in changes.items() if v is not None or k == "error"}
            self._viewings[key] = replace(before, heard=self.clock(), **changes)

    def _end(self, user_id: int, item_id: int) -> None:
        with self._lock:
            self._viewings.pop((user_id, item_id), None)

    def _on_playback(self, _event: Event, payload: Mapping[str, Any]) -> None:
        user_id, device = int(payload["user_id"]), payload.get("device")
        oldest = datetime.now(UTC).timestamp() - STALE_S
        for event in payload["events"]:
            if event.at is not None and event.at.timestamp() < oldest:
                continue  # a player catching up after being offline: history, not now
            if event.type in ("stop", "complete"):
                self._end(user_id, event.item_id)
                continue
            details: dict[str, Any] = {
                "position_s": event.to_s if event.type == "seek" else event.position_s,
                "device": device or None,
                "session": event.session,
                "decision": event.decision,
                "rung": event.rung,
            }
            if event.type == "error":
                details["error"] = event.detail or "playback failed"
            elif event.type in ("pause", "play", "resume"):
                details["paused"] = event.type == "pause"
                details["error"] = None
            self._update(user_id, event.item_id, **details)

    def _on_progress(self, _event: Event, payload: Mapping[str, Any]) -> None:
        user_id, item_id = int(payload["user_id"]), int(payload["item_id"])
        if payload.get("state") not in ("playing", "paused"):
            self._end(user_id, item_id)  # stopped, or marked watched by hand
            return
        self._update(
            user_id,
            item_id,
            position_s=float(payload.get("position_s") or 0.0),
            paused=payload["state"] == "paused",
        )

    # -- what the page shows --------------------------------------------------------------

    def count(self) -> int:
        self._forget_stale()
        return len(self._viewings)

    def _forget_stale(self) -> None:
        cutoff = self.clock() - STALE_S
        with self._lock:
            for key in [k for k, v in self._viewings.items() if v.heard < cutoff]:
                del self._viewings[key]

    def viewings(self, user_id: int | None = None) -> list[dict[str, Any]]:
        """Every live viewing (one person's when ``user_id`` is given), with names, the
        item's length and the bitrate it is being sent at."""
        self._forget_stale()
        with self._lock:
            live = [v for v in self._viewings.values() if user_id in (None, v.user_id)]
        if not live:
            return []
        items = {int(r["id"]): r for r in self._rows("items", {v.item_id for v in live})}
        people = {int(r["id"]): r["name"] for r in self._rows("users", {v.user_id for v in live})}
        out = []
        for v in sorted(live, key=lambda v: v.started_at):
            item = items.get(v.item_id)
            length = float(item["length"] or 0) if item else 0.0
            out.append(
                {
                    "user_id": v.user_id,
                    "user": people.get(v.user_id, "?"),
                    "item_id": v.item_id,
                    "title": item["label"] if item else f"(removed item {v.item_id})",
                    "device": v.device,
                    "decision": v.decision,
                    "rung": v.rung,
                    "bitrate": self._bitrate(v, item),
                    "position_s": round(v.position_s, 1),
                    "length_s": length,
                    "fraction": round(min(1.0, v.position_s / length), 4) if length else 0.0,
                    "paused": v.paused,
                    "error": v.error,
                    "started_at": v.started_at,
                }
            )
        return out

    @staticmethod
    def _bitrate(viewing: Viewing, item: Mapping[str, Any] | None) -> int | None:
        """Bits per second sent: the rung's for a transcode, the file's otherwise."""
        if viewing.decision == "transcode" and viewing.rung in _RUNG_KBPS:
            return _RUNG_KBPS[viewing.rung] * 1000
        return int(item["bit_rate"]) if item and item["bit_rate"] else None

    def _rows(self, table: str, ids: set[int]) -> list[Any]:
        if table == "users":
            return self.db.query(
                "SELECT id, name FROM users WHERE id IN (SELECT value FROM json_each(?))",
                [json.dumps(sorted(ids))],
            )
        return self.db.query(
            f"""SELECT t.item_id AS id, {ITEM_TITLE} AS label,
                       (SELECT max(f.duration_s) FROM files f WHERE f.item_id = i.id) AS length,
                       (SELECT max(f.bit_rate) FROM files f WHERE f.item_id = i.id) AS bit_rate
                FROM (SELECT value AS item_id FROM json_each(?)) t {ITEM_TITLE_JOINS}""",
            [json.dumps(sorted(ids))],
        )
