"""The numbers a client sends, range-checked in one place.

SQLite keeps an integer in 64 signed bits, while a Python ``int`` has no bound: an id of
``2**63`` in a path, query or body reached ``sqlite3`` and raised ``OverflowError`` (a 500,
and a page of traceback in the log).  Every id, position and count a route takes is declared
with one of the types below, so a number out of range is a 400 that says so ("item_id: must
be at most 9223372036854775807") before any handler runs, and the OpenAPI schema states the
range a client may use.  Path types go with ``{name:int}`` in the route's path.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar.params import PathParameter, QueryParameter

__all__ = [
    "ID_RANGE",
    "MAX_ID",
    "MAX_OFFSET",
    "MAX_PAGE",
    "CredentialId",
    "FileId",
    "Id",
    "ItemId",
    "LibraryId",
    "Offset",
    "Page",
    "PersonId",
    "Position",
    "QueryId",
    "UserId",
    "in_id_range",
]

MAX_ID = 2**63 - 1  # SQLite's largest INTEGER
MAX_OFFSET = 1_000_000_000  # rows to skip: far past any catalog, small enough to add to
MAX_PAGE = 1_000_000  # pages of a listing, times a page size, stays a small number


def in_id_range(value: int) -> bool:
    """Whether ``value`` can be an id in the catalog (code that reads a path parameter
    before Litestar has checked it, as the guards do, asks this first)."""
    return 1 <= value <= MAX_ID


# Litestar writes bounds into the OpenAPI schema as floats, and float(2**63 - 1) is 2**63:
# the schema would allow the very number that is refused.  The exact integers go in too.
ID_RANGE = {"minimum": 1, "maximum": MAX_ID}

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, extra_json_schema={"extra": ID_RANGE})]
"""An id inside a request body."""


def _path_id(what: str) -> PathParameter:
    return PathParameter(
        ge=1, le=MAX_ID, description=f"The {what}'s id.", schema_extra=dict(ID_RANGE)
    )


ItemId = Annotated[int, _path_id("item")]
LibraryId = Annotated[int, _path_id("library")]
UserId = Annotated[int, _path_id("user")]
PersonId = Annotated[int, _path_id("person")]
FileId = Annotated[int, _path_id("file")]
CredentialId = Annotated[int, _path_id("session or API key")]
Position = Annotated[
    int, PathParameter(ge=0, le=MAX_OFFSET, description="A place in a list, 0 first.")
]

QueryId = Annotated[
    int | None,
    QueryParameter(ge=1, le=MAX_ID, description="An id.", schema_extra=dict(ID_RANGE)),
]
"""An optional id in the query string (``?library_id=3``)."""

Page = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Which page, 1 first.")]

Offset = Annotated[
    int, QueryParameter(ge=0, le=MAX_OFFSET, description="Rows to skip (at most 1,000,000,000).")
]
