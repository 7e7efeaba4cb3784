"""Matching what was typed in the search box: titles (typos forgiven), people and genres.

Titles are found in two steps.  First ``items_fts``: every typed word must begin a word of
the title, original title, overview or cast (any of its British and American spellings,
``library/spelling.py``; accents folded), ranked by bm25 with the title counting most.
When that finds fewer than :data:`TYPO_BELOW` titles the viewer may see, titles *spelled
nearly like* the words follow: ``titles_trigram`` gives up to :data:`CANDIDATES` titles
sharing the most three-letter pieces with them (counted in SQL: bm25 over a dozen
``OR``-ed trigrams costs three times as much), and each is scored in Python by
:func:`typos`: every word must be in the title with at most one typo (two from eight
letters; a typo is a letter added, missing, changed, or two swapped), fewest typos first.
Edit distance, not difflib's ratio: the ratio forgives letters in another order ("grand"
and "Rwanda" score 0.8), which finds titles nobody meant.  Queries of fewer than three
letters use the first step only.  People are found the same way in ``people_fts`` and
``people_trigram``, near spellings only when no name begins with the words; genres (a few
dozen) are scored in Python.

Every function takes the viewer's SQL condition on ``items i`` (``queries._visible``):
what a viewer may not see is never a candidate, so it cannot crowd out, reorder or reveal
anything.  Typed text reaches FTS5 only as quoted words of letters and digits, so its
syntax (``"``, ``*``, ``NEAR(``, ``AND``, ``-``) is never interpreted.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz.distance import OSA

from mediaserver.db import Database
from mediaserver.db.search_index import fold
from mediaserver.library.spelling import spellings

__all__ = [
    "CANDIDATES",
    "TYPO_BELOW",
    "Typed",
    "allowed_typos",
    "matching_genres",
    "matching_people",
    "title_ids",
    "typos",
    "visible_genres",
]

TYPO_BELOW = 10  # look for near spellings when the words themselves find fewer titles
CANDIDATES = 100  # titles sharing the most trigrams, scored one by one
_POOL = 4 * CANDIDATES  # looked up in items for the viewer's conditions before falling back
_MAX_WORDS = 8
_MAX_WORD = 40  # letters of one word that count
_MAX_TRIGRAMS = 16
_MAX_GRAMS = 20_000  # trigram counts remembered per table until the catalog changes (~2 MB)
# Title matches count most, then the original title and people; the overview least.
_RANK = "bm25(items_fts, 10.0, 6.0, 1.0, 3.0)"


@dataclass(frozen=True, slots=True)
class Typed:
    """The words of a query, folded (lower case, no accents), at most eight, each with
    its other spellings."""

    words: tuple[str, ...]
    spellings: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, text: str) -> Typed:
        found = re.findall(r"\w+", fold(text[:500]))
        words = tuple(w[:_MAX_WORD] for w in found[:_MAX_WORDS])
        return cls(words, tuple(tuple(spellings(w)) for w in words))

    @property
    def short(self) -> bool:
        """Fewer than three letters in all: prefixes only, no near spellings."""
        return sum(len(w) for w in self.words) < 3

    def fts(self, *, other_spellings: bool = True) -> str | None:
        """Every word (in any of its spellings) begins a word: FTS5 syntax, each quoted."""
        if not self.words:
            return None
        forms = self.spellings if other_spellings else tuple((w,) for w in self.words)
        return " AND ".join("(" + " OR ".join(f'"{s}"*' for s in f) + ")" for f in forms)

    def trigrams(self) -> list[str]:
        """The three-letter pieces of the words of three letters or more, as the trigram
        tables hold them (``search_index.search_text``: a space around each word)."""
        padded = [f" {w} " for w in self.words if len(w) >= 3]
        grams = dict.fromkeys(p[i : i + 3] for p in padded for i in range(len(p) - 2))
        return list(grams)[:_MAX_TRIGRAMS]


def _where(conditions: Sequence[str | None]) -> str:
    return "".join(f" AND {c}" for c in conditions if c)


def _weights(db: Database, table: str, grams: Sequence[str]) -> dict[str, float]:
    """How telling each trigram is: log(rows / rows holding it), rare ones most (bm25's
    idea, for a fraction of its cost).  Trigrams in more than a quarter of the rows are
    left out when others remain: they tell little and cost the most to read.  Counts are
    remembered until the catalog changes (typing the next letter asks for the same ones)."""
    counts: dict[str, int] = db.memo(("trigram-counts", table), dict)
    if len(counts) > _MAX_GRAMS:  # typed text has endless trigrams: start again
        counts.clear()
    if "" not in counts:
        counts[""] = int(db.query(f"SELECT count(*) FROM {table}")[0][0])
    for gram in grams:
        if gram not in counts:
            found = db.query(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", [f'"{gram}"'])
            counts[gram] = int(found[0][0])
    rows = counts[""] + 1
    weights = {g: math.log(rows / counts[g]) for g in grams if counts[g]}
    telling = {g: w for g, w in weights.items() if w > math.log(4)}
    return telling or weights


def _candidates(
    db: Database,
    typed: Typed,
    table: str,
    select: str,
    conditions: Sequence[str | None] = (),
    params: Sequence[Any] = (),
) -> list[Any]:
    """``select`` (a ``SELECT ... FROM c JOIN ...``, ``c.rowid`` being a rowid of the
    trigram ``table``) for the :data:`CANDIDATES` rows sharing the most telling typed
    trigrams (:func:`_weights`) and meeting ``conditions``, best first.

    The shared trigrams are weighed in SQL (bm25 over a dozen ``OR``-ed trigrams costs three
    times as much), and only the best :data:`_POOL` are looked up for the conditions, which
    gives the same rows unless most of those are hidden from the viewer: then all are.
    """
    weights = _weights(db, table, typed.trigrams())
    if not weights:
        return []
    one = f"SELECT rowid, ? AS w FROM {table} WHERE {table} MATCH ?"
    union = " UNION ALL ".join([one] * len(weights))
    grams = [v for g, w in weights.items() for v in (w, f'"{g}"')]
    rows: list[Any] = []
    for pool in (f"LIMIT {_POOL}", ""):
        shared = f"SELECT rowid, sum(w) AS n FROM ({union}) GROUP BY rowid ORDER BY n DESC {pool}"
        rows = db.query(
            f"{select.replace('FROM c', f'FROM ({shared}) c', 1)} WHERE 1 {_where(conditions)}"
            f" ORDER BY c.n DESC LIMIT {CANDIDATES}",
            [*grams, *params],
        )
        if len(rows) >= CANDIDATES:
            break
    return rows


def title_ids(
    db: Database, text: str, conditions: Sequence[str] = (), params: Sequence[Any] = ()
) -> list[int]:
    """Ids of the titles matching ``text``, best first: word matches, then near spellings.

    ``conditions`` on ``items i`` (with ``params``, in order) narrow what may be found: the
    viewer's access and any filter.  Remembered until the catalog changes.
    """
    typed = Typed.parse(text)
    key = ("title-search", typed.words, tuple(conditions), tuple(params))
    return db.memo(key, lambda: _title_ids(db, typed, conditions, params))


def _title_ids(
    db: Database, typed: Typed, conditions: Sequence[str], params: Sequence[Any]
) -> list[int]:
    match = typed.fts()
    if match is None:
        return []
    if conditions:
        sql = f"""SELECT i.id FROM items_fts JOIN items i ON i.id = items_fts.rowid
                  WHERE items_fts MATCH ? {_where(conditions)} ORDER BY {_RANK}"""
    else:  # rank inside the index alone, no join needed
        sql = f"SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY {_RANK}"
    ids = [int(r[0]) for r in db.query(sql, [match, *params])]
    if len(ids) >= TYPO_BELOW or typed.short or not typed.trigrams():
        return ids
    select = "SELECT i.id, i.title, i.original_title FROM c JOIN items i ON i.id = c.rowid"
    rows = _candidates(db, typed, "titles_trigram", select, conditions, params)
    return ids + _nearest(typed, rows, exclude=set(ids))


def _nearest(typed: Typed, rows: Sequence[Sequence[Any]], exclude: set[int]) -> list[int]:
    """Ids of ``rows`` (id, name, other name...) spelled nearly like ``typed``, best first."""
    scored: list[tuple[tuple[int, int], int, int]] = []
    for n, row in enumerate(rows):
        if row[0] in exclude:
            continue
        scores = [s for name in row[1:] if name and (s := typos(typed, name)) is not None]
        if scores:
            scored.append((min(scores), n, int(row[0])))
    return [row_id for _, _, row_id in sorted(scored)]


def allowed_typos(word: str) -> int:
    """Typos forgiven in a word of this length: none below 3 letters, 2 from 8."""
    return 0 if len(word) < 3 else 1 if len(word) < 8 else 2


@functools.lru_cache(maxsize=8192)  # titles share words: "the", a series' name
def _edits(word: str, name: str, *, beginning: bool = False) -> tuple[int, int]:
    """(edits from ``word`` to ``name``, 0); with ``beginning``, to its beginning too, then
    (edits, 1).  A beginning counts for a word of five letters or more: "gray" is one
    typo from the beginning of "grand", but nobody meant it."""
    limit = allowed_typos(word)
    best = (OSA.distance(word, name, score_cutoff=limit), 0)
    if beginning and len(word) >= 5 and len(name) > len(word) and best[0] > 0:
        for length in (len(word) - 1, len(word), len(word) + 1):
            if length >= 3:
                best = min(best, (OSA.distance(word, name[:length], score_cutoff=limit), 1))
    return best


def typos(typed: Typed, text: str) -> tuple[int, int] | None:
    """How far ``text`` is from what was typed: (typos, words found only by a beginning
    with typos), or None when a word is not in it even with the typos its length allows
    (:func:`allowed_typos`: "strar" is "star" with one).

    A word counts at once when it begins a word of ``text`` in any of its spellings;
    otherwise the nearest word to any of its spellings counts (or a word's beginning, for
    the last word, which may be still being typed).  The words run together are
    also tried against the start of ``text`` run together, for "starwars" or "godfather2".
    """
    names = re.findall(r"\w+", fold(text))
    if not typed.words or not names:
        return None
    total: tuple[int, int] | None = (0, 0)
    last = len(typed.words) - 1
    for n, (word, forms) in enumerate(zip(typed.words, typed.spellings, strict=True)):
        if any(name.startswith(f) for f in forms for name in names):
            continue
        edits, beginning = min(
            _edits(form, name, beginning=n == last) for form in forms for name in names
        )
        if edits > allowed_typos(word):
            total = None
            break
        assert total is not None
        total = (total[0] + edits, total[1] + beginning)
    glued = "".join(typed.words)
    together = _edits(glued, "".join(names), beginning=True)
    if together[0] > allowed_typos(glued):
        return total
    return together if total is None else min(total, together)


def _visible_person(condition: str | None) -> str:
    return f"""EXISTS (SELECT 1 FROM item_people ip JOIN items i ON i.id = ip.item_id
               WHERE ip.name = p.name COLLATE NOCASE {_where([condition])})"""


def matching_people(
    db: Database, text: str, condition: str | None, *, near: bool = True, limit: int = 12
) -> list[dict[str, Any]]:
    """People whose name matches ``text`` and who are in a title the viewer may see:
    ``{"id", "name", "title_count"}``, best first.  With ``near``, names spelled nearly
    like ``text`` when none begins with its words."""
    typed = Typed.parse(text)
    return db.memo(
        ("people-search", typed.words, condition, near, limit),
        lambda: _matching_people(db, typed, condition, near, limit),
    )


def _matching_people(
    db: Database, typed: Typed, condition: str | None, near: bool, limit: int
) -> list[dict[str, Any]]:
    match = typed.fts(other_spellings=False)
    if match is None:
        return []
    visible = _visible_person(condition)
    rows = db.query(
        f"""SELECT p.id FROM people_fts JOIN people p ON p.id = people_fts.rowid
            WHERE people_fts MATCH ? AND {visible} ORDER BY people_fts.rank LIMIT ?""",
        [match, limit],
    )
    ids = [int(r[0]) for r in rows]
    if near and not ids and not typed.short and typed.trigrams():
        select = "SELECT p.id, p.name FROM c JOIN people p ON p.id = c.rowid"
        rows = _candidates(db, typed, "people_trigram", select, [visible])
        ids = _nearest(typed, rows, exclude=set())[:limit]
    return _with_title_counts(db, ids, condition)


def _with_title_counts(
    db: Database, ids: Sequence[int], condition: str | None
) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = db.query(
        f"""SELECT p.id, p.name, (SELECT count(DISTINCT ip.item_id) FROM item_people ip
                                  JOIN items i ON i.id = ip.item_id
                                  WHERE ip.name = p.name COLLATE NOCASE {_where([condition])})
            FROM people p WHERE p.id IN ({",".join("?" * len(ids))})""",
        list(ids),
    )
    by_id = {int(r[0]): {"id": int(r[0]), "name": r[1], "title_count": int(r[2])} for r in rows}
    return [by_id[i] for i in ids if i in by_id]


def visible_genres(db: Database, condition: str | None) -> dict[str, int]:
    """Each genre of the films and shows the viewer may see, with how many there are."""

    def count() -> dict[str, int]:
        rows = db.query(
            f"""SELECT min(ig.genre), count(*) FROM item_genres ig JOIN items i ON i.id = ig.item_id
                WHERE i.kind IN ('movie', 'show') {_where([condition])}
                GROUP BY ig.genre ORDER BY ig.genre"""
        )
        return {r[0]: int(r[1]) for r in rows}

    return db.memo(("genre-counts", condition), count)


def matching_genres(
    db: Database, text: str, condition: str | None, limit: int = 8
) -> list[dict[str, Any]]:
    """Genres named like ``text`` (a word's beginning, or near spellings) that the viewer
    has films or shows of: ``{"name", "title_count"}``, best first."""
    typed = Typed.parse(text)
    if not typed.words:
        return []
    scored = []
    for name, count in visible_genres(db, condition).items():
        score = typos(typed, name)
        if score is not None:
            scored.append((score, -count, name))
    return [{"name": name, "title_count": -count} for _, count, name in sorted(scored)[:limit]]
