"""What a library can be sorted and filtered by, as SQL conditions on ``items i``.

Every value a person chooses travels as a bound parameter; the SQL text comes only from
the fixed fragments here.  Some filters and one sort read the viewer's own state
(watched, in progress, favourites, last played): a query that uses them is *personal*
and is never remembered across requests, since the catalog's memo only knows when the
catalog changes, not when someone presses play.

A show, a season or a collection is judged by what it holds of what the viewer may see:
watched when every such episode (or film) is, in progress when some are started and not
all watched, 4K or HDR when one of its episodes is, last played when its latest episode was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from mediaserver.library.probe import HDR_TRANSFERS
from mediaserver.library.ratings import rating_age

__all__ = [
    "LETTERS",
    "RESOLUTIONS",
    "SORTS",
    "STATUSES",
    "ItemQuery",
    "Resolution",
    "Sort",
    "Status",
    "Visible",
    "conditions",
    "jump_offset",
    "letter_offsets",
    "order",
    "rating_order",
]

Sort = Literal[
    "title",
    "-title",
    "year",
    "-year",
    "added",
    "-added",
    "rating",
    "-rating",
    "runtime",
    "-runtime",
    "played",
    "-played",
]
Status = Literal["watched", "unwatched", "in_progress"]
Resolution = Literal["4k", "1080p", "720p", "sd"]
STATUSES: tuple[str, ...] = get_args(Status)
RESOLUTIONS: tuple[str, ...] = get_args(Resolution)
LETTERS = "#ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# Sorts on the catalog alone.  Unknown ratings and runtimes go last either way.
SORTS: dict[str, str] = {
    "title": "i.sort_title, i.year",
    "-title": "i.sort_title DESC",
    "year": "i.year, i.sort_title",
    "-year": "i.year DESC, i.sort_title",
    "added": "i.added_at, i.id",
    "-added": "i.added_at DESC, i.id DESC",
    "rating": "i.rating NULLS LAST, i.sort_title",
    "-rating": "i.rating DESC NULLS LAST, i.sort_title",
    "runtime": "i.runtime_s NULLS LAST, i.sort_title",
    "-runtime": "i.runtime_s DESC NULLS LAST, i.sort_title",
}


@dataclass(frozen=True, slots=True)
class ItemQuery:
    kind: tuple[str, ...] = ()
    library_id: int | None = None
    parent_id: int | None = None
    q: str | None = None
    genre: str | None = None
    year: int | None = None
    decade: int | None = None  # 1990: 1990 to 1999
    content_rating: str | None = None  # exactly as stored ("PG-13", "FSK 16")
    resolution: Resolution | None = None
    hdr: bool | None = None
    status: Status | None = None  # needs user_id
    favourite: bool | None = None  # needs user_id
    user_id: int | None = None  # whose watched, favourites and plays count
    sort: str = "title"
    limit: int = 50
    offset: int = 0

    @property
    def personal(self) -> bool:
        """Whether the answer depends on the viewer's own state, not on the catalog alone."""
        return self.status is not None or self.favourite is not None or self.sort in _PLAYED


_PLAYED = {"played": "ASC", "-played": "DESC"}

Visible = Callable[[str], "str | None"]  # alias -> the viewer's SQL condition on it


def _everything(alias: str) -> str | None:
    return None


def _playable(visible: Visible) -> str:
    """What ``i`` holds that can be played and the viewer may see: itself (a film, an
    episode), the episodes of a show or season, the films of a collection."""
    seen = f"AND {condition}" if (condition := visible("e")) else ""
    return f"""
    SELECT i.id WHERE i.kind IN ('movie', 'episode')
    UNION ALL SELECT e.id FROM items e WHERE e.parent_id = i.id AND e.kind = 'episode' {seen}
    UNION ALL SELECT e.id FROM items e JOIN items se ON se.id = e.parent_id
              WHERE se.parent_id = i.id AND e.kind = 'episode' {seen}
    UNION ALL SELECT e.id FROM collection_items ci JOIN items e ON e.id = ci.item_id
              WHERE ci.collection_id = i.id {seen}"""


# Each ``?`` in these is the viewer's user id.
def _watched(members: str) -> str:
    return f"""(EXISTS ({members}) AND NOT EXISTS (
    SELECT 1 FROM ({members}) m WHERE NOT EXISTS (
        SELECT 1 FROM progress p WHERE p.user_id = ? AND p.item_id = m.id AND p.watched)))"""


def _status(status: str, members: str) -> str:
    """A film or an episode is in progress with a resume point (as in Continue watching); a
    show, a season or a collection with something started or seen but not everything."""
    if status == "in_progress":
        return f"""(CASE WHEN i.kind IN ('movie', 'episode')
    THEN EXISTS (SELECT 1 FROM progress p
                 WHERE p.user_id = ? AND p.item_id = i.id AND p.position_s > 0)
    ELSE NOT {_watched(members)} AND EXISTS (
        SELECT 1 FROM ({members}) m JOIN progress p ON p.item_id = m.id
        WHERE p.user_id = ? AND (p.watched OR p.position_s > 0)) END)"""
    return _watched(members) if status == "watched" else f"NOT {_watched(members)}"


