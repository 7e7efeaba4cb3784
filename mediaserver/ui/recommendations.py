"""The home page's recommendation buttons: "Not interested", and a new person's genres."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from mediaserver.api.access import viewer, viewer_access
from mediaserver.api.params import ItemId
from mediaserver.api.recommendations import recommendation_rows
from mediaserver.context import AppContext
from mediaserver.library import queries
from mediaserver.ui.admin import FormWithLists

__all__ = ["RecommendationPages"]


class RecommendationPages(Controller):
    path = "/recommendations"
    include_in_schema = False

    @post("/{item_id:int}/not-interested", sync_to_thread=True, status_code=200)
    def not_interested(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> Template:
        """Out of the rows now, fewer like it next run.

        The answer is htmx out-of-band deletes: the title's card in every row that had it,
        and instead the whole row (its heading too) where it was the last one.
        """
        if not queries.is_visible(ctx.db, item_id, viewer_access(request)):
            raise NotFoundException(detail=f"There is no item with id {item_id}.")
        had = [
            row["key"]
            for row in recommendation_rows(ctx, request)
            if any(i["id"] == item_id for i in row["items"])
        ]
        ctx.recommender.not_interested(viewer(request).id, item_id)
        left = {row["key"] for row in recommendation_rows(ctx, request)}
        return Template(
            "_not_interested.html",
            context={
                "item_id": item_id,
                "cards": [k for k in had if k in left],
                "rows": [k for k in had if k not in left],
            },
        )

    @post("/likes", sync_to_thread=True)
    def likes(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: FormWithLists
    ) -> Redirect:
        """A new person's genres; the job runs now so their picks follow in a moment."""
        known = {g.lower(): g for g in queries.genres(ctx.db, access=viewer_access(request))}
        ticked = data.get("genre", [])
        ticked = [ticked] if isinstance(ticked, str) else ticked
        chosen = [known[g.lower()] for g in ticked if g.lower() in known]
        ctx.recommender.set_liked_genres(viewer(request).id, chosen)
        if "recommendations" in ctx.tasks:
            ctx.tasks.start("recommendations", again=True)
        return Redirect("/?picked=1", status_code=303)
