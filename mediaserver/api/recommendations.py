"""``/api/v1/recommendations``: the caller's rows with a reason on every title.

``GET`` answers ``{"rows": [{"key", "title", "computed_at", "items": [item + "reason"]}]}``
as the last run of the recommendation job left them, with the caller's limits applied
again (a limit tightened since the run hides titles at once).  ``not-interested`` takes a
title out now and counts against its neighbours in the next run; ``likes`` are the genres
a new person picked, for their first recommendations.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from mediaserver.api.access import viewer, viewer_access
from mediaserver.api.openapi import problem
from mediaserver.api.params import Id, ItemId
from mediaserver.api.progress import with_user_data
from mediaserver.context import AppContext
from mediaserver.library import queries

__all__ = ["RecommendationController", "recommendation_rows"]


class NotInterested(msgspec.Struct, forbid_unknown_fields=True):
    item_id: Id


class Likes(msgspec.Struct, forbid_unknown_fields=True):
    genres: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=60)]], msgspec.Meta(max_length=20)
    ]


def recommendation_rows(ctx: AppContext, request: Request[Any, Any, Any]) -> list[dict[str, Any]]:
    """The caller's rows as catalog items with reasons and user data (the home page too)."""
    user, access = viewer(request), viewer_access(request)
    rows = []
    for row in ctx.recommender.rows(user.id):
        reasons = {i["item_id"]: i["reason"] for i in row["items"]}
        items = queries.items_by_id(ctx.db, list(reasons), access)
        for item in items:
            item["reason"] = reasons[item["id"]]
        with_user_data(ctx, user, items)
        if items:
            rows.append({**row, "items": items})
    return rows


class RecommendationController(Controller):
    path = "/api/v1/recommendations"
    tags = ["recommendations"]

    @get("/", sync_to_thread=True, summary="Your recommendation rows, each title with a reason")
    def rows(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> dict[str, Any]:
        return {"rows": recommendation_rows(ctx, request)}

    @post(
        "/not-interested",
        sync_to_thread=True,
        status_code=HTTP_204_NO_CONTENT,
        summary="Never suggest this title again (and fewer like it)",
        responses={404: problem(404, "There is no item with that id.")},
    )
    def not_interested(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[NotInterested],
    ) -> None:
        if not queries.is_visible(ctx.db, data.item_id, viewer_access(request)):
            raise NotFoundException(detail=f"There is no item with id {data.item_id}.")
        ctx.recommender.not_interested(viewer(request).id, data.item_id)

    @delete("/not-interested/{item_id:int}", sync_to_thread=True, summary="Undo not interested")
    def interested_again(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> None:
        ctx.recommender.not_interested(viewer(request).id, item_id, undo=True)

    @get("/likes", sync_to_thread=True, summary="The genres you said you like, and the choice")
    def likes(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> dict[str, Any]:
        return {
            "genres": ctx.recommender.liked_genres(viewer(request).id),
            "available": queries.genres(ctx.db, access=viewer_access(request)),
        }

    @put("/likes", sync_to_thread=True, summary="Say which genres you like (for a first run)")
    def set_likes(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[Likes],
    ) -> dict[str, Any]:
        known = {g.lower(): g for g in queries.genres(ctx.db, access=viewer_access(request))}
        unknown = [g for g in data.genres if g.strip().lower() not in known]
        if unknown:
            raise ValidationException(detail=f"genres: not in this library: {', '.join(unknown)}")
        chosen = [known[g.strip().lower()] for g in data.genres]
        return {"genres": ctx.recommender.set_liked_genres(viewer(request).id, chosen)}
