"""More like this: each title's most similar titles, for its page.

Every run of the recommendation job has learnt each title's nearest titles by content
(genres, directors and actors, studio, decade, the words of the overview) and by
co-watching (:func:`~mediaserver.recommend.engine.fit`).  :func:`similar_lists` blends the
two, each scaled to its best: content counts fully, co-watching half as much again where
the household has watched enough for it to say anything.  Films go with films and shows
with shows.  :func:`store` rewrites the lists that changed, through the single writer in
batches of titles, as the job writes people's rows.

:func:`similar_items` reads them for one viewer: what their limits hide is left out before
counting, so a hidden title neither appears nor leaves a gap.  A title the job has not seen
(nothing computed yet, or added since the last run) and a row that limits have thinned are
filled from the catalog itself: titles sharing the most genres first, then the most people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlite_utils

from mediaserver.db import Database
from mediaserver.library import queries
from mediaserver.library.access import EVERYTHING, Access

if TYPE_CHECKING:  # the job's side: numpy and scipy stay out of the server's process
    import scipy.sparse as sp

    from mediaserver.recommend.data import Titles
    from mediaserver.recommend.engine import Model

__all__ = ["SHOWN", "STORED", "alike", "similar_items", "similar_lists", "store"]

STORED = 20  # per title: enough that a viewer's limits still leave a full row
SHOWN = 12
CO_WATCHING = 0.5  # its weight beside content's 1 (content says "like"; viewing "also")
WRITE_TITLES = 50  # titles per write: 1,000 rows, some 10 ms of the single writer
_KINDS = ("movie", "show")

Similar = tuple[int, list[tuple[int, float]]]  # item id, [(similar id, score)] best first


def _scaled(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row divided by its largest value (rows of zeros stay zero)."""
    import numpy as np
    import scipy.sparse as sp

    peaks = np.asarray(matrix.max(axis=1).toarray(), dtype=np.float32).ravel()
    peaks[peaks <= 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / peaks) @ matrix)


def similar_lists(model: Model, titles: Titles, n: int = STORED) -> list[Similar]:
    """Every title's ``n`` most similar titles of its own kind, best first; equal scores
    go to the title watched more lately, then to the older id."""
    import numpy as np
    import scipy.sparse as sp

    if not len(titles):
        return []
    blended = sp.csr_matrix(_scaled(model.content) + CO_WATCHING * _scaled(model.co_watching))
    kinds = np.asarray(titles.kinds)
    popularity = np.asarray(model.popularity, dtype=np.float32)
    out: list[Similar] = []
    for t in range(len(titles)):
        span = slice(blended.indptr[t], blended.indptr[t + 1])
        cols, values = blended.indices[span], blended.data[span]
        keep = (values > 0) & (cols != t) & (kinds[cols] == kinds[t])
        cols, values = cols[keep], values[keep]
        best = np.lexsort((cols, -popularity[cols], -values))[:n]
        out.append(
            (
                int(titles.ids[t]),
                [
                    (int(titles.ids[c]), float(v))
                    for c, v in zip(cols[best], values[best], strict=True)
                ],
            )
        )
    return out


def store(db: Database, lists: Sequence[Similar]) -> int:
    """Replace the lists that changed since the last run, a batch of titles per write; how
    many were written.  A title gone from the catalog has taken its rows along already."""
    written = 0
    for start in range(0, len(lists), WRITE_TITLES):
        changed = _changed(db, lists[start : start + WRITE_TITLES])

        def write(d: sqlite_utils.Database, batch: Sequence[Similar] = changed) -> None:
            _store(d, batch)

        if changed:
            db.write(write, catalog=False)
            written += len(changed)
    return written


def _changed(db: Database, batch: Sequence[Similar]) -> list[Similar]:
    """The lists whose titles or order differ from the stored ones (a nightly run mostly
    finds the same: reading them costs far less than writing them again)."""
    ids = [item for item, _ in batch]
    stored: dict[int, list[int]] = {}
    for item, other in db.query(
        f"""SELECT item_id, similar_id FROM similar_titles
            WHERE item_id IN ({",".join("?" * len(ids))}) ORDER BY item_id, position""",
        ids,
    ):
        stored.setdefault(int(item), []).append(int(other))
    return [
        (item, others) for item, others in batch if stored.get(item, []) != [o for o, _ in others]
    ]


def _store(db: sqlite_utils.Database, batch: Sequence[Similar]) -> None:
    db.conn.executemany(
        "DELETE FROM similar_titles WHERE item_id = ?", [(item,) for item, _ in batch]
    )
    db.conn.executemany(
        """INSERT INTO similar_titles (item_id, position, similar_id)
           SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM items WHERE id = ?)
                            AND EXISTS (SELECT 1 FROM items WHERE id = ?)""",
        [
            (item, n, other, item, other)
            for item, others in batch
            for n, (other, _) in enumerate(others)
        ],
    )


def similar_items(
    db: Database, item_id: int, access: Access = EVERYTHING, limit: int = SHOWN
) -> list[dict[str, Any]]:
    """Up to ``limit`` titles like a film or show that this viewer may see, best first, as
    lists show items; none for other kinds (an episode is like its show: see its page)."""
    row = db.query_one("SELECT kind FROM items WHERE id = ?", [item_id])
    if row is None or row[0] not in _KINDS:
        return []
    visible = queries.visible_condition(db, access)("i")
    ids = [
        int(r[0])
        for r in db.query(
            f"""SELECT s.similar_id FROM similar_titles s JOIN items i ON i.id = s.similar_id
                WHERE s.item_id = ? {"AND " + visible if visible else ""}
                ORDER BY s.position LIMIT ?""",
            [item_id, limit],
        )
    ]
    if len(ids) < limit:
        more = alike(db, item_id, access, limit + len(ids))
        ids += [i for i in more if i not in ids][: limit - len(ids)]
    return queries.items_by_id(db, ids, access)  # a show's borrowed poster is per viewer


def alike(
    db: Database, item_id: int, access: Access = EVERYTHING, limit: int = SHOWN
) -> tuple[int, ...]:
    """Titles of the same kind sharing the most genres, then the most people, with this
    item, that the viewer may see; from the catalog alone (remembered until it changes)."""
    visible = queries.visible_condition(db, access)("i")
    sql = f"""
        WITH g AS (SELECT ig.item_id, count(*) AS n FROM item_genres ig
                   WHERE ig.genre IN (SELECT genre FROM item_genres WHERE item_id = :id)
                   GROUP BY ig.item_id),
             p AS (SELECT ip.item_id, count(DISTINCT ip.name) AS n FROM item_people ip
                   WHERE ip.name COLLATE NOCASE IN (SELECT name FROM item_people WHERE item_id = :id)
                   GROUP BY ip.item_id),
             candidates AS (SELECT item_id FROM g UNION SELECT item_id FROM p)
        SELECT i.id FROM candidates c JOIN items i ON i.id = c.item_id
        LEFT JOIN g ON g.item_id = i.id LEFT JOIN p ON p.item_id = i.id
        WHERE i.kind = (SELECT kind FROM items WHERE id = :id) AND i.id != :id
          {"AND " + visible if visible else ""}
        ORDER BY coalesce(g.n, 0) DESC, coalesce(p.n, 0) DESC, i.rating DESC, i.sort_title, i.id
        LIMIT :limit"""
    params = {"id": item_id, "limit": limit}
    return db.memo(
        ("alike", item_id, visible, limit), lambda: tuple(int(r[0]) for r in db.query(sql, params))
    )
