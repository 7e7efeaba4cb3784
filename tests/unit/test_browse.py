"""A library's sorts, filters and A-Z jumps on a real catalog where the answers are known.

Library 1 holds five films and a show with three episodes; library 2 one more film.  Each
title differs in what one sort or filter looks at: year, rating, runtime, content rating,
the main video's size and colour transfer, and Ann's watching and favourites.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from mediaserver.activity.favourites import favourite_ids, favourite_items, set_favourite
from mediaserver.db import Database
from mediaserver.library import facets, queries
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.browse import SORTS, ItemQuery, jump_offset, letter_offsets
from mediaserver.testing import open_catalog

ANN, BOB = 1, 2
# A child's account: library 1 only, up to 13, nothing unrated.
KID = Access(libraries=frozenset({1}), max_age=13, show_unrated=False)
# id: title, sort title, year, rating, runtime, content rating (age), genre, added
TITLES: dict[int, tuple[Any, ...]] = {
    1: ("Alpha", "alpha", 1994, 7.5, 5400, ("PG-13", 13), "Drama", "2025-01-05"),
    2: ("The Beta", "beta", 1999, 8.9, 7200, ("R", 17), "Comedy", "2025-01-01"),
    3: ("Gamma", "gamma", 2005, None, 3600, ("G", 0), "Drama", "2025-01-03"),
    4: ("42nd Street", "42nd street", 1933, 6.0, None, (None, None), "Musical", "2025-01-02"),
    5: ("Zeta", "zeta", 2012, 7.0, 6000, ("PG", 10), "Comedy", "2025-01-04"),
    10: ("Delta Show", "delta show", 2010, 8.0, None, ("TV-14", 14), "Mystery", "2025-01-06"),
}
EPISODES = {13: 11, 14: 11, 15: 12}  # episode -> season; seasons 11 and 12 of show 10
# item -> its files, each a list of video streams (codec, width, height, transfer)
VIDEO: dict[int, list[list[tuple[str, int, int, str | None]]]] = {
    1: [[("hevc", 3840, 2160, "smpte2084")]],  # 4K HDR10
    2: [[("h264", 1920, 800, "bt709")]],  # a scope 1080p film
    3: [[("mjpeg", 600, 900, None), ("h264", 1280, 720, "bt709")]],  # cover art first
    4: [[("mpeg2video", 720, 576, None)]],  # SD
    5: [[], [("hevc", 1920, 1080, "arib-std-b67")]],  # a damaged first file, then HLG
    13: [[("h264", 1280, 720, None)]],
    14: [[("hevc", 3840, 2160, "smpte2084")]],
    15: [[("h264", 1920, 1080, "bt709")]],
    20: [[("h264", 1920, 1080, None)]],
}


@dataclass
class House:
    db: Database

    def titles(self, access: Access = EVERYTHING, **query: Any) -> list[str]:
        wanted = ItemQuery(**{"kind": ("movie", "show"), "user_id": ANN, **query})
        items, total = queries.list_items(self.db, wanted, access)
        assert total == len(items)
        return [i["title"] for i in items]

    def progress(self, item: int, *, watched: bool, position: float, at: str) -> None:
        self.db.write(
            lambda d: d.execute(
                "INSERT OR REPLACE INTO progress (user_id, item_id, position_s, watched,"
                " play_count, last_played_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [ANN, item, position, int(watched), int(watched), at, at],
            ),
            catalog=False,  # as the progress service writes: the catalog's memo stands
        )


def _fill(d: sqlite_utils.Database) -> None:
    d.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'Films', '/f'), (2, 'More', '/m')")
    d.execute("INSERT INTO users (id, name, password_hash) VALUES (1, 'ann', 'x'), (2, 'bob', 'x')")
    for n, (title, sort, year, rating, runtime, (content, age), genre, added) in TITLES.items():
        d.execute(
            "INSERT INTO items (id, library_id, kind, title, sort_title, match_key, year, rating,"
            " runtime_s, content_rating, rating_age, added_at)"
            " VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                n,
                "show" if n == 10 else "movie",
                title,
                sort,
                f"k{n}",
                year,
                rating,
                runtime,
                content,
                age,
                added,
            ],
        )
        d.execute("INSERT INTO item_genres (item_id, genre) VALUES (?, ?)", [n, genre])
    rows = [(11, 10, "season", "Season 1"), (12, 10, "season", "Season 2")]
    rows += [(e, s, "episode", f"Episode {e}") for e, s in EPISODES.items()]
    for n, parent, kind, title in rows:
        d.execute(
            "INSERT INTO items (id, library_id, parent_id, kind, title, sort_title, match_key,"
            " rating_age) VALUES (?, 1, ?, ?, ?, ?, ?, 14)",
            [n, parent, kind, title, title.lower(), f"k{n}"],
        )
    d.execute(
        "INSERT INTO items (id, library_id, kind, title, sort_title, match_key, year, rating_age)"
        " VALUES (20, 2, 'movie', 'Omega', 'omega', 'k20', 2001, 0)"
    )
    for item, files in VIDEO.items():
        for f, streams in enumerate(files):
            error = None if streams else "not a readable media file"
            file_id = d.execute(
                "INSERT INTO files (library_id, item_id, path, size, mtime_ns, probe_error)"
                " VALUES (1, ?, ?, 1, 0, ?)",
                [item, f"/f/{item}-{f}.mkv", error],
            ).lastrowid
            for idx, (codec, width, height, transfer) in enumerate(streams):
                d.execute(
                    "INSERT INTO streams (file_id, idx, type, codec, width, height,"
                    " color_transfer) VALUES (?, ?, 'video', ?, ?, ?, ?)",
                    [file_id, idx, codec, width, height, transfer],
                )


@pytest.fixture
def house(tmp_path: Path) -> Iterator[House]:
    with open_catalog(tmp_path) as db:
        db.write(_fill)
        house = House(db)
        house.progress(1, watched=True, position=0, at="2026-01-01T20:00:00.000Z")
        house.progress(2, watched=False, position=600, at="2026-01-02T20:00:00.000Z")
        house.progress(13, watched=True, position=0, at="2026-01-05T20:00:00.000Z")
        house.progress(14, watched=True, position=0, at="2026-01-03T20:00:00.000Z")
        set_favourite(db, ANN, 3, True)
        set_favourite(db, ANN, 5, True)
        set_favourite(db, ANN, 5, False)  # taken back
        yield house


BY_TITLE = ["42nd Street", "Alpha", "The Beta", "Delta Show", "Gamma", "Zeta"]


SORT_CASES = [
    ("title", BY_TITLE),
    ("-title", BY_TITLE[::-1]),
    ("year", ["42nd Street", "Alpha", "The Beta", "Gamma", "Delta Show", "Zeta"]),
    ("-year", ["Zeta", "Delta Show", "Gamma", "The Beta", "Alpha", "42nd Street"]),
    ("added", ["The Beta", "42nd Street", "Gamma", "Zeta", "Alpha", "Delta Show"]),
    ("-added", ["Delta Show", "Alpha", "Zeta", "Gamma", "42nd Street", "The Beta"]),
    # No rating or runtime: last either way, by title.
    ("rating", ["42nd Street", "Zeta", "Alpha", "Delta Show", "The Beta", "Gamma"]),
    ("-rating", ["The Beta", "Delta Show", "Alpha", "Zeta", "42nd Street", "Gamma"]),
    ("runtime", ["Gamma", "Alpha", "Zeta", "The Beta", "42nd Street", "Delta Show"]),
    ("-runtime", ["The Beta", "Zeta", "Alpha", "Gamma", "42nd Street", "Delta Show"]),
    # Ann's last plays (a show's latest episode); never played last, by title.
    ("-played", ["Delta Show", "The Beta", "Alpha", "42nd Street", "Gamma", "Zeta"]),
    ("played", ["Alpha", "The Beta", "Delta Show", "42nd Street", "Gamma", "Zeta"]),
]


@pytest.mark.parametrize(("sort", "expected"), SORT_CASES)
def test_every_sort(house: House, sort: str, expected: list[str]) -> None:
    assert house.titles(library_id=1, sort=sort) == expected


def test_every_sort_is_tested() -> None:
    assert {sort for sort, _ in SORT_CASES} == set(SORTS) | {"played", "-played"}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"genre": "drama"}, ["Alpha", "Gamma"]),
        ({"year": 1999}, ["The Beta"]),
        ({"decade": 1990}, ["Alpha", "The Beta"]),
        ({"decade": 2010}, ["Delta Show", "Zeta"]),
        ({"content_rating": "PG-13"}, ["Alpha"]),
        ({"resolution": "4k"}, ["Alpha", "Delta Show"]),  # the show: one 4K episode
        ({"resolution": "1080p"}, ["The Beta", "Delta Show", "Zeta"]),  # 1920x800; 2nd file
        ({"resolution": "720p"}, ["Delta Show", "Gamma"]),  # not the cover art's 600x900
        ({"resolution": "sd"}, ["42nd Street"]),
        ({"hdr": True}, ["Alpha", "Delta Show", "Zeta"]),  # PQ, PQ in an episode, HLG
        ({"hdr": False}, ["42nd Street", "The Beta", "Gamma"]),
        ({"status": "watched"}, ["Alpha"]),
        ({"status": "unwatched"}, ["42nd Street", "The Beta", "Delta Show", "Gamma", "Zeta"]),
        ({"status": "in_progress"}, ["The Beta", "Delta Show"]),  # resume point; 2 of 3 seen
        ({"favourite": True}, ["Gamma"]),  # Zeta was taken back
        ({"favourite": False}, ["42nd Street", "Alpha", "The Beta", "Delta Show", "Zeta"]),
        ({"decade": 1990, "status": "unwatched", "sort": "-year"}, ["The Beta"]),
    ],
)
def test_every_filter(house: House, choice: dict[str, Any], expected: list[str]) -> None:
    assert house.titles(library_id=1, **choice) == expected


def test_someone_elses_state_is_their_own(house: House) -> None:
    assert house.titles(library_id=1, status="watched", user_id=BOB) == []
    assert house.titles(library_id=1, status="in_progress", user_id=BOB) == []
    assert house.titles(library_id=1, favourite=True, user_id=BOB) == []
    assert house.titles(library_id=1, sort="-played", user_id=BOB) == BY_TITLE
    with pytest.raises(ValueError, match="user_id"):
        house.titles(library_id=1, status="watched", user_id=None)


def test_the_viewers_limits_apply_to_every_sort_and_filter(house: House) -> None:
    # The child sees Alpha (13), Gamma (0) and Zeta (10) of library 1, never library 2.
    assert house.titles(KID) == ["Alpha", "Gamma", "Zeta"]
    assert house.titles(KID, sort="-rating") == ["Alpha", "Zeta", "Gamma"]
    assert house.titles(KID, hdr=True) == ["Alpha", "Zeta"]
    assert house.titles(KID, resolution="4k") == ["Alpha"]  # not the show's 4K episode
    assert house.titles(KID, status="unwatched") == ["Gamma", "Zeta"]
    assert house.titles(KID, decade=1990) == ["Alpha"]
    assert house.titles(EVERYTHING, library_id=2) == ["Omega"]
    choices = facets.choices(house.db, 1, ("movie", "show"), KID)
    assert choices == {
        "genres": ["Comedy", "Drama"],
        "decades": [2010, 2000, 1990],
        "content_ratings": ["G", "PG", "PG-13"],
    }


def test_a_show_is_judged_by_the_episodes_the_viewer_may_see(house: House) -> None:
    """As its watched tick is: an episode hidden from the child counts for nothing."""
    visible_show = "UPDATE items SET rating_age = 13 WHERE id IN (10, 11, 12, 13, 14, 15)"

    def hide(episode: int) -> None:
        house.db.write(lambda d: d.execute(visible_show))
        house.db.write(
            lambda d: d.execute("UPDATE items SET rating_age = 17 WHERE id = ?", [episode])
        )

    hide(14)  # the 4K HDR episode, watched
    assert "Delta Show" in house.titles(resolution="4k")
    assert "Delta Show" not in house.titles(KID, resolution="4k")
    assert house.titles(KID, hdr=True) == ["Alpha", "Zeta"]
    assert house.titles(KID, status="in_progress") == ["Delta Show"]  # 13 seen, 15 not
    hide(15)  # the one not watched
    assert house.titles(KID, status="watched") == ["Alpha", "Delta Show"]
    assert house.titles(status="watched") == ["Alpha"]  # everyone else: 15 is still to see
    assert house.titles(KID, sort="-played")[0] == "Delta Show"


def test_menus_offer_what_the_library_has(house: House) -> None:
    choices = facets.choices(house.db, 1, ("movie", "show"))
    assert choices["decades"] == [2010, 2000, 1990, 1930]
    assert choices["content_ratings"] == ["G", "PG", "PG-13", "TV-14", "R"]  # youngest first
    assert choices["genres"] == ["Comedy", "Drama", "Musical", "Mystery"]


def test_a_change_of_state_shows_at_once(house: House) -> None:
    """The catalog's memo does not see progress writes: a personal list is never kept."""
    assert house.titles(library_id=1, status="watched") == ["Alpha"]
    house.progress(15, watched=True, position=0, at="2026-01-06T20:00:00.000Z")
    assert house.titles(library_id=1, status="watched") == ["Alpha", "Delta Show"]
    assert house.titles(library_id=1, sort="-played")[0] == "Delta Show"
    set_favourite(house.db, ANN, 1, True)
    assert house.titles(library_id=1, favourite=True) == ["Alpha", "Gamma"]


