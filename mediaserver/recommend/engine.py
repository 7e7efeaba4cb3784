"""The arithmetic of recommendations, on numpy arrays and scipy sparse matrices.

Nothing here knows about the catalog: rows are people, columns are titles (films and
shows; an episode counts for its show), both by position.  ``W`` holds how much each
person's viewing says about their taste (completion, fading with age).  Everything is
computed in blocks so that 10,000 people × 20,000 titles stays well under a gigabyte:

- :func:`neighbours`: for each row of a matrix, its ``k`` most similar rows (cosine);
  on ``W``'s columns that is item-to-item co-watching, on a feature matrix it is "more like".
- :func:`tfidf`: overview texts as a sparse TF-IDF matrix (a few lines of scipy; see
  docs/decisions.md for why not scikit-learn).
- :func:`scores`: each person's score for every title from their history and a similarity.
- :func:`decayed_popularity`: trending, each play fading with a half-life.
- :func:`top`, :func:`diversify`: the best few, with no more than two of one show or
  collection in a row.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = [
    "BLOCK",
    "Mix",
    "Model",
    "blocks",
    "decayed_popularity",
    "diversify",
    "fit",
    "neighbours",
    "normalize_rows",
    "scores",
    "tfidf",
    "top",
]

BLOCK = 512  # rows computed at once: 512 × 20,000 float32 is 40 MB
_WORD = re.compile(r"[^\W\d_]{3,}")
_STOP = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "his",
        "her",
        "their",
        "they",
        "them",
        "who",
        "into",
        "when",
        "where",
        "what",
        "after",
        "before",
        "over",
        "about",
        "while",
        "has",
        "have",
        "had",
        "was",
        "were",
        "are",
        "its",
        "one",
        "two",
        "out",
        "off",
        "but",
    ]
)


def normalize_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Each row scaled to length 1 (rows of zeros stay zero)."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix)


def blocks(count: int, size: int = BLOCK) -> Iterator[slice]:
    for start in range(0, count, size):
        yield slice(start, min(start + size, count))


def neighbours(
    rows: sp.csr_matrix,
    k: int = 50,
    *,
    min_similarity: float = 1e-6,
    prefer: np.ndarray | None = None,
) -> sp.csr_matrix:
    """For each row, its ``k`` nearest other rows by cosine, as a sparse rows × rows matrix.

    ``rows`` is items × anything: ``W.T`` (co-watching) or item features (content).  Ties
    (many films share one genre) go to the rows ``prefer`` scores higher (popularity),
    instead of to whichever ``argpartition`` met first."""
    nudge = None
    if prefer is not None and prefer.size and float(prefer.max()) > 0:
        nudge = (1e-3 * prefer / float(prefer.max())).astype(np.float32)
    unit = sp.csr_matrix(normalize_rows(sp.csr_matrix(rows, dtype=np.float32)))
    transposed = sp.csr_matrix(unit.T)
    count = unit.shape[0]
    k = max(0, min(k, count - 1))

    def nearest(block: slice) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(columns, similarities, how many per row) of one block of rows."""
        similar = (unit[block] @ transposed).toarray()
        similar[np.arange(similar.shape[0]), np.arange(block.start, block.stop)] = 0.0  # not itself
        if k == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(similar.shape[0], int)
        rank = -similar if nudge is None else -(similar + nudge)  # the nudge only orders ties
        if k < count:
            best = np.argpartition(rank, k - 1, axis=1)[:, :k]
        else:
            best = np.broadcast_to(np.arange(count), similar.shape)
        values = np.take_along_axis(similar, best, axis=1)
        keep = values > min_similarity
        return best[keep], values[keep], keep.sum(axis=1)

    # Two blocks at a time: scipy's product and numpy's partition let go of the GIL, so a
    # second core halves the job's longest step (bench/recommend_job.py).
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        parts = list(pool.map(nearest, blocks(count)))
    indices = [p[0] for p in parts]
    data = [p[1] for p in parts]
    indptr = (
        np.concatenate([[0], np.cumsum(np.concatenate([p[2] for p in parts]))]) if parts else [0]
    )
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, np.float32),
            np.concatenate(indices) if indices else np.zeros(0, np.int32),
            np.asarray(indptr),
        ),
        shape=(count, count),
    )


def tfidf(texts: Sequence[str], *, min_df: int = 2, max_share: float = 0.5) -> sp.csr_matrix:
    """Texts as rows of TF-IDF weights, words seen in at least ``min_df`` texts and in no
    more than ``max_share`` of them; rows of length 1."""
    tokenized = [[w for w in _WORD.findall(text.lower()) if w not in _STOP] for text in texts]
    document_frequency = Counter(w for words in tokenized for w in set(words))
    limit = max_share * len(texts)
    vocabulary = {
        w: n
        for n, w in enumerate(
            sorted(w for w, df in document_frequency.items() if min_df <= df <= limit)
        )
    }
    rows, cols, values = [], [], []
    for r, words in enumerate(tokenized):
        for word, count in Counter(w for w in words if w in vocabulary).items():
            rows.append(r)
            cols.append(vocabulary[word])
            idf = np.log((1 + len(texts)) / (1 + document_frequency[word])) + 1
            values.append((1 + np.log(count)) * idf)
    matrix = sp.csr_matrix(
        (np.asarray(values, np.float32), (rows, cols)), shape=(len(texts), len(vocabulary))
    )
    return normalize_rows(matrix)


