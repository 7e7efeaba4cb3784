"""Hourly and daily totals of playback events: right numbers, idempotent, late events
counted, and raw events pruned only once rolled up and past the retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mediaserver.activity.rollups import PROGRESS_INTERVAL_S, Rollups
from mediaserver.db import Database
from mediaserver.testing import open_catalog

NOW = datetime(2026, 12, 2, 21, 30, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_catalog(tmp_path) as catalog:
        catalog.write(
            lambda d: d.execute(
                "INSERT INTO users (id, name, password_hash) VALUES (1, 'a', 'x'), (2, 'b', 'x')"
            )
        )
        yield catalog


def add(db: Database, *events: tuple[int, int, str, datetime, str | None]) -> None:
    rows = [
        (user, item, kind, at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), decision)
        for user, item, kind, at, decision in events
    ]
    db.write(
        lambda d: d.conn.executemany(
            "INSERT INTO playback_events (user_id, item_id, type, at, received_at, decision)"
            " VALUES (?, ?, ?, ?, '2026-12-02T00:00:00.000Z', ?)",
            rows,
        )
    )


def totals(db: Database, period: str) -> dict[tuple[str, int, int], dict[str, Any]]:
    rows = db.query("SELECT * FROM playback_rollups WHERE period = ?", [period])
    return {
        (r["bucket"], r["item_id"], r["user_id"]): {
            k: r[k]
            for k in ("plays", "completes", "seconds", "direct", "remux", "transcode", "errors")
        }
        for r in rows
    }


def test_totals_per_hour_and_day(db: Database) -> None:
    at_20 = NOW.replace(hour=20, minute=5)
    add(
        db,
        (1, 7, "play", at_20, "direct"),
        (1, 7, "progress", at_20, "direct"),
        (1, 7, "progress", at_20, "direct"),
        (1, 7, "complete", at_20, "direct"),
        (2, 7, "play", at_20, "transcode"),
        (2, 7, "error", at_20, "transcode"),
        (1, 7, "play", NOW, "remux"),  # 21:30, the next hour
    )
    result = Rollups(db).run(NOW)
    assert (result.since, result.hours, result.days) == ("2026-12-02T20", 3, 2)
    hours = totals(db, "hour")
    assert hours[("2026-12-02T20", 7, 1)] == {
        "plays": 1, "completes": 1, "seconds": 2 * PROGRESS_INTERVAL_S,
        "direct": 1, "remux": 0, "transcode": 0, "errors": 0,
    }  # fmt: skip
    assert hours[("2026-12-02T20", 7, 2)]["transcode"] == 1
    assert hours[("2026-12-02T20", 7, 2)]["errors"] == 1
    assert hours[("2026-12-02T21", 7, 1)]["remux"] == 1
    day = totals(db, "day")[("2026-12-02", 7, 1)]
    assert (day["plays"], day["direct"], day["remux"]) == (2, 1, 1)


def test_running_again_changes_nothing_and_late_events_count(db: Database) -> None:
    add(db, (1, 7, "play", NOW, "direct"))
    rollups = Rollups(db)
    rollups.run(NOW)
    first = (totals(db, "hour"), totals(db, "day"))
    rollups.run(NOW + timedelta(minutes=5))
    assert (totals(db, "hour"), totals(db, "day")) == first
    add(db, (1, 7, "play", NOW + timedelta(minutes=10), "direct"))  # still 21:xx
    rollups.run(NOW + timedelta(minutes=20))
    assert totals(db, "hour")[("2026-12-02T21", 7, 1)]["plays"] == 2
    assert totals(db, "day")[("2026-12-02", 7, 1)]["plays"] == 2


def test_old_raw_events_are_pruned_after_roll_up_only(db: Database) -> None:
    old = NOW - timedelta(days=100)
    add(db, (1, 7, "play", old, "direct"), (1, 7, "play", NOW, "direct"))
    result = Rollups(db, keep_days=90).run(NOW)
    assert result.pruned == 1
    left = [r[0] for r in db.query("SELECT at FROM playback_events")]
    assert left == [NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")]
    bucket = old.strftime("%Y-%m-%d")
    assert totals(db, "day")[(bucket, 7, 1)]["plays"] == 1  # the totals stay
    recent = Rollups(db, keep_days=1).run(NOW + timedelta(minutes=1))
    assert recent.pruned == 0  # today's events are not rolled up for good yet


def test_nothing_to_do_without_events(db: Database) -> None:
    assert Rollups(db).run(NOW).since is None
