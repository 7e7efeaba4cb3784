"""More like this: the job's lists, written and rewritten, and the catalog's own answer
before the job has run, both limited to what a viewer may see.

The catalog (no overviews or years, so genres and people are all a title is like):

- 1 Space Drift: Sci-Fi; Ada Vale, Ben Rook; directed by Cy Moss
- 2 Star Harbor: Sci-Fi; Ada Vale
- 3 Moon Garden: Sci-Fi, Drama; Dee Lark
- 4 Quiet Farm: Drama; Ben Rook (shares a person with 1, no genre)
- 5 Red Alley: Sci-Fi, rated R
- 6 Loud Hall: Comedy; like nothing else
- 10 Galaxy Crew: a Sci-Fi show with Ada Vale
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sqlite_utils

from mediaserver.accounts.users import UserService
from mediaserver.db import Database
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.recommend.data import Titles
from mediaserver.recommend.engine import Model
from mediaserver.recommend.service import Recommender
from mediaserver.recommend.similar import similar_items, similar_lists, store
from mediaserver.testing import open_catalog

FILMS = {
    1: ("Space Drift", ["Sci-Fi"], ["Ada Vale", "Ben Rook"], 7),
    2: ("Star Harbor", ["Sci-Fi"], ["Ada Vale"], 7),
    3: ("Moon Garden", ["Sci-Fi", "Drama"], ["Dee Lark"], 7),
    4: ("Quiet Farm", ["Drama"], ["Ben Rook"], 7),
    5: ("Red Alley", ["Sci-Fi"], [], 18),
    6: ("Loud Hall", ["Comedy"], ["Eve Stone"], 7),
}
CHILD = Access(max_age=12)


def _add(d: sqlite_utils.Database, item: int, kind: str, title: str, genres: list[str],
         actors: list[str], age: int) -> None:  # fmt: skip
    d.execute(
        "INSERT INTO items (id, library_id, kind, title, sort_title, match_key, rating_age)"
        " VALUES (?, 1, ?, ?, ?, ?, ?)",
        [item, kind, title, title.lower(), f"{kind}:{item}", age],
    )
    d.conn.executemany(
        "INSERT INTO item_genres (item_id, genre) VALUES (?, ?)", [(item, g) for g in genres]
    )
    d.conn.executemany(
        "INSERT INTO item_people (item_id, role, ord, name) VALUES (?, 'actor', ?, ?)",
        [(item, n, name) for n, name in enumerate(actors)],
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    def fill(d: sqlite_utils.Database) -> None:
        d.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'Films', '/f')")
        for item, (title, genres, actors, age) in FILMS.items():
            _add(d, item, "movie", title, genres, actors, age)
        d.execute(
            "INSERT INTO item_people (item_id, role, ord, name) VALUES (1, 'director', 0, 'Cy Moss')"
        )
        _add(d, 10, "show", "Galaxy Crew", ["Sci-Fi"], ["Ada Vale"], 7)

    with open_catalog(tmp_path) as catalog_db:
        catalog_db.write(fill)
        yield catalog_db


def _ids(db: Database, item: int, access: Access = EVERYTHING, limit: int = 12) -> list[int]:
    return [i["id"] for i in similar_items(db, item, access, limit)]


def _run(db: Database) -> None:
    Recommender(db, UserService(db)).run()


def test_before_the_job_runs_titles_sharing_genres_come_first_then_people(db: Database) -> None:
    # 2 shares the genre and Ada; 3 and 5 the genre only (by rating, then title); 4 Ben only.
    assert _ids(db, 1) == [2, 3, 5, 4]
    assert _ids(db, 4) == [3, 1]  # Drama first, then the shared actor
    assert _ids(db, 6) == []  # nothing alike: no row rather than random films
    assert _ids(db, 10) == []  # a show is like shows; there is only one
    assert _ids(db, 1, limit=2) == [2, 3]


def test_a_hidden_title_never_appears_nor_leaves_a_gap(db: Database) -> None:
    assert _ids(db, 1, CHILD) == [2, 3, 4]
    assert _ids(db, 1, CHILD, limit=3) == [2, 3, 4]
    _run(db)
    assert 5 in _ids(db, 1)
    assert 5 not in _ids(db, 1, CHILD) and len(_ids(db, 1, CHILD)) == 3
    assert _ids(db, 1, Access(libraries=frozenset())) == []


def test_the_job_writes_each_titles_list_and_the_next_run_rewrites_it(db: Database) -> None:
    _run(db)
    stored = {
        int(item): [int(r[0]) for r in db.query(
            "SELECT similar_id FROM similar_titles WHERE item_id = ? ORDER BY position", [item])]
        for item in [*FILMS, 10]
    }  # fmt: skip
    assert stored[1][0] == 2  # the same genre and the same actor: the closest
    assert set(stored[1]) == {2, 3, 4, 5}
    assert 6 not in {i for ids in stored.values() for i in ids}
    assert stored[10] == []  # shows beside shows only
    assert _ids(db, 1)[: len(stored[1])] == stored[1]
    # What a run finds unchanged is not written again; a changed list is.
    same = [(item, [(other, 1.0) for other in ids]) for item, ids in stored.items()]
    assert store(db, same) == 0
    assert store(db, [(1, [(3, 1.0), (2, 0.5)])]) == 1
    assert _ids(db, 1, limit=2) == [3, 2]

    def recast(d: sqlite_utils.Database) -> None:  # Star Harbor turns out a comedy with Eve
        d.execute("UPDATE item_genres SET genre = 'Comedy' WHERE item_id = 2")
        d.execute("UPDATE item_people SET name = 'Eve Stone' WHERE item_id = 2")

    db.write(recast)
    _run(db)
    again = [int(r[0]) for r in db.query(
        "SELECT similar_id FROM similar_titles WHERE item_id = 6 ORDER BY position")]  # fmt: skip
    assert again == [2]
    assert 2 not in [int(r[0]) for r in db.query(
        "SELECT similar_id FROM similar_titles WHERE item_id = 1")]  # fmt: skip


def test_a_title_added_after_the_run_is_answered_from_the_catalog(db: Database) -> None:
    _run(db)
    db.write(lambda d: _add(d, 7, "movie", "Comet Tail", ["Sci-Fi"], ["Ada Vale"], 7))
    assert _ids(db, 7)[:2] == [1, 2]  # the genre and Ada
    assert 7 in _ids(db, 1)  # the job's few, then the catalog's to fill the row
    db.write(lambda d: d.execute("DELETE FROM items WHERE id = 2"))
    assert 2 not in _ids(db, 1)  # the rows went with it


def test_similar_lists_blend_content_with_co_watching_by_kind() -> None:
    titles = Titles(
        ids=np.asarray([10, 20, 30, 40]),
        names=["a", "b", "c", "d"],
        kinds=["movie", "movie", "movie", "show"],
        group=[None] * 4,
    )
    content = sp.csr_matrix(
        np.asarray([[0, 0.5, 0.5, 0.9], [0.7, 0, 0.7, 0], [0, 0, 0, 0], [0.9, 0, 0, 0]], np.float32)
    )
    co_watching = sp.csr_matrix(np.asarray([[0, 0, 1, 0], *[[0] * 4] * 3], np.float32))
    model = Model(co_watching, content, np.asarray([0, 0, 5, 0], np.float32))
    lists = dict(similar_lists(model, titles))
    # Content ties 20 and 30; co-watching settles it.  The show, closest by content, is left out.
    assert [i for i, _ in lists[10]] == [30, 20]
    assert lists[10][0][1] == pytest.approx(0.5 / 0.9 + 0.5)
    assert [i for i, _ in lists[20]] == [30, 10]  # a tie: the one watched more lately
    assert lists[30] == [] and lists[40] == []
    assert [i for i, _ in similar_lists(model, titles, n=1)[0][1]] == [30]