def test_a_to_z_jumps_within_the_filtered_list(house: House) -> None:
    everything = ItemQuery(kind=("movie", "show"), library_id=1, user_id=ANN)
    assert facets.first_letters(house.db, everything) == {
        "#": 0,
        "A": 1,
        "B": 2,
        "D": 3,
        "G": 4,
        "Z": 5,
    }
    assert facets.jump_to(house.db, everything, "G") == 4
    assert facets.jump_to(house.db, everything, "C") == 3  # no C: the first D
    page = replace(everything, offset=facets.jump_to(house.db, everything, "D"), limit=2)
    assert [i["title"] for i in queries.list_items(house.db, page)[0]] == ["Delta Show", "Gamma"]
    unwatched = replace(everything, status="unwatched")
    assert facets.first_letters(house.db, unwatched) == {"#": 0, "B": 1, "D": 2, "G": 3, "Z": 4}
    assert facets.jump_to(house.db, unwatched, "A") == 1  # Alpha is watched: The Beta
    assert facets.first_letters(house.db, everything, KID) == {"A": 0, "G": 1, "Z": 2}


def test_letters_from_first_characters() -> None:
    # Signs and digits sort before a, other scripts after z: both are "#", first one wins.
    offsets = letter_offsets([("(", 1), ("4", 2), ("a", 3), ("m", 1), ("千", 2)])
    assert offsets == {"#": 0, "A": 3, "M": 6}
    assert jump_offset(offsets, "B", 9) == 6
    assert jump_offset(offsets, "N", 9) == 9  # nothing after: the end
    assert jump_offset(letter_offsets([("b", 2), ("千", 1)]), "#", 3) == 2


