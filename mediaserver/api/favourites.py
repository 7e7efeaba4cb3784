"""``PUT`` and ``DELETE /api/v1/items/{id}/favourite``: the viewer's favourites.

Like every route with an ``item_id``, an item the viewer may not see answers 404 (the
catalog guard); a browser's request carries the session's CSRF token.  The answer says
what is stored now and when it last changed.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException

from mediaserver.activity.favourites import set_favourite
from mediaserver.api.access import viewer
from mediaserver.api.params import ItemId
from mediaserver.context import AppContext

__all__ = ["FavouriteController", "toggle_favourite"]


def toggle_favourite(
    ctx: AppContext, request: Request[Any, Any, Any], item_id: int, favourite: bool
) -> dict[str, Any]:
    """Store the viewer's choice; 404 for an item that does not exist (any more)."""
    try:
        return set_favourite(ctx.db, viewer(request).id, item_id, favourite).as_dict()
    except KeyError:
        raise NotFoundException(detail=f"no item with id {item_id}") from None


class FavouriteController(Controller):
    path = "/api/v1/items/{item_id:int}/favourite"
    tags = ["progress"]

    @put("/", status_code=200, sync_to_thread=True, summary="Add to the viewer's favourites")
    def add(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> dict[str, Any]:
        return toggle_favourite(ctx, request, item_id, True)

    @delete("/", status_code=200, sync_to_thread=True, summary="Take off the viewer's favourites")
    def remove(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> dict[str, Any]:
        return toggle_favourite(ctx, request, item_id, False)
