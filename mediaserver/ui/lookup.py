"""The search page and box, a person's page and a genre's page (across libraries).

A person or a genre the viewer has no title of is a 404, as a hidden title is.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from mediaserver.api.access import viewer, viewer_access
from mediaserver.api.items import Sort
from mediaserver.api.params import Page, PersonId
from mediaserver.api.progress import with_user_data
from mediaserver.api.search import found
from mediaserver.context import AppContext
from mediaserver.library import lookup
from mediaserver.ui.pages import _is_htmx

__all__ = ["LookupPages"]

PAGE_SIZE = 48
SEARCH_TITLES = 60  # the search page and the box show this many titles at most


class LookupPages(Controller):
    include_in_schema = False

    @get("/search", sync_to_thread=True)
    def search(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        q: FromQuery[str] = "",
    ) -> Template:
        text = q[:500]
        answer = found(ctx, request, text, SEARCH_TITLES) if text.strip() else None
        name = "_search_results.html" if _is_htmx(request) else "search.html"
        return Template(name, context={"q": q, "found": answer})

    @get("/people/{person_id:int}", sync_to_thread=True)
    def person(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        person_id: PersonId,
    ) -> Template:
        person = lookup.person(ctx.db, person_id, viewer_access(request))
        if person is None:
            raise NotFoundException(detail="This person is in nothing you can watch here.")
        for role in person["roles"]:
            with_user_data(ctx, viewer(request), role["items"])
        return Template("person.html", context={"person": person})

    @get("/genres/{genre_name:str}", sync_to_thread=True)
    def genre(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        genre_name: FromPath[str],
        sort: FromQuery[Sort] = "title",
        page: Page = 1,
    ) -> Template:
        access = viewer_access(request)
        genre = lookup.genre(ctx.db, genre_name, access)
        if genre is None:
            raise NotFoundException(detail="No title you can watch here has this genre.")
        items, total = lookup.genre_titles(
            ctx.db,
            genre["name"],
            access,
            sort=sort,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        with_user_data(ctx, viewer(request), items)
        more = page * PAGE_SIZE < total
        url = lookup.genre_url(genre["name"])
        context = {
            "genre": genre,
            "items": items,
            "total": total,
            "sort": sort,
            "url": url,
            "more_url": f"{url}?page={page + 1}&sort={sort}" if more else None,
        }
        template = "_item_grid.html" if _is_htmx(request) and page > 1 else "genre.html"
        return Template(template, context=context)
