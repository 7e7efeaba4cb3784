"""Content ratings read as ages, and the SQL condition a viewer's limits become."""

from __future__ import annotations

import sqlite3

import pytest

from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.ratings import KNOWN_RATINGS, rating_age


@pytest.mark.parametrize(
    ("rating", "age"),
    [
        ("G", 0),
        ("PG", 10),
        ("PG-13", 13),
        ("Rated PG-13", 13),
        ("US:PG-13", 13),
        ("us/R", 17),
        ("NC-17", 18),
        ("TV-Y7", 7),
        ("TV-14", 14),
        ("tv-ma", 17),
        ("U", 0),
        ("12A", 12),
        ("UK:15", 15),
        ("FSK 16", 16),
        ("DE:FSK 12", 12),
        ("de/6", 6),
        ("16+", 16),
        ("Ab 12", 12),
        ("18", 18),
    ],
)
def test_ratings_are_read_as_the_age_they_are_for(rating: str, age: int) -> None:
    assert rating_age(rating) == age


@pytest.mark.parametrize("rating", [None, "", "NR", "Not Rated", "Unrated", "banana", "99", "XYZ:"])
def test_missing_or_unknown_ratings_are_unrated(rating: str | None) -> None:
    assert rating_age(rating) is None


def test_every_rating_offered_to_admins_is_understood() -> None:
    assert all(rating_age(r) is not None for r in KNOWN_RATINGS)


CATALOG = [  # (id, title, kind, library, parent, age)
    (1, "cartoon", "movie", 1, None, 0),
    (2, "thriller", "movie", 1, None, 17),
    (3, "home video", "movie", 2, None, None),
    (4, "family", "movie", 2, None, 10),
    (5, "mixed saga", "collection", 1, None, 0),  # the cartoon and the thriller
    (6, "grown-up saga", "collection", 1, None, 17),  # the thriller only
    (7, "soap", "show", 1, None, 10),
    (8, "soap s1", "season", 1, 7, 10),
    (9, "soap e1", "episode", 1, 8, 17),  # rated on its own
    (10, "soap e2", "episode", 1, 8, 10),
    (11, "soap s2", "season", 1, 7, 10),
    (12, "soap s2e1", "episode", 1, 11, 17),
    (13, "late show", "show", 2, None, 17),
    (14, "late s1", "season", 2, 13, 17),
    (15, "late e1", "episode", 2, 14, 0),  # mild, but in a show that is not
]


def _titles(access: Access, films: bool) -> list[str]:
    """What this viewer may see of the films (or of everything else) in ``CATALOG``."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, title, kind, library_id, parent_id,"
        " rating_age)"
    )
    conn.execute("CREATE TABLE collection_items (collection_id, item_id)")
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", CATALOG)
    conn.executemany("INSERT INTO collection_items VALUES (?, ?)", [(5, 1), (5, 2), (6, 2)])
    condition = access.condition("i")
    sql = f"SELECT title FROM items i WHERE (kind = 'movie') = {int(films)}"
    sql += f" AND {condition}" if condition else ""
    return sorted(r[0] for r in conn.execute(sql + " ORDER BY title"))


def _visible(access: Access) -> list[str]:
    return _titles(access, films=True)


def _containers(access: Access) -> list[str]:
    return _titles(access, films=False)


def test_limits_become_one_condition() -> None:
    assert EVERYTHING.condition() is None and not EVERYTHING.restricted
    assert _visible(EVERYTHING) == ["cartoon", "family", "home video", "thriller"]
    assert _visible(Access(max_age=10)) == ["cartoon", "family"]  # unrated hidden by default
    assert _visible(Access(max_age=10, show_unrated=True)) == ["cartoon", "family", "home video"]
    assert _visible(Access(libraries=frozenset({2}))) == ["family", "home video"]
    assert _visible(Access(libraries=frozenset())) == []  # no library at all
    assert _visible(Access(libraries=frozenset({1}), max_age=12)) == ["cartoon"]


def test_a_rating_limit_looks_inside_containers() -> None:
    """A collection, show or season is there when something in it may be seen; an episode
    only when its show may be seen too."""
    assert _containers(Access(max_age=10)) == ["mixed saga", "soap", "soap e2", "soap s1"]
    assert _containers(Access(max_age=17)) == [
        "grown-up saga", "late e1", "late s1", "late show", "mixed saga", "soap", "soap e1",
        "soap e2", "soap s1", "soap s2", "soap s2e1",
    ]  # fmt: skip
    assert _containers(Access(libraries=frozenset({2}))) == ["late e1", "late s1", "late show"]
