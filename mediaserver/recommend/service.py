"""The recommendation job and its rows: what each person might like next, and why.

A run reads the catalog and everyone's viewing (:mod:`~mediaserver.recommend.data`), learns
title-to-title similarities (:func:`~mediaserver.recommend.engine.fit`) and writes, per
person, a few rows with a reason on every title:

- **Recommended for you**: the blend of co-watching, content and household popularity,
  never two of one collection after a pair, each with the title that earned it its place;
- **Because you watched X**: titles watched by the people who watched X (twice at most);
- **More like X**: titles like X by genre, people, studio, decade and words;
- **Trending in your household**: time-decayed plays.

Each run also writes every title's "More like this" (:mod:`~mediaserver.recommend.similar`).

What a person has already started or seen is never offered (Continue watching and Next up
show those), nor what they said they are not interested in (its neighbours also count
against it), nor anything their limits hide.  Someone with no viewing gets trending plus
titles in the genres they said they like.  Plugins can add candidates.  Rows are written
through the single writer in batches of people; a run never touches the request path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.process import BaseProcess
from typing import Any

import sqlite_utils
import structlog

from mediaserver.accounts.users import UserService
from mediaserver.db import Database
from mediaserver.library.access import Access

__all__ = ["ROW_SIZE", "Recommender", "RunResult"]

log = structlog.get_logger(__name__)

ROW_SIZE = 20
_MIN_ROW = 2  # a "because", "more like" or "trending" row with fewer is not worth showing
Candidates = Callable[[int], Sequence[tuple[int, str]]]  # plugins: user id -> (item, reason)


@dataclass(frozen=True, slots=True)
class RunResult:
    people: int
    titles: int
    rows: int
    seconds: float
    learn_seconds: float  # reading the catalog and the similarities; the rest is per person

    def as_dict(self) -> dict[str, Any]:
        return {"people": self.people, "titles": self.titles, "rows": self.rows,
                "seconds": round(self.seconds, 2),
                "learn_seconds": round(self.learn_seconds, 2)}  # fmt: skip


class Recommender:
    def __init__(
        self, db: Database, users: UserService, *, candidates: Candidates | None = None
    ) -> None:
        self.db = db
        self.users = users
        self.candidates = candidates
        self.progress: tuple[int, int] | None = None  # (people done, people) while running
        self._lock = threading.Lock()
        self._child: BaseProcess | None = None  # the server's run, while it runs
        self._stopped = False

    # -- the job --------------------------------------------------------------------------

    def run(
        self,
        now: datetime | None = None,
        *,
        batch: int = 200,
        niced: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RunResult:
        """Compute everyone's rows in this process (the CLI, tests and benches); ``niced``
        lowers the calling thread's priority first, and ``on_progress(people done,
        people)`` follows along (the CLI's progress bar)."""
        from mediaserver.recommend.job import Job  # numpy and scipy: only for a run

        with self._lock:  # one run at a time
            job = Job(self.db, self.users, self.candidates)
            try:
                result = job.run(
                    now, batch=batch, niced=niced, on_progress=self._follow(on_progress)
                )
            finally:
                self.progress = None
        log.info("recommendations computed", **result.as_dict())
        return result

    def run_in_child(self) -> RunResult:
        """Compute everyone's rows in a child process at nice 10 (the server's task): the
        job's libraries and matrices (hundreds of MB at scale) leave with it, so the
        server's memory is what it was before the run."""
        from mediaserver.recommend.child import run_in_child

        with self._lock:
            if self._stopped:
                raise RuntimeError("the server is stopping: no recommendation run now")
            try:
                result = run_in_child(
                    self.db, self.users, self.candidates, self._follow(None), self._started
                )
            except RuntimeError:
                if self._stopped:
                    raise RuntimeError(
                        "the recommendation run was stopped: the server is stopping"
                    ) from None
                raise
            finally:
                self.progress, self._child = None, None
        log.info("recommendations computed", **result.as_dict(), process="child")
        return result

    def _started(self, child: BaseProcess) -> None:
        self._child = child

    def stop(self) -> None:
        """End a run in its child process, before the server closes the catalog: a child
        still holding it open kept the catalog's journal (-wal) from being folded in and
        removed, so the server did not close cleanly."""
        self._stopped = True
        child = self._child
        if child is not None and child.is_alive():
            child.terminate()
            child.join(5)
            if child.is_alive():
                child.kill()
                child.join()

    def _follow(self, then: Callable[[int, int], None] | None) -> Callable[[int, int], None]:
        def follow(done: int, people: int) -> None:
            self.progress = (done, people)
            if then is not None:
                then(done, people)

        return follow

    # -- reads and feedback ----------------------------------------------------------------

    def rows(self, user_id: int) -> list[dict[str, Any]]:
        """This person's stored rows, in order, "not interested" titles left out."""
        stored = self.db.query(
            """SELECT r.row_key, r.row_title, r.item_id, r.reason, r.computed_at FROM recommendations r
               WHERE r.user_id = ? AND r.item_id NOT IN
                   (SELECT item_id FROM recommendation_feedback WHERE user_id = ?)
               ORDER BY CASE r.row_key WHEN 'for-you' THEN 0 WHEN 'likes' THEN 0
                        WHEN 'trending' THEN 3 WHEN 'plugins' THEN 4 ELSE 1 END,
                        r.row_key, r.position""",
            [user_id, user_id],
        )
        rows: dict[str, dict[str, Any]] = {}
        for r in stored:
            row = rows.setdefault(r["row_key"], {"key": r["row_key"], "title": r["row_title"],
                                                 "computed_at": r["computed_at"], "items": []})  # fmt: skip
            row["items"].append({"item_id": int(r["item_id"]), "reason": r["reason"]})
        return list(rows.values())

    def not_interested(self, user_id: int, item_id: int, *, undo: bool = False) -> None:
        def write(db: sqlite_utils.Database) -> None:
            if undo:
                db.execute("DELETE FROM recommendation_feedback WHERE user_id = ? AND item_id = ?",
                           [user_id, item_id])  # fmt: skip
            else:
                db.execute(
                    "INSERT OR IGNORE INTO recommendation_feedback (user_id, item_id, at)"
                    " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ'))",
                    [user_id, item_id],
                )

        self.db.write(write, catalog=False)

    def liked_genres(self, user_id: int) -> list[str]:
        return [str(r[0]) for r in self.db.query(
            "SELECT genre FROM liked_genres WHERE user_id = ? ORDER BY genre", [user_id])]  # fmt: skip

    def picks_from_likes(self, user_id: int, access: Access) -> int:
        """How many titles the next run's "Picked for you" row will hold for this person: in a
        genre they like, theirs to see, not turned down; 0 when there will be no such row
        (too few titles, or they have watched something: their viewing leads then)."""
        viewed = self.db.query_one(
            "SELECT 1 FROM progress WHERE user_id = ?"
            " AND (last_played_at IS NOT NULL OR watched = 1) LIMIT 1",
            [user_id],
        )
        if viewed is not None:
            return 0
        condition = access.condition("i")
        row = self.db.query_one(
            f"""SELECT count(DISTINCT i.id) FROM items i
                JOIN item_genres g ON g.item_id = i.id
                JOIN liked_genres l ON l.user_id = ? AND lower(l.genre) = lower(g.genre)
                WHERE i.kind IN ('movie', 'show') {"AND " + condition if condition else ""}
                AND i.id NOT IN (SELECT item_id FROM recommendation_feedback WHERE user_id = ?)""",
            [user_id, user_id],
        )
        found = int(row[0]) if row else 0
        return min(found, ROW_SIZE) if found >= _MIN_ROW else 0

    def set_liked_genres(self, user_id: int, genres: Sequence[str]) -> list[str]:
        chosen = sorted({g.strip()[:60] for g in genres if g.strip()}, key=str.lower)[:20]

        def write(db: sqlite_utils.Database) -> None:
            db.execute("DELETE FROM liked_genres WHERE user_id = ?", [user_id])
            db.conn.executemany("INSERT OR IGNORE INTO liked_genres (user_id, genre) VALUES (?, ?)",
                                [(user_id, g) for g in chosen])  # fmt: skip

        self.db.write(write, catalog=False)
        return chosen
