"""``/api/v1/libraries``: the configured folders and what their scans flagged."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from mediaserver.api.access import admin_only, viewer_access
from mediaserver.context import AppContext
from mediaserver.library import queries
from mediaserver.library.access import EVERYTHING, Access

__all__ = ["LibraryController", "require_library"]


def require_library(ctx: AppContext, library_id: int) -> dict[str, Any]:
    row = ctx.db.query_one("SELECT * FROM libraries WHERE id = ? AND active = 1", [library_id])
    if row is None:
        raise NotFoundException(detail=f"no library with id {library_id}")
    return dict(row)


def _counts(ctx: AppContext, library_id: int, access: Access = EVERYTHING) -> dict[str, int]:
    condition = access.condition("i")
    rows = ctx.db.query(
        f"""SELECT kind, count(*) FROM items i WHERE library_id = ?
            {"AND " + condition if condition else ""} GROUP BY kind""",
        [library_id],
    )
    return {r[0]: r[1] for r in rows}


class LibraryController(Controller):
    path = "/api/v1/libraries"
    tags = ["libraries"]

    @get("/", sync_to_thread=False, summary="All libraries")
    def list_libraries(
        self, ctx: NamedDependency[AppContext], request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        access = viewer_access(request)
        libs = [lib for lib in ctx.library.libraries() if access.allows_library(lib["id"])]
        for lib in libs:
            lib.pop("active", None)
            lib["counts"] = _counts(ctx, lib["id"], access)
        return {"libraries": libs}

    @get("/{library_id:int}", sync_to_thread=False, summary="One library")
    def get_library(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        library_id: FromPath[int],
    ) -> dict[str, Any]:
        access = viewer_access(request)
        lib = require_library(ctx, library_id)
        lib.pop("active", None)
        lib["counts"] = _counts(ctx, library_id, access)
        return lib

    @get(
        "/{library_id:int}/problems",
        sync_to_thread=True,
        guards=[admin_only],
        summary="Files the scan could not use, with the reason (admins)",
    )
    def problems(
        self, ctx: NamedDependency[AppContext], library_id: FromPath[int]
    ) -> dict[str, Any]:
        require_library(ctx, library_id)
        return {"problems": queries.problems(ctx.db, library_id)}
