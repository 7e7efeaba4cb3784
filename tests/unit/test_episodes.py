"""A show's Play button (Resume, Next up or Play) and an episode's previous and next, for one
person, over a real catalog: two seasons and a special, one episode hidden from a child."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from mediaserver.activity.episodes import neighbours, pick_episode
from mediaserver.db import Database
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.testing import open_catalog

SHOW, SPECIALS, S1, S2 = 10, 11, 12, 13
# id -> (season id, season number, episode number)
EPISODES = {
    20: (SPECIALS, 0, 1),
    21: (S1, 1, 1),
    22: (S1, 1, 2),
    23: (S1, 1, 3),
    31: (S2, 2, 1),
    32: (S2, 2, 2),
}
CHILD = Access(max_age=7)  # episode 23 is rated for grown-ups


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    def fill(d: sqlite_utils.Database) -> None:
        d.execute("INSERT INTO users (id, name, password_hash) VALUES (1, 'ines', 'x')")
        d.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'Shows', '/s')")
        rows: list[tuple[int, int | None, str, int | None, int | None, str]]
        rows = [(SHOW, None, "show", None, None, "Tide")]
        rows += [
            (s, SHOW, "season", n, None, f"Season {n}") for s, n in ((11, 0), (12, 1), (13, 2))
        ]
        rows += [(e, s, "episode", n, ep, f"E{e}") for e, (s, n, ep) in EPISODES.items()]
        d.conn.executemany(
            """INSERT INTO items (id, library_id, parent_id, kind, season_number, episode_number,
                                  title, sort_title, match_key, rating_age)
               VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (i, p, k, s, e, t, t.lower(), str(i), 18 if i == 23 else 0)
                for i, p, k, s, e, t in rows
            ],
        )

    with open_catalog(tmp_path) as catalog:
        catalog.write(fill)
        yield catalog


def played(
    db: Database, item_id: int, at: str, *, position: float = 0, watched: bool = False
) -> None:
    db.write(
        lambda d: d.execute(
            """INSERT OR REPLACE INTO progress (user_id, item_id, position_s, watched, last_played_at,
                                                updated_at) VALUES (1, ?, ?, ?, ?, ?)""",
            [item_id, position, int(watched), at, at],
        )
    )


def picked(db: Database, container: int, access: Access = EVERYTHING) -> tuple[int, str, float]:
    pick = pick_episode(db, 1, container, access)
    assert pick is not None
    return pick.item["id"], pick.action, pick.position_s


def test_nothing_watched_plays_the_first_episode_not_a_special(db: Database) -> None:
    assert picked(db, SHOW) == (21, "play", 0.0)
    assert picked(db, S2) == (31, "play", 0.0)
    assert picked(db, SPECIALS) == (20, "play", 0.0)  # the specials' own page plays them


def test_an_episode_in_progress_is_resumed(db: Database) -> None:
    played(db, 21, "2026-12-01T10:00:00Z", watched=True)
    played(db, 22, "2026-12-01T11:00:00Z", position=754.0)
    assert picked(db, SHOW) == (22, "resume", 754.0)
    assert picked(db, S1) == (22, "resume", 754.0)


def test_an_episode_watched_again_is_resumed_too(db: Database) -> None:
    played(db, 21, "2026-12-01T10:00:00Z", watched=True)
    played(db, 22, "2026-12-01T11:00:00Z", watched=True)
    played(db, 21, "2026-12-02T10:00:00Z", position=300.0, watched=True)  # a rewatch
    assert picked(db, SHOW) == (21, "resume", 300.0)


def test_after_the_last_watched_comes_the_next_unwatched_across_seasons(db: Database) -> None:
    played(db, 21, "2026-12-01T10:00:00Z", watched=True)
    played(db, 23, "2026-12-02T10:00:00Z", watched=True)
    assert picked(db, SHOW) == (31, "next", 0.0)
    # A child never sees episode 23: the order skips it, and 22 is next after 21.
    assert picked(db, SHOW, CHILD) == (22, "next", 0.0)


def test_everything_watched_starts_again(db: Database) -> None:
    for n, episode in enumerate((21, 22, 23, 31, 32)):
        played(db, episode, f"2026-12-0{n + 1}T10:00:00Z", watched=True)
    assert picked(db, SHOW) == (21, "play", 0.0)


def test_previous_and_next_follow_the_watching_order(db: Database) -> None:
    def ids(episode: int, access: Access = EVERYTHING) -> tuple[int | None, int | None]:
        before, after = neighbours(db, episode, access)
        return (before or {}).get("id"), (after or {}).get("id")

    assert ids(21) == (None, 22)
    assert ids(23) == (22, 31)  # across the season break
    assert ids(32) == (31, None)
    assert ids(22, CHILD) == (21, 31)  # the hidden episode is stepped over
    assert ids(SHOW) == (None, None)  # not an episode
    assert pick_episode(db, 1, 999) is None
