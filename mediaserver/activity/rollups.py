"""Hourly and daily totals of the playback events, and the pruning of old raw events.

Per (hour or day, item, user): plays, completions, seconds watched, plays by decision
(direct, remux, transcode) and errors.  Seconds watched are counted from the players'
``progress`` events, one every ``PROGRESS_INTERVAL_S`` of playing.  Hours and days are UTC.

A run recomputes every bucket from the last one it finished (the ``rolled_until``
watermark, an hour) up to now, from the raw events, so running it twice changes nothing
and late-arriving events of the current hour are counted next time.  Raw events are
pruned only once they are older than the retention and lie in days already rolled up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from mediaserver.db import Database

__all__ = ["PROGRESS_INTERVAL_S", "TOTALS", "RollupResult", "Rollups", "hour_bucket"]

PROGRESS_INTERVAL_S = 10  # web/static/progress.js sends one "progress" event this often

TOTALS = f"""
    count(*) FILTER (WHERE type = 'play'),
    count(*) FILTER (WHERE type = 'complete'),
    {PROGRESS_INTERVAL_S} * count(*) FILTER (WHERE type = 'progress'),
    count(*) FILTER (WHERE type = 'play' AND decision = 'direct'),
    count(*) FILTER (WHERE type = 'play' AND decision = 'remux'),
    count(*) FILTER (WHERE type = 'play' AND decision = 'transcode'),
    count(*) FILTER (WHERE type = 'error')
"""


@dataclass(frozen=True, slots=True)
class RollupResult:
    since: str | None  # the hour recomputed from (None: no events yet)
    hours: int
    days: int
    pruned: int


def hour_bucket(moment: datetime) -> str:
    """The hour an event at ``moment`` is totalled in: ``2026-12-02T20`` (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


class Rollups:
    def __init__(self, db: Database, *, keep_days: int = 90) -> None:
        self.db = db
        self.keep_days = keep_days

    def run(self, now: datetime | None = None) -> RollupResult:
        moment = now or datetime.now(UTC)
        return self.db.write(lambda db: self._roll(db, moment), catalog=False)

    def _roll(self, db: sqlite_utils.Database, now: datetime) -> RollupResult:
        row = db.execute("SELECT value FROM rollup_state WHERE name = 'rolled_until'").fetchone()
        since: str | None = row[0] if row else None
        if since is None:
            first = db.execute("SELECT min(at) FROM playback_events").fetchone()[0]
            if first is None:
                return RollupResult(None, 0, 0, 0)
            since = str(first)[:13]
        hours = _recompute(db, "hour", since)  # "2026-12-02T20": 13 characters of `at`
        days = _recompute(db, "day", since[:10])
        current = hour_bucket(now)  # recomputed next time too: it is not over yet
        db.execute(
            "INSERT INTO rollup_state (name, value) VALUES ('rolled_until', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            [current],
        )
        # Old raw events go, but only from days that are rolled up for good.
        cutoff = min((now - timedelta(days=self.keep_days)).strftime("%Y-%m-%d"), current[:10])
        pruned = db.execute("DELETE FROM playback_events WHERE at < ?", [cutoff]).rowcount
        return RollupResult(since, hours, days, pruned)


def _recompute(db: sqlite_utils.Database, period: str, since: str) -> int:
    """Replace the ``period`` buckets from ``since`` on; how many rows that made."""
    width = len(since)  # a bucket is that prefix of the events' ISO time
    db.execute("DELETE FROM playback_rollups WHERE period = ? AND bucket >= ?", [period, since])
    return int(
        db.execute(
            f"""INSERT INTO playback_rollups (period, bucket, item_id, user_id, plays,
                    completes, seconds, direct, remux, transcode, errors)
                SELECT ?, substr(at, 1, {width}), item_id, user_id, {TOTALS}
                FROM playback_events WHERE at >= ?
                GROUP BY substr(at, 1, {width}), item_id, user_id""",
            [period, since],
        ).rowcount
    )
