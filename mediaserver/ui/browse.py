"""A library's page (sort, filters, A-Z, grid or list) and the favourite button.

Everything the page shows is in its address, so a reload, the Back button and a shared
link all give the same page; links keep the other choices.  Empty form fields mean "no
filter" (``web/static/app.js`` leaves them out of the address).  htmx asks for the next
page of cards (or rows) as the last one comes into view, and the address follows it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Response, Template

from mediaserver.api.access import viewer, viewer_access
from mediaserver.api.browsing import Filters, one_of, read_filters
from mediaserver.api.favourites import toggle_favourite
from mediaserver.api.items import Sort
from mediaserver.api.libraries import require_library
from mediaserver.api.params import ItemId, LibraryId, Page
from mediaserver.api.progress import with_user_data
from mediaserver.context import AppContext
from mediaserver.library import facets, queries
from mediaserver.library.browse import LETTERS

__all__ = ["PAGE_SIZE", "BrowsePages"]

PAGE_SIZE = 48
KINDS = ("movie", "show")
# The address's parameters in the order the filter form sends them; defaults left out.
_ORDER = (
    "sort",
    "status",
    "favourite",
    "genre",
    "decade",
    "year",
    "content_rating",
    "resolution",
    "hdr",
    "view",
    "starts",
    "page",
)
_DEFAULTS = {"sort": "title", "view": "grid", "page": "1"}
_STATUS_WORDS = {
    "watched": "what you have watched",
    "unwatched": "what you have not watched",
    "in_progress": "what you are part-way through",
}
_RESOLUTION_WORDS = {"4k": "4K", "1080p": "1080p", "720p": "720p", "sd": "SD"}


def _is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def _flag(value: bool | None) -> str | None:
    return None if value is None else "1" if value else "0"


def _state(sort: str, genre: str | None, chosen: Filters, view: str) -> dict[str, str | None]:
    """The page's choices as they go in its address."""
    return {
        "sort": sort,
        "status": chosen.status,
        "favourite": _flag(chosen.favourite),
        "genre": genre,
        "decade": str(chosen.decade) if chosen.decade else None,
        "year": str(chosen.year) if chosen.year else None,
        "content_rating": chosen.content_rating,
        "resolution": chosen.resolution,
        "hdr": _flag(chosen.hdr),
        "view": view,
        "starts": chosen.starts,
    }


def _linker(base: str, state: dict[str, str | None]) -> Callable[..., str]:
    """``link(page=2)``: this page's address with some choices changed (None: left out)."""

    def link(**changes: Any) -> str:
        merged = {**state, **changes}
        pairs = [
            (key, str(merged[key]))
            for key in _ORDER
            if merged.get(key) not in (None, "") and str(merged[key]) != _DEFAULTS.get(key)
        ]
        return base + ("?" + urlencode(pairs) if pairs else "")

    return link


def _described(genre: str | None, chosen: Filters) -> list[str]:
    """Each filter in force, in words: for "No titles match …" and the Filters count."""
    words: list[str] = []
    if chosen.status:
        words.append(_STATUS_WORDS[chosen.status])
    if chosen.favourite is not None:
        words.append("your favourites" if chosen.favourite else "what is not a favourite")
    if genre:
        words.append(f"the genre “{genre}”")
    if chosen.decade:
        words.append(f"the {chosen.decade}s")
    if chosen.year:
        words.append(f"the year {chosen.year}")
    if chosen.content_rating:
        words.append(f"the rating “{chosen.content_rating}”")
    if chosen.resolution:
        words.append(f"{_RESOLUTION_WORDS[chosen.resolution]} video")
    if chosen.hdr is not None:
        words.append("HDR video" if chosen.hdr else "video without HDR")
    return words


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


class BrowsePages(Controller):
    include_in_schema = False

    @get("/libraries/{library_id:int}", sync_to_thread=True)
    def library(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        library_id: LibraryId,
        sort: FromQuery[Sort] = "title",
        genre: FromQuery[str | None] = None,
        view: FromQuery[str | None] = None,
        page: Page = 1,
    ) -> Template:
        """Also reads the filters of ``/api/v1/items`` (year, decade, status, starts, …)."""
        access, user = viewer_access(request), viewer(request)
        library = require_library(ctx, library_id)
        chosen = read_filters(request.query_params, sort)
        layout = one_of("view", view, ("grid", "list")) or "grid"
        genre = (genre or "").strip() or None
        query = chosen.query(
            kind=KINDS,
            library_id=library_id,
            genre=genre,
            user_id=user.id,
            sort=sort,
            limit=PAGE_SIZE,
        )
        letters = facets.first_letters(ctx.db, query, access) if sort == "title" else {}
        first = facets.jump_to(ctx.db, query, chosen.starts, access) if chosen.starts else 0
        offset = first + (page - 1) * PAGE_SIZE
        items, total = queries.list_items(ctx.db, replace(query, offset=offset), access)
        with_user_data(ctx, user, items)
        link = _linker(f"/libraries/{library_id}", _state(sort, genre, chosen, layout))
        described = _described(genre, chosen)
        context = {
            "library": library,
            "items": items,
            "total": total,
            "offset": offset,
            "next_page": page + 1 if offset + PAGE_SIZE < total else None,
            "sort": sort,
            "genre": genre or "",
            "chosen": chosen,
            "view": layout,
            "choices": facets.choices(ctx.db, library_id, KINDS, access),
            "letters": letters,
            "all_letters": LETTERS,
            "link": link,
            "filters_in_force": len(described),
            "no_match": f"No titles match {_and(described)}." if described else "",
            "everything": _linker(f"/libraries/{library_id}", {"sort": sort, "view": layout})(),
            "problem_count": len(queries.problems(ctx.db, library_id)) if user.is_admin else 0,
            "demo": library["source"] == "demo",
        }
        if _is_htmx(request) and page > 1:
            name = "_item_rows.html" if layout == "list" else "_item_grid.html"
        else:
            name = "library.html"
        return Template(name, context=context)

    @post("/items/{item_id:int}/favourite", sync_to_thread=True, status_code=200)
    def favourite(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        """The favourite button: htmx swaps in the button as it now is; without script,
        back to the item's page."""
        wanted = read_filters({"favourite": data.get("favourite") or "true"}).favourite
        stored = toggle_favourite(ctx, request, item_id, bool(wanted))
        if not _is_htmx(request):
            return Redirect(f"/items/{item_id}", status_code=303)
        item = {"id": item_id, "user_data": {"favourite": stored["favourite"]}}
        return Template("_favourite_button.html", context={"item": item})