def test_favourites_are_a_register_with_a_time(house: House) -> None:
    first = set_favourite(house.db, ANN, 4, True)
    again = set_favourite(house.db, ANN, 4, True)
    assert again == first  # pressing twice is not a newer change
    taken_back = set_favourite(house.db, ANN, 4, False)
    assert not taken_back.favourite and taken_back.updated_at >= first.updated_at
    row = house.db.query_one(
        "SELECT favourite FROM favourites WHERE user_id = ? AND item_id = 4", [ANN]
    )
    assert row is not None and row[0] == 0  # kept, for a peer to merge
    assert favourite_ids(house.db, ANN, [3, 4, 5]) == {3}
    with pytest.raises(KeyError):
        set_favourite(house.db, ANN, 999, True)


def test_the_favourites_row_is_newest_first_within_the_limits(house: House) -> None:
    set_favourite(house.db, ANN, 2, True)  # R: hidden from a child
    set_favourite(house.db, ANN, 1, True)
    days = [("2026-02-01", 3), ("2026-02-02", 2), ("2026-02-03", 1)]  # one a day
    house.db.write(
        lambda d: d.conn.executemany("UPDATE favourites SET updated_at = ? WHERE item_id = ?", days)
    )
    assert [i["title"] for i in favourite_items(house.db, ANN)] == ["Alpha", "The Beta", "Gamma"]
    assert [i["title"] for i in favourite_items(house.db, ANN, KID)] == ["Alpha", "Gamma"]
    assert favourite_items(house.db, BOB) == []
