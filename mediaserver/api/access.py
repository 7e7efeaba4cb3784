"""Who may see what, for every route: the viewer's limits and the admin-only routes.

:func:`catalog_guard` runs before every handler.  Any route with an ``item_id`` or
``library_id`` in its path answers 404 when the signed-in viewer may not see that item or
library, exactly as if it did not exist, so posters, files, playlists, subtitles and
previews of a hidden film cannot be reached by guessing ids.  Lists and searches filter by
the same :class:`~mediaserver.library.access.Access` (the ``access`` dependency).

The guards are coroutines: Litestar runs a plain-function guard on a worker thread, and
that hand-off on every request cost more than the check (bench/api.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from mediaserver.accounts.users import User
from mediaserver.api.params import in_id_range
from mediaserver.library import queries
from mediaserver.library.access import Access

__all__ = ["NOTHING", "admin_only", "catalog_guard", "viewer", "viewer_access"]

NOTHING = Access(libraries=frozenset())  # no signed-in user: a public route sees nothing


def viewer(request: Request[Any, Any, Any]) -> User:
    """The signed-in user (the auth middleware put it there before any handler runs)."""
    user = request.scope.get("user")
    if not isinstance(user, User):
        raise PermissionDeniedException(detail="sign in first")
    return user


def viewer_access(request: Request[Any, Any, Any]) -> Access:
    user = request.scope.get("user")
    return user.access if isinstance(user, User) else NOTHING


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    user = connection.scope.get("user")
    if not isinstance(user, User) or not user.is_admin:
        raise PermissionDeniedException(detail="only an admin can do this")


async def catalog_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    user = connection.scope.get("user")
    if not isinstance(user, User) or user.is_admin:
        return  # public routes check their own tokens; admins see everything
    access = user.access
    if not access.restricted:
        return
    params = connection.path_params
    library_id = params.get("library_id")
    if isinstance(library_id, int) and not access.allows_library(library_id):
        raise NotFoundException(detail=f"no library with id {library_id}")
    item_id = params.get("item_id")
    # An id no row can have is left to the route's own parameter check (a 400 in words).
    if isinstance(item_id, int) and in_id_range(item_id):
        db = connection.app.state.hearth.db
        if not queries.is_visible(db, item_id, access):
            raise NotFoundException(detail=f"no item with id {item_id}")
