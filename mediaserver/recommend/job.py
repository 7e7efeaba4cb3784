"""The recommendation job itself: numpy and scipy, loaded only where a run happens.

:class:`~mediaserver.recommend.service.Recommender` starts it, in the server in a child
process (:mod:`~mediaserver.recommend.child`), so that the libraries, the matrices and
what the allocator keeps of them go back to the system when a run ends.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import scipy.sparse as sp
import sqlite_utils

from mediaserver.accounts.users import User, UserService
from mediaserver.db import Database
from mediaserver.library.access import Access
from mediaserver.recommend import engine, similar
from mediaserver.recommend.data import Titles, Viewing, features, load_titles, load_viewing
from mediaserver.recommend.service import _MIN_ROW, ROW_SIZE, Candidates, RunResult

__all__ = ["Job"]

# People whose rows go in one write: about 5,000 titles, some 25 ms of the single writer,
# so a progress report waiting behind it stays quick (bench/recommend_job.py).
WRITE_PEOPLE = 50
_NOT_INTERESTED = -0.5  # how much a "not interested" counts against its neighbours


@dataclass
class _Run:
    titles: Titles
    viewing: Viewing
    model: engine.Model
    signed: sp.csr_matrix  # weights with "not interested" as negative entries
    people: dict[int, User]  # user id -> the user, limits included (one read a run)
    computed_at: str
    hidden: dict[str, np.ndarray] = field(default_factory=dict)  # limit -> titles it hides


class Job:
    """One run over the catalog and everyone's viewing; writes through ``db``'s writer."""

    def __init__(self, db: Database, users: UserService, candidates: Candidates | None) -> None:
        self.db = db
        self.users = users
        self.candidates = candidates

    def run(
        self,
        now: datetime | None = None,
        *,
        batch: int = 200,
        niced: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RunResult:
        """Compute everyone's rows; ``niced`` lowers the calling thread's priority first
        (a big run must leave the cores to playback), and ``on_progress(people done,
        people)`` follows along, from (0, people) once the similarities are learnt."""
        if niced:
            _lower_this_threads_priority()
        began = time.monotonic()
        state = self._learn(now or datetime.now(UTC))
        similar.store(self.db, similar.similar_lists(state.model, state.titles))
        learned = time.monotonic() - began
        users = state.viewing.users
        if on_progress is not None:
            on_progress(0, len(users))
        written = 0
        for block in engine.blocks(len(users), batch):
            rows = [self._rows_for(state, n, blended) for n, blended in
                    self._blended(state, block)]  # fmt: skip
            written += sum(len(r) for r in rows)
            people = [int(u) for u in users[block]]
            for start in range(0, len(people), WRITE_PEOPLE):  # short writer holds
                end = start + WRITE_PEOPLE
                self._write(people[start:end], rows[start:end], state.computed_at)
            if on_progress is not None:
                on_progress(block.stop, len(users))
        return RunResult(len(users), len(state.titles), written, time.monotonic() - began, learned)

    def _write(self, people: list[int], rows: list[list[_Row]], at: str) -> None:
        self.db.write(lambda d: _store(d, people, rows, at), catalog=False)

    def _learn(self, now: datetime) -> _Run:
        titles = load_titles(self.db)
        viewing = load_viewing(self.db, titles)
        content = features(titles)
        positive = viewing.weights.maximum(0)
        model = engine.fit(sp.csr_matrix(positive), content, viewing.trending)
        people = {u.id: u for u in self.users.all()}
        return _Run(titles, viewing, model, self._signed(viewing, titles), people,
                    now.strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip

    def _signed(self, viewing: Viewing, titles: Titles) -> sp.csr_matrix:
        extra = self.db.query("SELECT user_id, item_id FROM recommendation_feedback")
        cells = [(viewing.row[int(u)], titles.position[int(i)]) for u, i in extra
                 if int(u) in viewing.row and int(i) in titles.position]  # fmt: skip
        if not cells:
            return viewing.weights
        negative = sp.csr_matrix(
            (np.full(len(cells), _NOT_INTERESTED, np.float32),
             ([c[0] for c in cells], [c[1] for c in cells])),
            shape=viewing.weights.shape,
        )  # fmt: skip
        return sp.csr_matrix(viewing.weights + negative)

    def _blended(self, state: _Run, block: slice) -> list[tuple[int, np.ndarray]]:
        scores = state.model.blended_scores(state.signed, block)
        return [(block.start + n, scores[n]) for n in range(scores.shape[0])]

    # -- one person's rows -----------------------------------------------------------------

    def _rows_for(self, state: _Run, person: int, blended: np.ndarray) -> list[_Row]:
        user_id = int(state.viewing.users[person])
        user = state.people.get(user_id)
        if user is None:
            return []
        excluded = self._excluded(state, person, user_id, user.access)
        history = state.viewing.weights[person]
        rows: list[_Row] = []
        if history.nnz:
            rows.append(self._for_you(state, person, blended, excluded))
            rows += self._because(state, person, excluded)
            rows += self._more_like(state, person, excluded)
        else:
            rows.append(self._liked(state, user_id, excluded))
        rows.append(self._trending(state, excluded))
        rows.append(self._plugins(state, user_id, excluded))
        return [
            r for r in rows if len(r.items) >= (1 if r.key in ("for-you", "plugins") else _MIN_ROW)
        ]

    def _excluded(self, state: _Run, person: int, user_id: int, access: Access) -> np.ndarray:
        seen = state.signed[person].indices  # started, seen, or "not interested"
        condition = access.condition("i")
        if condition is None:
            return np.asarray(seen, dtype=np.int64)
        if condition not in state.hidden:  # once per kind of limit, not once per person
            visible = [int(r[0]) for r in self.db.query(
                f"SELECT i.id FROM items i WHERE i.kind IN ('movie', 'show') AND {condition}")]  # fmt: skip
            state.hidden[condition] = np.flatnonzero(~np.isin(state.titles.ids, visible))
        return np.union1d(seen, state.hidden[condition]).astype(np.int64)

    def _pick(
        self, state: _Run, scores: np.ndarray, excluded: np.ndarray, n: int = ROW_SIZE
    ) -> list[int]:
        ranked = engine.top(scores, n * 2, exclude=excluded).tolist()
        return engine.diversify(ranked, lambda t: state.titles.group[t])[:n]

    def _for_you(self, state: _Run, person: int, blended: np.ndarray, excluded: np.ndarray) -> _Row:
        picks = self._pick(state, blended, excluded)
        finished = state.viewing.finished[person]
        reasons = self._reasons(
            state, sp.csr_matrix(state.viewing.weights[person].multiply(finished)), picks
        )
        items = [
            (int(state.titles.ids[t]), reasons[n], float(blended[t])) for n, t in enumerate(picks)
        ]
        return _Row("for-you", "Recommended for you", items)

    def _reasons(self, state: _Run, history: sp.csr_matrix, picks: list[int]) -> list[str]:
        """For each pick, the title in this person's history that did most to put it there:
        by co-watching first, else by likeness, else the household's taste."""
        reasons = ["Popular in your household"] * len(picks)
        if not picks or not history.nnz:
            return reasons
        for similarity, words in ((state.model.content, "Like"),
                                  (state.model.co_watching, "Because you watched")):  # fmt: skip
            part = similarity[history.indices][:, picks].toarray() * history.data[:, None]
            best = part.argmax(axis=0)
            for n, anchor in enumerate(best):
                if part[anchor, n] > 0:
                    reasons[n] = f"{words} {state.titles.names[int(history.indices[anchor])]}"
        return reasons

    def _anchors(self, state: _Run, person: int, count: int) -> list[int]:
        """The titles this person finished, most recently played first (a film given up
        on is no reason to suggest anything)."""
        played = state.viewing.recency[person]
        done = np.isin(played.indices, state.viewing.finished[person].indices)
        titles, when = played.indices[done], played.data[done]
        return [int(t) for t in titles[np.argsort(-when, kind="stable")][:count]]

    def _because(self, state: _Run, person: int, excluded: np.ndarray) -> list[_Row]:
        rows = []
        for anchor in self._anchors(state, person, 2):
            scores = state.model.co_watching[anchor].toarray().ravel()
            name = state.titles.names[anchor]
            picks = self._pick(state, scores, excluded)
            rows.append(_Row(f"because-{int(state.titles.ids[anchor])}", f"Because you watched {name}",
                             [(int(state.titles.ids[t]), f"Watched by people who watched {name}",
                               float(scores[t])) for t in picks]))  # fmt: skip
        return rows

    def _more_like(self, state: _Run, person: int, excluded: np.ndarray) -> list[_Row]:
        for anchor in self._anchors(state, person, 5):
            scores = state.model.content[anchor].toarray().ravel()
            picks = self._pick(state, scores, excluded)
            if len(picks) >= _MIN_ROW:
                name = state.titles.names[anchor]
                return [_Row(f"more-like-{int(state.titles.ids[anchor])}", f"More like {name}",
                             [(int(state.titles.ids[t]), f"Like {name}", float(scores[t]))
                              for t in picks])]  # fmt: skip
        return []

    def _trending(self, state: _Run, excluded: np.ndarray) -> _Row:
        scores = state.model.popularity
        picks = self._pick(state, scores, excluded)
        return _Row("trending", "Trending in your household", [
            (int(state.titles.ids[t]), "Watched a lot here lately", float(scores[t])) for t in picks
        ])  # fmt: skip

    def _liked(self, state: _Run, user_id: int, excluded: np.ndarray) -> _Row:
        """Cold start: titles in the genres this person picked, popular ones first."""
        liked = {str(r[0]).lower() for r in self.db.query(
            "SELECT genre FROM liked_genres WHERE user_id = ?", [user_id])}  # fmt: skip
        if not liked:
            return _Row("likes", "Picked for you", [])
        matches = np.asarray([len(liked & set(t["genre"])) for t in state.titles.tags], np.float32)
        popularity = state.model.popularity_scores(1)[0]
        scores = matches * (1.0 + popularity)
        picks = self._pick(state, scores, excluded)
        return _Row("likes", "Picked for you", [
            (int(state.titles.ids[t]), "In genres you like: " + ", ".join(
                sorted(g.title() for g in liked & set(state.titles.tags[t]["genre"]))), float(scores[t]))
            for t in picks
        ])  # fmt: skip

    def _plugins(self, state: _Run, user_id: int, excluded: np.ndarray) -> _Row:
        offered = self.candidates(user_id) if self.candidates is not None else []
        skip = {int(state.titles.ids[t]) for t in excluded}
        items = [(int(i), str(reason), 0.0) for i, reason in offered
                 if int(i) in state.titles.position and int(i) not in skip][:ROW_SIZE]  # fmt: skip
        return _Row("plugins", "Suggested for you", items)


def _lower_this_threads_priority() -> None:
    """Nice 10 for the thread the job runs on (Linux schedules threads one by one), so a
    big run leaves the cores to playback and the API first."""
    if hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
        try:
            current = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), max(current, 10))
        except OSError:
            pass  # not allowed here: run at the normal priority


@dataclass(frozen=True, slots=True)
class _Row:
    key: str
    title: str
    items: list[tuple[int, str, float]]  # (item id, reason, score)


def _store(db: sqlite_utils.Database, people: list[int], rows: list[list[_Row]], at: str) -> None:
    """Replace these people's rows (a removed person's are gone with them)."""
    db.conn.executemany("DELETE FROM recommendations WHERE user_id = ?", [(p,) for p in people])
    db.conn.executemany(
        """INSERT INTO recommendations (user_id, row_key, position, row_title, item_id, reason,
               score, computed_at)
           SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM items WHERE id = ?)""",
        [(person, row.key, n, row.title, item, reason, score, at, item)
         for person, person_rows in zip(people, rows, strict=True)
         for row in person_rows for n, (item, reason, score) in enumerate(row.items)],
    )  # fmt: skip