def scores(
    weights: sp.csr_matrix,
    similarity: sp.csr_matrix | Callable[[sp.csr_matrix], np.ndarray],
    users: slice,
) -> np.ndarray:
    """Dense scores (people in ``users`` × titles): each title's similarity to what they
    watched, weighted.  ``similarity`` is an items × items matrix, or a function from a
    block of ``weights`` to its scores (content profiles go through features)."""
    block = weights[users]
    if callable(similarity):
        return similarity(block)
    return np.asarray((block @ similarity).toarray(), dtype=np.float32)


def decayed_popularity(
    items: np.ndarray, ages_days: np.ndarray, count: int, *, half_life_days: float = 7.0
) -> np.ndarray:
    """Trending: every play of ``items[n]`` ``ages_days[n]`` days ago counts 0.5^(age/half-life)."""
    weights = np.power(0.5, np.maximum(ages_days, 0) / half_life_days)
    return np.bincount(items, weights=weights, minlength=count).astype(np.float32)


def top(row: np.ndarray, n: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """Positions of the ``n`` highest positive scores, best first, never those in ``exclude``."""
    values = row.astype(np.float32, copy=True)
    if exclude is not None and exclude.size:
        values[exclude] = -np.inf
    candidates = np.flatnonzero(values > 0)
    if candidates.size > n:
        candidates = candidates[np.argpartition(-values[candidates], n - 1)[:n]]
    return candidates[np.argsort(-values[candidates], kind="stable")]


def diversify(
    ranked: Sequence[int], group_of: Callable[[int], Hashable | None], *, max_run: int = 2
) -> list[int]:
    """The same items, reordered so that no more than ``max_run`` of one group (a show, a
    collection) come in a row; an item is moved down only as far as it must."""
    counts = Counter(g for g in map(group_of, ranked) if g is not None)
    if all(n <= max_run for n in counts.values()):
        return list(ranked)  # nothing to move: most titles are in no collection
    waiting = list(ranked)
    out: list[int] = []
    while waiting:
        run = out[-max_run:]
        last_group = group_of(run[-1]) if run else None
        blocked = (
            last_group is not None
            and len(run) == max_run
            and all(group_of(i) == last_group for i in run)
        )
        pick = next(
            (n for n, i in enumerate(waiting) if not blocked or group_of(i) != last_group), 0
        )
        out.append(waiting.pop(pick))
    return out


@dataclass(frozen=True, slots=True)
class Mix:
    """How much each signal counts in the blend; each is first scaled to at most 1."""

    co_watching: float = 1.0  # bench/recommend_eval.py chose these (docs/performance.md)
    content: float = 0.35
    popularity: float = 0.2


@dataclass(frozen=True)
class Model:
    """Everything a run learns: title-to-title similarities and how popular each title is."""

    co_watching: sp.csr_matrix  # titles × titles, k nearest by who watched both
    content: sp.csr_matrix  # titles × titles, k nearest by genres, people, words...
    popularity: np.ndarray  # trending, per title

    @property
    def titles(self) -> int:
        return int(self.co_watching.shape[0])

    def co_watching_scores(self, weights: sp.csr_matrix, users: slice) -> np.ndarray:
        return scores(weights, self.co_watching, users)

    def content_scores(self, weights: sp.csr_matrix, users: slice) -> np.ndarray:
        return scores(weights, self.content, users)

    def popularity_scores(self, count: int) -> np.ndarray:
        peak = float(self.popularity.max()) if self.popularity.size else 0.0
        scaled = self.popularity / peak if peak > 0 else self.popularity
        return np.broadcast_to(scaled, (count, self.titles))

    def blended_scores(self, weights: sp.csr_matrix, users: slice, mix: Mix = Mix()) -> np.ndarray:
        """The blend for a block of people: every signal scaled to its best, then weighted."""
        count = users.stop - users.start
        if not self.titles:
            return np.zeros((count, 0), dtype=np.float32)  # an empty library
        total = mix.popularity * self.popularity_scores(count)
        seen = weights[users].nonzero()
        for signal, weight in ((self.co_watching_scores, mix.co_watching),
                               (self.content_scores, mix.content)):  # fmt: skip
            part = signal(weights, users)
            part[seen] = 0.0  # scaled to the best title they could be offered, not one seen
            peak = part.max(axis=1, keepdims=True)
            peak[peak == 0] = 1.0
            total = total + weight * (part / peak)
        return np.asarray(total, dtype=np.float32)


def fit(
    weights: sp.csr_matrix,
    features: sp.csr_matrix | None = None,
    popularity: np.ndarray | None = None,
    *,
    k: int = 50,
) -> Model:
    """Learn from ``weights`` (people × titles) and ``features`` (titles × features)."""
    titles = weights.shape[1]
    empty = sp.csr_matrix((titles, titles), dtype=np.float32)
    popular = (
        popularity
        if popularity is not None
        else np.asarray((weights > 0).sum(axis=0), dtype=np.float32).ravel()
    )
    return Model(
        co_watching=neighbours(sp.csr_matrix(weights.T), k),
        content=neighbours(features, k, prefer=popular)
        if features is not None and features.shape[1]
        else empty,
        popularity=popular,
    )