_FAVOURITE = """EXISTS (SELECT 1 FROM favourites f
    WHERE f.user_id = ? AND f.item_id = i.id AND f.favourite)"""

# The main video of ``m``: its first playable file's first video stream that is a picture
# that moves (not cover art).  Width and height both count: 1920x800 is a 1080p film.
_MAIN_VIDEO = """FROM files f JOIN streams s ON s.file_id = f.id
    WHERE f.item_id = m.id AND f.probe_error IS NULL AND s.type = 'video'
      AND s.external_path IS NULL AND coalesce(s.codec, '') NOT IN ('mjpeg', 'png', 'bmp', 'gif')
    ORDER BY f.id, s.idx LIMIT 1"""
_RESOLUTION_CLASS = f"""(SELECT CASE
    WHEN s.width IS NULL AND s.height IS NULL THEN NULL
    WHEN s.width >= 3200 OR s.height >= 1800 THEN '4k'
    WHEN s.width >= 1600 OR s.height >= 1000 THEN '1080p'
    WHEN s.width >= 1200 OR s.height >= 700 THEN '720p'
    ELSE 'sd' END {_MAIN_VIDEO})"""
_IS_HDR = f"(SELECT s.color_transfer IN ({', '.join('?' * len(HDR_TRANSFERS))}) {_MAIN_VIDEO})"


def conditions(query: ItemQuery, visible: Visible = _everything) -> tuple[list[str], list[Any]]:
    """The ``WHERE`` parts of ``query`` (joined with AND) and their parameters, in order.

    ``visible`` gives the viewer's condition on an alias (``queries._visible``): a show is
    judged by the episodes they may see.  It is built from integers only, so it is inlined.
    """
    where: list[str] = []
    params: list[Any] = []
    members = _playable(visible)

    def add(sql: str, *values: Any) -> None:
        where.append(sql)
        params.extend(values)

    if query.kind:
        add(f"i.kind IN ({','.join('?' * len(query.kind))})", *query.kind)
    for column, value in (
        ("library_id", query.library_id),
        ("parent_id", query.parent_id),
        ("year", query.year),
        ("content_rating", query.content_rating),
    ):
        if value is not None:
            add(f"i.{column} = ?", value)
    if query.decade is not None:
        add("i.year BETWEEN ? AND ?", query.decade, query.decade + 9)
    if query.genre:
        add(
            "EXISTS (SELECT 1 FROM item_genres ig WHERE ig.item_id = i.id AND ig.genre = ?)",
            query.genre,
        )
    if query.resolution is not None:
        add(f"EXISTS (SELECT 1 FROM ({members}) m WHERE {_RESOLUTION_CLASS} = ?)", query.resolution)
    if query.hdr is not None:
        hdr = f"EXISTS (SELECT 1 FROM ({members}) m WHERE {_IS_HDR})"
        add(hdr if query.hdr else f"NOT {hdr}", *HDR_TRANSFERS)
    if query.status is not None:
        sql = _status(query.status, members)
        add(sql, *[_user(query)] * sql.count("?"))
    if query.favourite is not None:
        add(_FAVOURITE if query.favourite else f"NOT {_FAVOURITE}", _user(query))
    return where, params


def order(query: ItemQuery, visible: Visible = _everything) -> tuple[str, list[Any]]:
    """The ``ORDER BY`` of ``query`` and its parameters (the viewer, for last played)."""
    if query.sort in _PLAYED:  # a show by its latest episode; never played: last, by title
        last = f"""(SELECT max(p.last_played_at) FROM ({_playable(visible)}) m
            JOIN progress p ON p.item_id = m.id WHERE p.user_id = ?)"""
        return f"{last} {_PLAYED[query.sort]} NULLS LAST, i.sort_title, i.id", [_user(query)]
    return SORTS[query.sort], []


def _user(query: ItemQuery) -> int:
    if query.user_id is None:
        raise ValueError("watched, favourite and last-played choices need the viewer's user_id")
    return query.user_id


def letter_offsets(first_letters: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Where each letter's titles start, from (first character, count) in title order.

    Titles that begin with a digit or a sign are ``#``; they sort before A.
    """
    offsets: dict[str, int] = {}
    running = 0
    for char, count in first_letters:
        letter = char.upper() if "a" <= char <= "z" else "#"
        offsets.setdefault(letter, running)
        running += count
    return offsets


def jump_offset(offsets: Mapping[str, int], letter: str, total: int) -> int:
    """The offset of ``letter``'s first title; with none, the next letter's (else the end)."""
    for candidate in LETTERS[LETTERS.index(letter) :]:
        if candidate in offsets:
            return offsets[candidate]
    return total


def rating_order(ratings: Iterable[str]) -> list[str]:
    """Content ratings from the youngest audience up; ones no scale knows come last."""
    return sorted(set(ratings), key=lambda r: (rating_age(r) is None, rating_age(r) or 0, r))
