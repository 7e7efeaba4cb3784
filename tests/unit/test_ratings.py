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


def _visible(access: Access) -> list[str]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, title, library_id, rating_age)")
    conn.executemany(
        "INSERT INTO items (title, library_id, rating_age) VALUES (?, ?, ?)",
        [("cartoon", 1, 0), ("thriller", 1, 17), ("home video", 2, None), ("family", 2, 10)],
    )
    condition = access.condition("i")
    sql = "SELECT title FROM items i" + (f" WHERE {condition}" if condition else "")
    return sorted(r[0] for r in conn.execute(sql + " ORDER BY title"))


def test_limits_become_one_condition() -> None:
    assert EVERYTHING.condition() is None and not EVERYTHING.restricted
    assert _visible(EVERYTHING) == ["cartoon", "family", "home video", "thriller"]
    assert _visible(Access(max_age=10)) == ["cartoon", "family"]  # unrated hidden by default
    assert _visible(Access(max_age=10, show_unrated=True)) == ["cartoon", "family", "home video"]
    assert _visible(Access(libraries=frozenset({2}))) == ["family", "home video"]
    assert _visible(Access(libraries=frozenset())) == []  # no library at all
    assert _visible(Access(libraries=frozenset({1}), max_age=12)) == ["cartoon"]
