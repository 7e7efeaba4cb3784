"""``/api/v1/folders``: the admin's folder browser, for choosing a library's folders.

Admins only.  Nothing outside the browse roots is listed, whatever the path says (see
``mediaserver.library.folders``); without ``path`` the answer lists the roots themselves.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from mediaserver.api.access import admin_only
from mediaserver.api.libraries import refusal
from mediaserver.context import AppContext
from mediaserver.library.folders import FolderError

__all__ = ["FolderController"]

PathParameter = Annotated[str | None, QueryParameter(max_length=8192)]


class FolderController(Controller):
    path = "/api/v1/folders"
    tags = ["libraries"]
    guards = [admin_only]

    @get(
        "/",
        sync_to_thread=True,  # lists folders on disk: a slow NAS must not hold the loop
        summary="Folders inside the browse roots, with what Hearth can read (admins)",
    )
    def list_folders(
        self, ctx: NamedDependency[AppContext], path: PathParameter = None
    ) -> dict[str, Any]:
        try:
            listing = ctx.folders.listing(path)
        except FolderError as exc:
            raise refusal(exc) from None
        return {
            "path": listing.path,
            "parent": listing.parent,
            "roots": [str(r) for r in ctx.folders.roots],
            "folders": [asdict(e) for e in listing.entries],
            "more": listing.more,
            "videos": listing.videos,
        }
