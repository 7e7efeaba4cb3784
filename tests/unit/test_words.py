"""What people read: counts ("1 title") and moments in the server's local time
("today 14:05")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from mediaserver.ui.filters import when
from mediaserver.words import full_moment, moment, plural

HERE = timezone(timedelta(hours=1))  # the server's clock in these tests: UTC+1
NOW = datetime(2026, 12, 3, 14, 30, tzinfo=HERE)  # a Thursday


@pytest.mark.parametrize(
    ("count", "word", "many", "said"),
    [
        (0, "title", None, "0 titles"),
        (1, "title", None, "1 title"),
        (2, "film", None, "2 films"),
        (1234, "episode", None, "1,234 episodes"),
        (1, "person", "people", "1 person"),
        (3, "person", "people", "3 people"),
    ],
)
def test_plural_counts(count: int, word: str, many: str | None, said: str) -> None:
    assert plural(count, word, many) == said


@pytest.mark.parametrize(
    ("stored", "said"),
    [
        ("2026-12-03T13:05:00Z", "today 14:05"),  # stored UTC, read at UTC+1
        ("2026-12-02T08:12:30.123Z", "yesterday 09:12"),
        ("2026-12-03T23:30:00Z", "tomorrow 00:30"),  # after local midnight: tomorrow
        ("2026-11-30T13:05:00Z", "Mon 30 Nov 14:05"),
        ("2026-12-10T02:00:00Z", "Thu 10 Dec 03:00"),
        ("2026-06-20T10:00:00Z", "Sat 20 Jun 11:00"),
        ("2025-12-03T13:05:00Z", "3 Dec 2025"),  # a year ago: the date says enough
        ("2026-12-03T13:05:00", "today 14:05"),  # no zone: stored times are UTC
    ],
)
def test_a_moment_in_words_in_local_time(stored: str, said: str) -> None:
    assert moment(stored, now=NOW, tz=HERE) == said


def test_a_moment_that_is_not_a_time_is_left_as_it_was() -> None:
    assert moment(None) == "" and moment("") == ""
    assert moment("soon-ish", now=NOW, tz=HERE) == "soon-ish"
    assert full_moment("2026-12-03T13:05:09Z", tz=HERE) == "Thursday 3 December 2026, 14:05:09"


def test_the_moment_filter_wraps_the_words_in_a_time_element() -> None:
    recent = datetime.now(UTC) - timedelta(minutes=1)
    html = str(when(recent.strftime("%Y-%m-%dT%H:%M:%SZ")))
    found = re.fullmatch(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', html)
    assert found, html
    local = recent.astimezone()
    assert datetime.fromisoformat(found[1]) == recent.replace(microsecond=0)
    assert found[1].endswith(local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:])
    assert found[2].endswith(local.strftime("%H:%M:%S"))
    assert re.fullmatch(r"(today|yesterday) \d\d:\d\d", found[3])
    assert "Z" not in found[1] and "UTC" not in html
    assert str(when(None, "never")) == "never" and str(when("")) == ""
    assert str(when("<b>")) == "&lt;b&gt;"  # not a time: shown, escaped
