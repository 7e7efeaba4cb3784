"""The sort and filter parameters of ``/api/v1/items`` and the library page, read once.

Both take the same words and refuse a bad value the same way: a 400 that names the
parameter and says what would do.  An empty value means "no filter" (a form sends
``year=`` for an empty box).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from litestar.params import QueryParameter

from mediaserver.api.errors import invalid_parameter
from mediaserver.library.browse import (
    LETTERS,
    RESOLUTIONS,
    STATUSES,
    ItemQuery,
    Resolution,
    Status,
)

__all__ = ["DOCS", "Filters", "one_of", "read_filters"]

# The patterns are the canonical forms, for the schema only: read_filters also forgives
# spaces and capitals, and answers a wrong value in words rather than "does not match".
_YES_NO = "^(true|false|1|0|yes|no|on|off)$"


def _doc(description: str, pattern: str | None = None) -> QueryParameter:
    return QueryParameter(
        description=description, schema_extra={"pattern": pattern} if pattern else None
    )


DOCS: dict[str, QueryParameter] = {
    "year": _doc("A year: 1999.", "^(1[89][0-9]{2}|2[01][0-9]{2}|2200)$"),
    "decade": _doc(
        "A decade by its first year: 1990 is 1990 to 1999.", "^(1[89][0-9]0|2[01][0-9]0|2200)$"
    ),
    "content_rating": _doc("A content rating as stored (PG-13, FSK 16)."),
    "resolution": _doc(
        "The main video's size: 4k, 1080p, 720p or sd (a show: any episode).",
        f"^({'|'.join(RESOLUTIONS)})$",
    ),
    "hdr": _doc("true: HDR video only (PQ or HLG); false: none.", _YES_NO),
    "status": _doc(
        "The viewer's: watched, unwatched (in progress included) or in_progress.",
        f"^({'|'.join(STATUSES)})$",
    ),
    "favourite": _doc("true: the viewer's favourites only; false: the rest.", _YES_NO),
    "starts": _doc(
        "With sort=title: start at the first title beginning with this letter "
        "(A-Z, or # for digits and signs); offset counts on from there.",
        "^[A-Za-z#]$",
    ),
}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True, slots=True)
class Filters:
    year: int | None = None
    decade: int | None = None
    content_rating: str | None = None
    resolution: Resolution | None = None
    hdr: bool | None = None
    status: Status | None = None
    favourite: bool | None = None
    starts: str | None = None

    def query(self, **fields: Any) -> ItemQuery:
        """An :class:`~mediaserver.library.browse.ItemQuery` with these filters and ``fields``."""
        return ItemQuery(
            year=self.year,
            decade=self.decade,
            content_rating=self.content_rating,
            resolution=self.resolution,
            hdr=self.hdr,
            status=self.status,
            favourite=self.favourite,
            **fields,
        )


def read_filters(params: Mapping[str, str], sort: str = "title") -> Filters:
    """The filters in a request's query ``params``, each checked as a person typed it; a
    400 in words for the first bad one."""
    first_year = _year("decade", params.get("decade"))
    if first_year is not None and first_year % 10:
        raise invalid_parameter(
            "decade", f"“{first_year}” is not the start of a decade; use {first_year // 10 * 10}."
        )
    letter = _text(params.get("starts"))
    if letter is not None:
        letter = letter.upper()
        if len(letter) != 1 or letter not in LETTERS:
            raise invalid_parameter(
                "starts", f"“{letter[:20]}” is not a letter; use A to Z, or # for digits."
            )
        if sort != "title":
            raise invalid_parameter("starts", "jumping to a letter needs sort=title.")
    return Filters(
        year=_year("year", params.get("year")),
        decade=first_year,
        content_rating=_text(params.get("content_rating")),
        resolution=cast(
            Resolution | None, one_of("resolution", params.get("resolution"), RESOLUTIONS)
        ),
        hdr=_flag("hdr", params.get("hdr")),
        status=cast(Status | None, one_of("status", params.get("status"), STATUSES)),
        favourite=_flag("favourite", params.get("favourite")),
        starts=letter,
    )


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text or None


_YEAR = re.compile(r"[0-9]{4}")  # ASCII: str.isdigit() also takes "²", int() does not


def _year(key: str, value: str | None) -> int | None:
    text = _text(value)
    if text is None:
        return None
    if not _YEAR.fullmatch(text) or not 1800 <= int(text) <= 2200:
        raise invalid_parameter(key, f"“{text[:20]}” is not a year; type one like 1999.")
    return int(text)


def one_of(key: str, value: str | None, allowed: Sequence[str]) -> str | None:
    """``value`` in lower case if it is one of ``allowed``; None when empty; else a 400."""
    text = _text(value)
    if text is None:
        return None
    if text.lower() not in allowed:
        raise invalid_parameter(key, f"“{text[:20]}” is not one of {', '.join(allowed)}.")
    return text.lower()


def _flag(key: str, value: str | None) -> bool | None:
    text = _text(value)
    if text is None:
        return None
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise invalid_parameter(key, f"“{text[:20]}” is neither true nor false.")
