"""The analytics queries on a real catalog: per-day totals, ranked titles, trending,
decisions, people, busiest hours in local time, moments, history, and the promise that
rolling up changes no answer."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from mediaserver.activity.analytics import Analytics, to_csv
from mediaserver.activity.rollups import PROGRESS_INTERVAL_S, Rollups
from mediaserver.db import Database
from mediaserver.testing import open_catalog

NOW = datetime(2026, 12, 2, 21, 30, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC (SQLite's 'localtime' and Python's read the same TZ)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def db(tmp_path: Path, utc: None) -> Iterator[Database]:
    with open_catalog(tmp_path) as catalog:

        def fill(d: sqlite_utils.Database) -> None:
            d.execute(
                "INSERT INTO users (id, name, password_hash) VALUES (1, 'anna', 'x'), (2, 'ben', 'x')"
            )
            d.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'All', '/m')")
            d.executescript(
                """
                INSERT INTO items (id, library_id, kind, title, sort_title, match_key) VALUES
                    (7, 1, 'movie', 'Long Walk', 'long walk', 'a'),
                    (8, 1, 'movie', '=HYPERLINK("x")', 'hyperlink', 'b'),
                    (20, 1, 'show', 'Tide', 'tide', 'c');
                INSERT INTO items (id, library_id, kind, title, sort_title, match_key, parent_id,
                                   season_number)
                    VALUES (21, 1, 'season', 'Season 1', 's1', 'd', 20, 1);
                INSERT INTO items (id, library_id, kind, title, sort_title, match_key, parent_id,
                                   season_number, episode_number)
                    VALUES (22, 1, 'episode', 'Ebb', 'ebb', 'e', 21, 1, 2);
                INSERT INTO files (id, item_id, library_id, path, size, mtime_ns, duration_s)
                    VALUES (1, 7, 1, '/m/a.mkv', 1, 0, 1000);
                """
            )

        catalog.write(fill)
        yield catalog


def add(db: Database, *events: Row) -> None:
    rows = [
        (user, item, kind, at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), extra.get("decision"),
         extra.get("position_s"), extra.get("from_s"), extra.get("to_s"))
        for user, item, kind, at, extra in events
    ]  # fmt: skip
    db.write(
        lambda d: d.conn.executemany(
            "INSERT INTO playback_events (user_id, item_id, type, at, received_at, decision,"
            " position_s, from_s, to_s) VALUES (?, ?, ?, ?, '2026-12-02T00:00:00.000Z', ?, ?, ?, ?)",
            rows,
        )
    )


Row = tuple[int, int, str, datetime, Mapping[str, object]]


def viewing(
    user: int, item: int, at: datetime, decision: str, minutes: int, done: bool
) -> list[Row]:
    """A play, a progress event per ten seconds for ``minutes``, maybe a completion."""
    events: list[Row] = [(user, item, "play", at, {"decision": decision})]
    events += [
        (user, item, "progress", at + timedelta(seconds=10 * n), {"position_s": 10.0 * n})
        for n in range(minutes * 60 // PROGRESS_INTERVAL_S)
    ]
    if done:
        events.append((user, item, "complete", at + timedelta(minutes=minutes), {}))
    return events


@pytest.fixture
def watched(db: Database) -> Database:
    yesterday = NOW - timedelta(days=1)
    add(
        db,
        *viewing(1, 7, yesterday.replace(hour=20, minute=0), "direct", 30, True),
        *viewing(2, 7, NOW.replace(hour=19, minute=0), "transcode", 6, False),
        *viewing(1, 22, NOW.replace(hour=20, minute=0), "remux", 12, True),
        *viewing(1, 7, NOW - timedelta(days=10), "direct", 6, True),  # last week: not trending
    )
    return db


def test_daily_totals_fill_every_day_of_the_window(watched: Database) -> None:
    days = Analytics(watched).daily(7, now=NOW)
    assert [d["day"] for d in days] == [
        (NOW - timedelta(days=n)).date().isoformat() for n in range(6, -1, -1)
    ]
    by_day = {d["day"]: d for d in days}
    assert by_day["2026-12-01"] == {"day": "2026-12-01", "plays": 1, "hours": 0.5}
    assert by_day["2026-12-02"] == {"day": "2026-12-02", "plays": 2, "hours": 0.3}
    assert by_day["2026-11-28"]["plays"] == 0


def test_one_persons_numbers_are_only_theirs(watched: Database) -> None:
    days = {d["day"]: d for d in Analytics(watched).daily(7, user_id=2, now=NOW)}
    assert days["2026-12-02"] == {"day": "2026-12-02", "plays": 1, "hours": 0.1}
    assert days["2026-12-01"]["plays"] == 0


def test_titles_rank_by_plays_with_completion_rate(watched: Database) -> None:
    top = Analytics(watched).titles(30, now=NOW)
    assert [(t["title"], t["plays"], t["completes"], t["completion_rate"]) for t in top] == [
        ("Long Walk", 3, 2, 0.667),
        ("Tide · S01E02 Ebb", 1, 1, 1.0),
    ]
    assert top[0]["hours"] == pytest.approx((30 + 6 + 6) / 60, abs=0.001)


def test_trending_compares_with_the_week_before(watched: Database) -> None:
    trend = Analytics(watched).trending(7, now=NOW)
    assert [(t["title"], t["plays"], t["plays_before"], t["rise"]) for t in trend] == [
        ("Long Walk", 2, 1, 1),
        ("Tide · S01E02 Ebb", 1, 0, 1),
    ]


def test_decisions_and_people(watched: Database) -> None:
    a = Analytics(watched)
    assert a.decisions(30, now=NOW) == [
        {"decision": "direct", "plays": 2},
        {"decision": "remux", "plays": 1},
        {"decision": "transcode", "plays": 1},
    ]
    assert [(p["name"], p["plays"], p["hours"]) for p in a.people(30, now=NOW)] == [
        ("anna", 3, 0.8),
        ("ben", 1, 0.1),
    ]


def test_busiest_hours_are_local_time(watched: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    cell = {(b["weekday"], b["hour"]): b["hours"] for b in Analytics(watched).busiest(30, now=NOW)}
    assert len(cell) == 7 * 24
    assert cell[("Tue", 20)] == 0.5 and cell[("Wed", 20)] == 0.2
    monkeypatch.setenv("TZ", "Pacific/Auckland")  # UTC+13 in December
    time.tzset()
    cell = {(b["weekday"], b["hour"]): b["hours"] for b in Analytics(watched).busiest(30, now=NOW)}
    assert cell[("Wed", 9)] == 0.5 and cell[("Thu", 9)] == 0.2
    assert cell[("Tue", 20)] == 0


def test_rolling_up_changes_no_answer(watched: Database) -> None:
    a = Analytics(watched)

    def everything() -> list[object]:
        return [a.daily(30, now=NOW), a.titles(30, now=NOW), a.trending(7, now=NOW),
                a.decisions(30, now=NOW), a.people(30, now=NOW), a.busiest(30, now=NOW)]  # fmt: skip

    before = everything()
    Rollups(watched).run(NOW - timedelta(hours=1))  # some hours rolled up, the rest raw
    assert everything() == before
    Rollups(watched).run(NOW)
    assert everything() == before
    add(watched, *viewing(2, 22, NOW, "direct", 1, False))  # new events after the roll-up
    assert a.titles(30, now=NOW)[1]["plays"] == 2


def test_moments_count_played_slices_and_seek_landings(db: Database) -> None:
    at = NOW - timedelta(hours=1)
    add(
        db,
        *[(1, 7, "progress", at, {"position_s": 500.0 + n}) for n in range(5)],
        (2, 7, "progress", at, {"position_s": 505.0}),
        (1, 7, "seek", at, {"from_s": 10.0, "to_s": 990.0}),
        (1, 7, "pause", at, {"position_s": 100.0}),  # not a moment
    )
    everyone = Analytics(db).moments(7, bins=10)
    assert everyone["length_s"] == 1000 and everyone["slice_s"] == 100
    assert everyone["counts"] == [0, 0, 0, 0, 0, 6, 0, 0, 0, 1]
    assert Analytics(db).moments(7, user_id=2, bins=10)["counts"][5] == 1
    assert Analytics(db).moments(8)["counts"] == [0] * 100  # no file length: nothing to place


def test_history_is_one_persons_most_recent_first(db: Database) -> None:
    db.write(
        lambda d: d.executescript(
            """INSERT INTO progress (user_id, item_id, position_s, watched, play_count,
                   last_played_at, updated_at) VALUES
               (1, 7, 0, 1, 2, '2026-12-01T10:00:00Z', 'x'),
               (1, 22, 300, 0, 0, '2026-12-02T10:00:00Z', 'x'),
               (2, 8, 0, 1, 1, '2026-12-02T11:00:00Z', 'x')"""
        )
    )
    rows = Analytics(db).history(1)
    assert [(r["title"], r["watched"], r["play_count"]) for r in rows] == [
        ("Tide · S01E02 Ebb", False, 0),
        ("Long Walk", True, 2),
    ]


def test_history_counts_every_play_as_the_charts_do(db: Database) -> None:
    """Plays are times played (the events, rolled up or not), not only times finished: a
    title played twice and never finished has 2 plays, one marked watched by hand 1."""
    db.write(
        lambda d: d.executescript(
            """INSERT INTO progress (user_id, item_id, position_s, watched, play_count,
                   last_played_at, updated_at) VALUES
               (1, 7, 0, 1, 1, '2026-12-01T10:00:00Z', 'x'),
               (1, 22, 300, 0, 0, '2026-12-02T10:00:00Z', 'x')"""
        )
    )
    add(db, (1, 22, "play", NOW - timedelta(days=40), {}), (2, 22, "play", NOW, {}))
    Rollups(db).run(NOW - timedelta(days=39))  # the first play is rolled up, the rest raw
    add(db, (1, 22, "play", NOW - timedelta(hours=1), {}), (1, 22, "progress", NOW, {}))
    rows = Analytics(db).history(1)
    assert [(r["title"], r["plays"], r["play_count"]) for r in rows] == [
        ("Tide · S01E02 Ebb", 2, 0),
        ("Long Walk", 1, 1),
    ]
    assert Analytics(db).titles(30, 1, now=NOW)[0]["plays"] == 1  # the chart's last 30 days


def test_csv_keeps_formulas_as_text() -> None:
    text = to_csv([{"title": '=HYPERLINK("http://x")', "plays": 3}, {"title": "-2+3", "plays": 1}])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["title", "plays"], ['\'=HYPERLINK("http://x")', "3"], ["'-2+3", "1"]]
    assert to_csv([], ["day", "plays"]) == "day,plays\r\n"
