"""Counts and moments the way people say them: "1 title", "today 14:05".

Stored times are UTC (ISO 8601 with a ``Z``); people read the server's local time, the
same clock the analytics charts use.  Nearby moments are named by their day ("today",
"yesterday", "tomorrow"), those within about half a year by weekday and date, older ones
by date alone.  Plain functions, no web framework: the templates' filters
(``ui/filters.py``), the activity log and the command line all use them.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

__all__ = ["full_moment", "local_iso", "moment", "parse_moment", "plural"]

_NEAR_DAYS = 183  # closer than this: "Mon 3 Dec 14:05"; further: "3 Dec 2025"
_NAMED = {0: "today", -1: "yesterday", 1: "tomorrow"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 title``, ``0 titles``, ``1,234 titles``; ``many`` for other plurals
    (``plural(n, "person", "people")``)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def parse_moment(value: datetime | str | None) -> datetime | None:
    """A stored time as an aware datetime (a time without a zone is UTC); None for none
    or for text that is not a time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment_ = value
    else:
        try:
            moment_ = datetime.fromisoformat(value)
        except ValueError:
            return None
    return moment_ if moment_.tzinfo is not None else moment_.replace(tzinfo=UTC)


def _local(value: datetime, tz: tzinfo | None) -> datetime:
    return value.astimezone(tz) if tz is not None else value.astimezone()


def moment(
    value: datetime | str | None, *, now: datetime | None = None, tz: tzinfo | None = None
) -> str:
    """``today 14:05``, ``yesterday 09:12``, ``tomorrow 03:00``, ``Mon 3 Dec 14:05``, or
    ``3 Dec 2025`` when it is half a year or more away; in the server's local time (``tz``
    for tests).  Empty for no time; text that is not a time comes back as it was."""
    when = parse_moment(value)
    if when is None:
        return "" if value is None else str(value)
    local = _local(when, tz)
    today = _local(now or datetime.now(UTC), tz).date()
    days = (local.date() - today).days
    clock = f"{local:%H:%M}"
    if days in _NAMED:
        return f"{_NAMED[days]} {clock}"
    if abs(days) < _NEAR_DAYS:
        return f"{local:%a} {local.day} {local:%b} {clock}"
    return f"{local.day} {local:%b %Y}"


def full_moment(value: datetime | str | None, *, tz: tzinfo | None = None) -> str:
    """The whole local time, for a tooltip: ``Wednesday 3 December 2025, 14:05:09``."""
    when = parse_moment(value)
    if when is None:
        return ""
    local = _local(when, tz)
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M:%S}"


def local_iso(value: datetime | str | None, *, tz: tzinfo | None = None) -> str:
    """The local time as ISO 8601 with its offset, for ``<time datetime=...>``."""
    when = parse_moment(value)
    return _local(when, tz).isoformat(timespec="seconds") if when is not None else ""
