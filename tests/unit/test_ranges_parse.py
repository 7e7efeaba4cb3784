"""parse_range_header as a table: RFC 9110 §14 syntax, clamping, coalescing and abuse limits."""

from __future__ import annotations

import os

import pytest

from mediaserver.api.ranges import (
    MAX_RANGES,
    ByteRange,
    RangeNotSatisfiable,
    etag_for,
    parse_range_header,
)

SIZE = 1000


def spans(*pairs: tuple[int, int]) -> list[ByteRange]:
    return [ByteRange(start, end) for start, end in pairs]


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        # no header / ignorable header: serve 200 full
        (None, SIZE, None),
        ("", SIZE, None),
        ("items=0-1", SIZE, None),
        ("bytes", SIZE, None),
        ("bytes=", SIZE, None),
        ("bytes=,", SIZE, None),
        ("bytes=-", SIZE, None),
        ("bytes=abc", SIZE, None),
        ("bytes=1-2-3", SIZE, None),
        ("bytes=5-1", SIZE, None),
        ("bytes=0-1,5-1", SIZE, None),  # one invalid spec spoils the header
        ("bytes=+1-2", SIZE, None),
        ("bytes=1 - 2", SIZE, None),
        ("bytes=\u0661-2", SIZE, None),  # Arabic-Indic digit: int() would take it, RFC not
        ("bytes=0x10-20", SIZE, None),
        # first-last and open-ended ranges
        ("bytes=0-0", SIZE, spans((0, 0))),
        ("bytes=0-499", SIZE, spans((0, 499))),
        ("bytes=100-", SIZE, spans((100, 999))),
        ("bytes=999-", SIZE, spans((999, 999))),
        ("bytes=0-", SIZE, spans((0, 999))),
        ("BYTES=0-1", SIZE, spans((0, 1))),  # the unit is case-insensitive
        (" bytes=0-1 ", SIZE, spans((0, 1))),
        # end beyond size is clamped, also for absurdly long numbers
        ("bytes=500-5000", SIZE, spans((500, 999))),
        ("bytes=1-" + "9" * 5000, SIZE, spans((1, 999))),
        # suffix ranges
        ("bytes=-1", SIZE, spans((999, 999))),
        ("bytes=-500", SIZE, spans((500, 999))),
        ("bytes=-5000", SIZE, spans((0, 999))),
        ("bytes=-" + "9" * 5000, SIZE, spans((0, 999))),
        # several ranges: whitespace and empty elements allowed, sorted, coalesced
        ("bytes=0-1, 5-6", SIZE, spans((0, 1), (5, 6))),
        ("bytes=5-6,0-1", SIZE, spans((0, 1), (5, 6))),
        ("bytes=0-1,,5-6,", SIZE, spans((0, 1), (5, 6))),
        ("bytes=0-10,5-20", SIZE, spans((0, 20))),
        ("bytes=0-10,11-20", SIZE, spans((0, 20))),  # adjacent
        ("bytes=0-10,12-20", SIZE, spans((0, 10), (12, 20))),
        ("bytes=0-100,10-20", SIZE, spans((0, 100))),  # contained
        ("bytes=-10,0-5,990-995", SIZE, spans((0, 5), (990, 999))),
        ("bytes=0-1,2000-3000", SIZE, spans((0, 1))),  # unsatisfiable parts dropped
        ("bytes=0-1,-0", SIZE, spans((0, 1))),
        # abuse limits: serve full
        ("bytes=" + ",".join(f"{i}-{i}" for i in range(0, 2 * MAX_RANGES + 2, 2)), SIZE, None),
        ("bytes=0-,0-,0-", SIZE, None),  # 3000 bytes asked of a 1000-byte file
        ("bytes=0-,0-", SIZE, spans((0, 999))),  # exactly 2x is still fine
    ],
)
def test_parse(header: str | None, size: int, expected: list[ByteRange] | None) -> None:
    assert parse_range_header(header, size) == expected


def test_exactly_max_ranges_is_allowed() -> None:
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(0, 2 * MAX_RANGES, 2))
    assert parse_range_header(header, SIZE) == spans(*((i, i) for i in range(0, 2 * MAX_RANGES, 2)))


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=1000-", SIZE),
        ("bytes=1000-2000", SIZE),
        ("bytes=" + "9" * 5000 + "-", SIZE),
        ("bytes=-0", SIZE),
        ("bytes=1000-,2000-3000", SIZE),
        ("bytes=0-", 0),
        ("bytes=-1", 0),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range_header(header, size)


def test_byte_range_length_and_immutability() -> None:
    r = ByteRange(10, 19)
    assert r.length == 10
    with pytest.raises(AttributeError):
        r.start = 0  # type: ignore[misc]


def test_etag_is_quoted_and_tracks_changes(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "a.bin")
    with open(path, "wb") as f:
        f.write(b"x")
    first = etag_for(os.stat(path))
    assert first.startswith('"') and first.endswith('"') and not first.startswith("W/")
    os.utime(path, ns=(0, 123_456_789))
    assert etag_for(os.stat(path)) != first
