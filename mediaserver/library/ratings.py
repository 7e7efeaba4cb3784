"""Content ratings ("PG-13", "TV-MA", "FSK 16", "12") as the age they are meant for.

A household limit is one number, so every rating system is read onto one scale: the
youngest age a rating allows without a parent.  The table covers what NFO files and
container tags carry in practice (US film and TV, the UK's BBFC, Germany's FSK, plain ages
as in most of Europe), with an optional country prefix (``US:PG-13``, ``de/16``,
``Rated R``).  Anything else counts as unrated, and unrated items are hidden from a
restricted viewer unless their account says otherwise: a guess could show a child a film
no one checked.
"""

from __future__ import annotations

import re

__all__ = ["ADULT_AGE", "KNOWN_RATINGS", "rating_age"]

ADULT_AGE = 18

# Keys are upper-case with spaces, dashes and underscores removed.
_AGES: dict[str, int] = {
    # US films (MPA)
    "G": 0,
    "PG": 10,
    "PG13": 13,
    "R": 17,
    "NC17": 18,
    "X": 18,
    # US television
    "TVY": 0,
    "TVG": 0,
    "TVY7": 7,
    "TVY7FV": 7,
    "TVPG": 10,
    "TV14": 14,
    "TVMA": 17,
    # UK (BBFC)
    "U": 0,
    "UC": 0,
    "12A": 12,
    "R18": 18,
    # Germany (FSK); plain numbers below cover "FSK 12"
    "FSK0": 0,
    "FSK6": 6,
    "FSK12": 12,
    "FSK16": 16,
    "FSK18": 18,
    # Games-style labels that turn up on anime and documentaries
    "E": 0,
    "ALL": 0,
    "T": 13,
    "M": 17,
    "AO": 18,
}
_UNRATED = frozenset({"NR", "UR", "UNRATED", "NOTRATED", "NONE", "UNKNOWN", "TBD"})
KNOWN_RATINGS: tuple[str, ...] = (
    "G", "PG", "PG-13", "R", "NC-17", "TV-Y", "TV-Y7", "TV-G", "TV-PG", "TV-14", "TV-MA",
    "U", "12A", "15", "18", "FSK 6", "FSK 12", "FSK 16",
)  # fmt: skip
_PREFIX = re.compile(r"^(?:RATED\s+|[A-Z]{2,3}\s*[:/]\s*)", re.IGNORECASE)
_AGE = re.compile(r"^(?:AB|AGE|FSK|PEGI|K|M|N|K-)?\s*(\d{1,2})\s*\+?$", re.IGNORECASE)


def rating_age(rating: str | None) -> int | None:
    """The age a rating is meant for, or None when it is missing or not one we know."""
    if not rating:
        return None
    text = rating.strip()
    while (stripped := _PREFIX.sub("", text, count=1)) != text:
        text = stripped.strip()
    if (number := _AGE.match(text)) is not None:
        age = int(number.group(1))
        return age if age <= 21 else None
    key = re.sub(r"[\s_\-]", "", text).upper()
    if key in _UNRATED:
        return None
    return _AGES.get(key)
