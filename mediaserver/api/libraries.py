"""``/api/v1/libraries``: the libraries, what their scans flagged, and (admins) adding,
changing, removing and rescanning the ones made in the web UI.

Libraries from the config file are listed with ``"source": "config"`` and cannot be changed
here (403, saying where to change them).  Removing a library removes its catalog rows, never
a media file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_409_CONFLICT

from mediaserver.api.access import admin_only, viewer, viewer_access
from mediaserver.api.openapi import problem
from mediaserver.api.params import LibraryId
from mediaserver.context import AppContext
from mediaserver.library import queries
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.folders import (
    FolderError,
    FolderNotFound,
    FolderUnreadable,
    OutsideRoots,
)
from mediaserver.library.libraries import (
    LibraryConflict,
    LibraryError,
    NoSuchLibrary,
    ReadOnlyLibrary,
)

__all__ = ["LibraryChange", "LibraryController", "NewLibrary", "refusal", "require_library"]

Name = Annotated[str, msgspec.Meta(max_length=200)]
Kind = Literal["films", "shows", "mixed"]
Folders = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=8192)]], msgspec.Meta(max_length=50)
]


class NewLibrary(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    folders: Folders
    kind: Kind = "mixed"
    # Follow links (to folders or files) that lead outside the library's folders.
    follow_outside_links: bool = False


class LibraryChange(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    kind: Kind | None = None
    folders: Folders | None = None
    # The only change a config file's library takes here.
    follow_outside_links: bool | None = None


def refusal(exc: Exception, *, in_body: bool = False) -> HTTPException:
    """A service's refusal as the HTTP error that says it: 400 bad input, 403 not allowed
    (outside the roots, unreadable, set in the config file), 404 absent, 409 taken.  In a
    request body a missing folder is bad input (400), not a missing resource."""
    text = str(exc)
    if in_body and isinstance(exc, FolderError):
        text = f"folders: {text}"
    if isinstance(exc, NoSuchLibrary) or (isinstance(exc, FolderNotFound) and not in_body):
        return NotFoundException(detail=text)
    if isinstance(exc, OutsideRoots | FolderUnreadable | ReadOnlyLibrary):
        return PermissionDeniedException(detail=text)
    if isinstance(exc, LibraryConflict):
        return HTTPException(status_code=HTTP_409_CONFLICT, detail=text)
    return ValidationException(detail=text)


_REFUSED = (LibraryError, FolderError, NoSuchLibrary)


def require_library(ctx: AppContext, library_id: int) -> dict[str, Any]:
    row = ctx.db.query_one("SELECT * FROM libraries WHERE id = ? AND active = 1", [library_id])
    if row is None:
        raise NotFoundException(detail=f"no library with id {library_id}")
    return dict(row)


def _shown(lib: dict[str, Any], admin: bool) -> dict[str, Any]:
    """A library as the API shows it: members see no folders (no file paths)."""
    lib.pop("active", None)
    if not admin:
        lib.pop("path", None)
        lib.pop("folders", None)
        lib.pop("follow_outside_links", None)
    return lib


def _counts(ctx: AppContext, library_id: int, access: Access = EVERYTHING) -> dict[str, int]:
    condition = access.condition("i")
    rows = ctx.db.query(
        f"""SELECT kind, count(*) FROM items i WHERE library_id = ?
            {"AND " + condition if condition else ""} GROUP BY kind""",
        [library_id],
    )
    return {r[0]: r[1] for r in rows}


_TAKEN = problem(409, "Another library already has that name or one of those folders.")


class LibraryController(Controller):
    path = "/api/v1/libraries"
    tags = ["libraries"]

    @get("/", sync_to_thread=False, summary="All libraries")
    def list_libraries(
        self, ctx: NamedDependency[AppContext], request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        access = viewer_access(request)
        admin = viewer(request).is_admin
        libs = [lib for lib in ctx.library.libraries() if access.allows_library(lib["id"])]
        for lib in libs:
            _shown(lib, admin)
            lib["counts"] = _counts(ctx, lib["id"], access)
        return {"libraries": libs, "demo": ctx.libraries.demo_showing()}

    @get("/{library_id:int}", sync_to_thread=False, summary="One library")
    def get_library(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        library_id: LibraryId,
    ) -> dict[str, Any]:
        access = viewer_access(request)
        require_library(ctx, library_id)
        lib = _shown(ctx.libraries.get(library_id), viewer(request).is_admin)
        lib["counts"] = _counts(ctx, library_id, access)
        return lib

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        sync_to_thread=True,
        guards=[admin_only],
        summary="Add a library: name, kind (films, shows, mixed), folders; scanned at once (admins)",
        responses={409: _TAKEN},
    )
    def create(
        self, ctx: NamedDependency[AppContext], data: JSONBody[NewLibrary]
    ) -> dict[str, Any]:
        try:
            lib = ctx.libraries.create(
                data.name,
                data.kind,
                data.folders,
                follow_outside_links=data.follow_outside_links,
            )
        except _REFUSED as exc:
            raise refusal(exc, in_body=True) from None
        return _shown(lib, True)

    @patch(
        "/{library_id:int}",
        sync_to_thread=True,
        guards=[admin_only],
        summary="Rename, change kind or folders, or allow links that lead outside "
        "(then it is rescanned) (admins)",
        responses={409: _TAKEN},
    )
    def change(
        self,
        ctx: NamedDependency[AppContext],
        library_id: LibraryId,
        data: JSONBody[LibraryChange],
    ) -> dict[str, Any]:
        try:
            lib = ctx.libraries.update(
                library_id,
                name=data.name,
                kind=data.kind,
                folders=data.folders,
                follow_outside_links=data.follow_outside_links,
            )
        except _REFUSED as exc:
            raise refusal(exc, in_body=True) from None
        return _shown(lib, True)

    @delete(
        "/{library_id:int}",
        status_code=200,
        sync_to_thread=True,
        guards=[admin_only],
        summary="Remove a library from the catalog; its media files stay on disk (admins)",
    )
    def remove(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> dict[str, Any]:
        try:
            removed = ctx.libraries.remove(library_id)
        except _REFUSED as exc:
            raise refusal(exc) from None
        return {
            "removed": removed,
            "files_on_disk": "kept: only the catalog's rows were removed",
        }

    @post(
        "/{library_id:int}/scan",
        status_code=HTTP_202_ACCEPTED,
        sync_to_thread=True,
        guards=[admin_only],
        summary="Rescan one library (admins)",
    )
    def scan(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> dict[str, Any]:
        try:
            return ctx.libraries.rescan(library_id).as_dict()
        except _REFUSED as exc:
            raise refusal(exc) from None

    @get(
        "/{library_id:int}/problems",
        sync_to_thread=True,
        guards=[admin_only],
        summary="Files the scan could not use, with the reason (admins)",
    )
    def problems(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> dict[str, Any]:
        require_library(ctx, library_id)
        return {"problems": queries.problems(ctx.db, library_id)}
