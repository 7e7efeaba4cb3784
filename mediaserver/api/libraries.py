"""``/api/v1/libraries``: the configured folders and what their scans flagged."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from mediaserver.context import AppContext
from mediaserver.library import queries

__all__ = ["LibraryController", "require_library"]


def require_library(ctx: AppContext, library_id: int) -> dict[str, Any]:
    row = ctx.db.query_one("SELECT * FROM libraries WHERE id = ? AND active = 1", [library_id])
    if row is None:
        raise NotFoundException(detail=f"no library with id {library_id}")
    return dict(row)


def _counts(ctx: AppContext, library_id: int) -> dict[str, int]:
    rows = ctx.db.query(
        "SELECT kind, count(*) FROM items WHERE library_id = ? GROUP BY kind", [library_id]
    )
    return {r[0]: r[1] for r in rows}


class LibraryController(Controller):
    path = "/api/v1/libraries"
    tags = ["libraries"]

    @get("/", sync_to_thread=False, summary="All libraries")
    def list_libraries(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        libs = ctx.library.libraries()
        for lib in libs:
            lib.pop("active", None)
            lib["counts"] = _counts(ctx, lib["id"])
        return {"libraries": libs}

    @get("/{library_id:int}", sync_to_thread=False, summary="One library")
    def get_library(
        self, ctx: NamedDependency[AppContext], library_id: FromPath[int]
    ) -> dict[str, Any]:
        lib = require_library(ctx, library_id)
        lib.pop("active", None)
        lib["counts"] = _counts(ctx, library_id)
        return lib

    @get(
        "/{library_id:int}/problems",
        sync_to_thread=True,
        summary="Files the scan could not use, with the reason",
    )
    def problems(
        self, ctx: NamedDependency[AppContext], library_id: FromPath[int]
    ) -> dict[str, Any]:
        require_library(ctx, library_id)
        return {"problems": queries.problems(ctx.db, library_id)}
