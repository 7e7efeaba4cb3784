"""HTML pages: thin controllers that ask the library queries and render a template.

htmx requests (``HX-Request: true``) get the ``_fragment`` of a page instead of the page.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.response import Template

from mediaserver.activity.episodes import neighbours, pick_episode
from mediaserver.activity.favourites import favourite_items
from mediaserver.activity.rows import continue_watching, next_up
from mediaserver.api.access import admin_only, viewer, viewer_access
from mediaserver.api.items import require_item
from mediaserver.api.libraries import require_library
from mediaserver.api.params import ItemId, LibraryId
from mediaserver.api.progress import with_user_data
from mediaserver.api.recommendations import recommendation_rows
from mediaserver.context import AppContext
from mediaserver.library import queries
from mediaserver.recommend.similar import similar_items
from mediaserver.streaming.direct import playable_type

__all__ = ["PageController"]

_TEMPLATES = {
    "movie": "item.html",
    "episode": "item.html",
    "show": "show.html",
    "season": "season.html",
    "collection": "collection.html",
}


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def _picked(ctx: AppContext, request: Request[Any, Any, Any]) -> str:
    """What the home page says after a new person picked genres: "coming" only when the
    run the form started brings picks from them, else "nothing" (or "no-genres")."""
    user = viewer(request)
    if not ctx.recommender.liked_genres(user.id):
        return "no-genres"
    coming = "recommendations" in ctx.tasks and ctx.recommender.picks_from_likes(
        user.id, user.access
    )
    return "coming" if coming else "nothing"


class PageController(Controller):
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def home(self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]) -> Template:
        access = viewer_access(request)
        libraries = [lib for lib in ctx.library.libraries() if access.allows_library(lib["id"])]
        for lib in libraries:
            lib["count"] = queries.list_items(
                ctx.db,
                queries.ItemQuery(kind=("movie", "show"), library_id=lib["id"], limit=1),
                access,
            )[1]
        user = viewer(request)
        rows = {
            "continue_watching": continue_watching(ctx.db, user.id, access),
            "next_up": next_up(ctx.db, user.id, access),
            "favourites": favourite_items(ctx.db, user.id, access),
            "recent": queries.recently_added(ctx.db, 24, access),
            **{
                f"recent-{lib['id']}": queries.recently_added(ctx.db, 24, access, lib["id"])
                for lib in (libraries if len(libraries) > 1 else [])
            },
            "collections": queries.list_items(
                ctx.db, queries.ItemQuery(kind=("collection",), limit=24), access
            )[0],
        }
        for row in rows.values():
            with_user_data(ctx, user, row)
        picks = recommendation_rows(ctx, request)
        new_here = not picks or all(r["key"] == "trending" for r in picks)
        # Someone with nothing watched and no genres picked is asked what they like.
        ask_likes = (
            new_here and not rows["continue_watching"] and not ctx.recommender.liked_genres(user.id)
        )
        return Template(
            "home.html",
            context={
                "libraries": libraries,
                **rows,
                "rows_by_key": rows,
                "recommendations": picks,
                "ask_likes": ask_likes,
                "genres": queries.genres(ctx.db, access=access) if ask_likes else [],
                "picked": _picked(ctx, request) if request.query_params.get("picked") else None,
                "scan": ctx.library.status().as_dict(),
                "startup": ctx.startup_state,
                "demo": ctx.libraries.demo_showing(),
                "setup_done": ctx.profile.get().setup_done,
            },
        )

    @get("/libraries/{library_id:int}/problems", sync_to_thread=True, guards=[admin_only])
    def problems(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> Template:
        library = require_library(ctx, library_id)
        return Template(
            "problems.html",
            context={"library": library, "problems": queries.problems(ctx.db, library_id)},
        )

    @get("/items/{item_id:int}", sync_to_thread=True)
    def item(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        item_id: ItemId,
    ) -> Template:
        access = viewer_access(request)
        try:
            item = require_item(ctx, item_id, access)
        except NotFoundException:
            raise NotFoundException(detail="This item does not exist (any more).") from None
        user = viewer(request)
        with_user_data(ctx, user, [item])  # a container: watched when all they may see is
        context: dict[str, Any] = {"item": item}
        if item["kind"] in ("show", "season", "collection"):
            context["children"] = queries.children(ctx.db, item_id, access=access)
            with_user_data(ctx, user, context["children"])
        if item["kind"] == "show":
            first = context["children"][0]["id"] if context["children"] else None
            context["episodes"] = queries.children(ctx.db, first, access=access) if first else []
            with_user_data(ctx, user, context["episodes"])
        if item["kind"] in ("show", "season"):
            context["pick"] = pick_episode(ctx.db, user.id, item_id, access)
        if item["kind"] == "episode":
            context["previous"], context["next"] = neighbours(ctx.db, item_id, access)
            context["autoplay_next"] = ctx.users.preferences(user.id).autoplay_next
        if item["kind"] in ("movie", "show"):  # "More like this", below the player
            context["similar"] = similar_items(ctx.db, item_id, access)
            with_user_data(ctx, user, context["similar"])
        for file in item.get("files", []):
            file["playable_type"] = playable_type(file["container"], file["streams"])
        return Template(_TEMPLATES.get(item["kind"], "item.html"), context=context)

    @get("/scan/status", sync_to_thread=False, guards=[admin_only])
    def scan_status(self, ctx: NamedDependency[AppContext]) -> Template:
        return Template("_scan_status.html", context={"scan": ctx.library.status().as_dict()})

    @post("/scan", sync_to_thread=False, status_code=200, guards=[admin_only])
    def start_scan(self, ctx: NamedDependency[AppContext]) -> Template:
        return Template("_scan_status.html", context={"scan": ctx.library.request_scan().as_dict()})

    @post("/scan/cancel", sync_to_thread=False, status_code=200, guards=[admin_only])
    def cancel_scan(self, ctx: NamedDependency[AppContext]) -> Template:
        ctx.library.cancel()
        return Template("_scan_status.html", context={"scan": ctx.library.status().as_dict()})
