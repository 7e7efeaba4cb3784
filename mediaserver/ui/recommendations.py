"""The home page's recommendation buttons: "Not interested", and a new person's genres."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from mediaserver.api.access import viewer, viewer_access
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
        item_id: FromPath[int],
    ) -> Response[str]:
        """Out of the rows now (htmx swaps the card for nothing), fewer like it next run."""
        if not queries.is_visible(ctx.db, item_id, viewer_access(request)):
            raise NotFoundException(detail=f"There is no item with id {item_id}.")
        ctx.recommender.not_interested(viewer(request).id, item_id)
        return Response("", media_type="text/html")

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
