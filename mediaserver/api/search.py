"""``/api/v1/search`` (titles, people and genres in one answer) and ``/api/v1/people/{id}``.

``GET /api/v1/items?q=`` stays the titles-only search with filters and paging; this is what
the search box shows.  Both forgive typos and find British and American spellings
(``library/search.py``), and both answer only with what the caller may see.  They run on a
worker thread: a search with typos at 20,000 titles takes about ten milliseconds of CPU,
which the event loop should not wait for (``bench/search.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter

from mediaserver.api.access import viewer, viewer_access
from mediaserver.api.params import PersonId
from mediaserver.api.progress import with_user_data
from mediaserver.context import AppContext
from mediaserver.library import lookup

__all__ = ["PersonController", "SearchController"]


class PersonFound(msgspec.Struct):
    id: int
    name: str
    title_count: int  # titles with them that the caller may see
    url: str  # their page in the web UI


class GenreFound(msgspec.Struct):
    name: str
    title_count: int  # films and shows of the genre that the caller may see
    url: str  # the genre's page in the web UI


class SearchAnswer(msgspec.Struct):
    q: str
    items: list[dict[str, Any]]  # as in /api/v1/items, best match first
    total: int  # titles found in all (items holds the first `limit`)
    people: list[PersonFound]
    genres: list[GenreFound]


class PersonRole(msgspec.Struct):
    role: str  # director, actor or writer
    items: list[dict[str, Any]]


class PersonAnswer(msgspec.Struct):
    id: int
    name: str
    roles: list[PersonRole]  # their titles per role, newest first


def found(ctx: AppContext, request: Request[Any, Any, Any], q: str, limit: int) -> dict[str, Any]:
    """The search answer for the API and the pages, with the caller's progress on items."""
    answer = {"q": q, **lookup.find(ctx.db, q, viewer_access(request), limit=limit)}
    with_user_data(ctx, viewer(request), answer["items"])
    for person in answer["people"]:
        person["url"] = f"/people/{person['id']}"
    for genre in answer["genres"]:
        genre["url"] = lookup.genre_url(genre["name"])
    return answer


class SearchController(Controller):
    path = "/api/v1/search"
    tags = ["items"]

    @get(
        "/",
        sync_to_thread=True,
        summary="Search titles, people and genres",
        description=(
            "What the search box shows: titles (as in /api/v1/items, with typos forgiven and "
            "British and American spellings alike), the people whose names match, and the "
            "genres. Only what the caller may see; an empty q finds nothing."
        ),
    )
    def search(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        q: Annotated[str, QueryParameter(description="What was typed.", max_length=500)] = "",
        limit: Annotated[
            int, QueryParameter(ge=1, le=100, description="Titles to return (1-100).")
        ] = 24,
    ) -> SearchAnswer:
        return msgspec.convert(found(ctx, request, q, limit), SearchAnswer)


class PersonController(Controller):
    path = "/api/v1/people"
    tags = ["items"]

    @get(
        "/{person_id:int}",
        sync_to_thread=False,
        summary="A person and the titles they are in",
    )
    def person(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        person_id: PersonId,
    ) -> PersonAnswer:
        person = lookup.person(ctx.db, person_id, viewer_access(request))
        if person is None:
            raise NotFoundException(detail=f"no person with id {person_id}")
        for role in person["roles"]:
            with_user_data(ctx, viewer(request), role["items"])
        return msgspec.convert(person, PersonAnswer)
