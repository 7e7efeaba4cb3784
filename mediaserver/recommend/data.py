"""What the recommendation job reads from the catalog, as matrices for the engine.

Titles are films and shows: an episode's viewing counts for its show, and a show is what
gets recommended (its Next up episode is the activity feature's business).  A person's
weight for a title says how much their viewing tells about their taste:

- finished (watched, or past 90 %) counts 1, a title given up in its first 10 % counts
  0.1, anything between 0.3 to 1 by how far they got;
- it halves every ``HALF_LIFE_DAYS`` between their last play of it and the newest viewing
  in the catalog, and a rewatch adds a little;
- a show adds up its episodes, up to 2.

Features for "more like" are genres, directors, the first five actors, studios, the decade
and the words of the overview (TF-IDF), each block scaled to length 1 before weighting.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from mediaserver.db import Database
from mediaserver.recommend import engine

__all__ = ["HALF_LIFE_DAYS", "Titles", "Viewing", "features", "load_titles", "load_viewing"]

HALF_LIFE_DAYS = 180.0
TRENDING_HALF_LIFE_DAYS = 14.0
_BLOCKS = {"genre": 1.0, "director": 0.8, "actor": 0.5, "studio": 0.4, "decade": 0.3, "words": 0.8}


@dataclass
class Titles:
    ids: np.ndarray  # position -> item id
    names: list[str]
    kinds: list[str]
    group: list[int | None]  # the collection a film is in (diversity), else None
    position: dict[int, int] = field(default_factory=dict)  # item id -> position
    tags: list[dict[str, list[str]]] = field(default_factory=list)  # block -> values

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class Viewing:
    users: np.ndarray  # row -> user id
    weights: sp.csr_matrix  # people × titles
    finished: sp.csr_matrix  # people × titles: 1 where watched to the end (or past 90 %)
    recency: sp.csr_matrix  # people × titles: larger is more recently played
    trending: np.ndarray  # per title
    row: dict[int, int] = field(default_factory=dict)  # user id -> row


def load_titles(db: Database) -> Titles:
    rows = db.query(
        "SELECT id, kind, title, overview, year, studios FROM items"
        " WHERE kind IN ('movie', 'show') ORDER BY id"
    )
    ids = np.asarray([int(r["id"]) for r in rows], dtype=np.int64)
    titles = Titles(
        ids=ids,
        names=[str(r["title"]) for r in rows],
        kinds=[str(r["kind"]) for r in rows],
        group=[None] * len(rows),
    )
    titles.position = {int(i): n for n, i in enumerate(ids)}
    titles.tags = [
        {
            "studio": [str(s) for s in json.loads(r["studios"] or "[]")],
            "decade": [f"{int(r['year']) // 10 * 10}s"] if r["year"] else [],
            "words": [str(r["overview"] or "")],
            "genre": [],
            "director": [],
            "actor": [],
        }
        for r in rows
    ]
    for item_id, genre in db.query("SELECT item_id, genre FROM item_genres"):
        if (n := titles.position.get(int(item_id))) is not None:
            titles.tags[n]["genre"].append(str(genre).lower())
    for item_id, role, name in db.query(
        "SELECT item_id, role, name FROM item_people"
        " WHERE role = 'director' OR (role = 'actor' AND ord < 5)"
    ):
        if (n := titles.position.get(int(item_id))) is not None:
            titles.tags[n][str(role)].append(str(name))
    for item_id, collection in db.query("SELECT item_id, collection_id FROM collection_items"):
        if (n := titles.position.get(int(item_id))) is not None:
            titles.group[n] = int(collection)
    return titles


def _one_hot(values: Iterable[list[str]], count: int) -> sp.csr_matrix:
    vocabulary: dict[str, int] = {}
    rows, cols = [], []
    for r, names in enumerate(values):
        for name in set(names):
            rows.append(r)
            cols.append(vocabulary.setdefault(name, len(vocabulary)))
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(count, len(vocabulary)))


def features(titles: Titles) -> sp.csr_matrix:
    """Titles × features for content similarity."""
    count = len(titles)
    blocks = []
    for block, weight in _BLOCKS.items():
        if block == "words":
            matrix = engine.tfidf([t["words"][0] for t in titles.tags]) if count else None
        else:
            matrix = _one_hot((t[block] for t in titles.tags), count)
        if matrix is not None and matrix.shape[1]:
            blocks.append(engine.normalize_rows(matrix) * weight)
    if not blocks:
        return sp.csr_matrix((count, 0), dtype=np.float32)
    return sp.csr_matrix(sp.hstack(blocks, format="csr"), dtype=np.float32)


def completion(fraction: np.ndarray, watched: np.ndarray) -> np.ndarray:
    """Finished (watched, or past 90 %) 1; given up in the first 10 % 0.1; else 0.3 to 1."""
    middle = 0.3 + 0.7 * fraction
    return np.where(watched | (fraction >= 0.9), 1.0, np.where(fraction < 0.1, 0.1, middle))


def load_viewing(db: Database, titles: Titles) -> Viewing:
    """Everyone's weights from the progress table (episodes counted for their show).

    Ages are counted back from the newest viewing in the catalog, not from the clock, so a
    run with nothing new watched gives exactly the rows the last one did."""
    users = np.asarray([int(r[0]) for r in db.query("SELECT id FROM users ORDER BY id")])
    row_of = {int(u): n for n, u in enumerate(users)}
    rows = db.query(
        """SELECT p.user_id, coalesce(sh.id, p.item_id), p.position_s, p.watched,
                  p.play_count, coalesce(julianday(p.last_played_at), -1),
                  coalesce((SELECT max(f.duration_s) FROM files f WHERE f.item_id = p.item_id),
                           i.runtime_s, 0)
           FROM progress p JOIN items i ON i.id = p.item_id
           LEFT JOIN items se ON se.id = i.parent_id AND i.kind = 'episode'
           LEFT JOIN items sh ON sh.id = se.parent_id
           WHERE p.last_played_at IS NOT NULL OR p.watched = 1"""
    )
    person = np.asarray([row_of.get(int(r[0]), -1) for r in rows], dtype=np.int64)
    title = np.asarray([titles.position.get(int(r[1]), -1) for r in rows], dtype=np.int64)
    position, watched, plays, played, length = (
        np.asarray([r[n] for r in rows], dtype=np.float64) for n in (2, 3, 4, 5, 6)
    )
    played[played < 0] = np.nan  # never played (marked watched by hand)
    del rows
    keep = (person >= 0) & (title >= 0)
    person, title, played = person[keep], title[keep], played[keep]
    fraction = np.where(length[keep] > 0, position[keep] / np.maximum(length[keep], 1e-9), 0.5)
    done = completion(fraction, watched[keep] > 0)
    newest = np.nanmax(played) if np.isfinite(played).any() else 0.0
    age = np.where(np.isfinite(played), newest - played, 365.0)
    weight = done * np.power(0.5, age / HALF_LIFE_DAYS)
    weight *= 1 + 0.25 * np.clip(plays[keep] - 1, 0, 3)
    shape = (len(users), len(titles))
    weights = sp.csr_matrix(
        (weight.astype(np.float32), (person, title)), shape=shape
    )  # duplicates (a show's episodes) add up
    weights.data = np.minimum(weights.data, 2.0)
    finished = sp.csr_matrix(
        (np.ones(int((done >= 1.0).sum()), np.float32), (person[done >= 1.0], title[done >= 1.0])),
        shape=shape,
    )
    finished.data[:] = 1.0
    # The latest play of each (person, title): a show's newest episode, not their sum.
    when = np.nan_to_num(played, nan=0.0) + 1.0
    key = person * len(titles) + title
    order = np.lexsort((when, key))
    last_of_each = np.r_[np.flatnonzero(key[order][1:] != key[order][:-1]), len(order) - 1]
    ends = order[last_of_each] if len(order) else order
    recency = sp.csr_matrix((when[ends], (person[ends], title[ends])), shape=shape)
    trending = engine.decayed_popularity(
        title, age.astype(np.float32), len(titles), half_life_days=TRENDING_HALF_LIFE_DAYS
    )
    return Viewing(users, weights, finished, recency, trending, row_of)
