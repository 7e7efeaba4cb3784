"""``/api/v1/items``: browse, search, details, images and direct play."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, route
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter

from mediaserver.api.access import viewer, viewer_access
from mediaserver.api.browsing import DOCS, read_filters
from mediaserver.api.errors import invalid_parameter
from mediaserver.api.openapi import example, sends
from mediaserver.api.params import ItemId, Offset, Position, QueryId
from mediaserver.api.progress import user_data, with_user_data
from mediaserver.api.ranges import serve_file
from mediaserver.context import AppContext
from mediaserver.imaging import MAX_RESIZE_WIDTH, ImageRejected, resized_image
from mediaserver.library import facets, queries
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.browse import Sort
from mediaserver.library.cast_photos import PHOTO_WIDTH
from mediaserver.library.images import resolve_image
from mediaserver.recommend.similar import SHOWN, STORED, similar_items
from mediaserver.streaming.direct import IMAGE_TYPES, mime_for_container

__all__ = ["GenreController", "ItemController", "Sort", "parse_kinds", "require_item"]

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size (1-500).")]

_LISTING = {
    "items": [
        {
            "id": 8,
            "kind": "movie",
            "title": "Amber Lighthouse",
            "year": 2010,
            "library_id": 1,
            "runtime_s": 5400.0,
            "genres": ["Comedy"],
            "poster_url": "/api/v1/items/8/image/poster",
            "user_data": {"position_s": 0.0, "watched": False, "favourite": False},
        }
    ],
    "total": 3,
    "limit": 1,
    "offset": 0,
}
PICTURE = sends("image/*", "application/octet-stream", ranges=True)


def parse_kinds(kind: str | None) -> tuple[str, ...]:
    """``kind=movie`` or ``kind=movie,show``; anything else is a 400 naming the parameter."""
    if not kind:
        return ()
    kinds = tuple(k.strip() for k in kind.split(",") if k.strip())
    bad = [k for k in kinds if k not in queries.ITEM_KINDS]
    if bad:
        raise invalid_parameter("kind", f"{bad[0]!r} is not one of {', '.join(queries.ITEM_KINDS)}")
    return kinds


def require_item(ctx: AppContext, item_id: int, access: Access = EVERYTHING) -> dict[str, Any]:
    item = queries.get_item(ctx.db, item_id, access)
    if item is None:
        raise NotFoundException(detail=f"no item with id {item_id}")
    return item


class ItemController(Controller):
    """Catalog reads run on the event loop (``sync_to_thread=False``): they are indexed SQLite
    queries of well under a millisecond, and a hand-off to a worker thread cost more than the
    query itself (850 vs 520 req/s in ``bench/api.py``).  Anything touching media files
    (images, direct play) stays on a thread: a sleeping disk can take seconds to answer.
    """

    path = "/api/v1/items"
    tags = ["items"]

    @get("/", summary="List or search items", operation_class=example(_LISTING))
    async def list_items(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        q: FromQuery[str | None] = None,
        kind: Annotated[
            str | None,
            QueryParameter(
                description="movie, show, season, episode or collection; comma-separated"
            ),
        ] = None,
        library_id: QueryId = None,
        parent_id: QueryId = None,
        genre: FromQuery[str | None] = None,
        year: Annotated[str | None, DOCS["year"]] = None,
        decade: Annotated[str | None, DOCS["decade"]] = None,
        content_rating: Annotated[str | None, DOCS["content_rating"]] = None,
        resolution: Annotated[str | None, DOCS["resolution"]] = None,
        hdr: Annotated[str | None, DOCS["hdr"]] = None,
        status: Annotated[str | None, DOCS["status"]] = None,
        favourite: Annotated[str | None, DOCS["favourite"]] = None,
        starts: Annotated[str | None, DOCS["starts"]] = None,
        sort: FromQuery[Sort] = "title",
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        access, user = viewer_access(request), viewer(request)
        # The filters declared above (for the API's documentation) are read here together,
        # as the library page reads them.
        chosen = read_filters(request.query_params, sort)
        if chosen.starts and q:
            raise invalid_parameter("starts", "jumping to a letter does not go with a search (q).")
        query = chosen.query(
            kind=parse_kinds(kind),
            library_id=library_id,
            parent_id=parent_id,
            q=q,
            genre=genre,
            user_id=user.id,
            sort=sort,
            limit=limit,
            offset=offset,
        )

        def listing() -> dict[str, Any]:
            start = offset
            if chosen.starts:
                start += facets.jump_to(ctx.db, query, chosen.starts, access)
            rows, total = queries.list_items(ctx.db, replace(query, offset=start), access)
            with_user_data(ctx, user, rows)
            return {"items": rows, "total": total, "limit": limit, "offset": start}

        if query.personal:  # the viewer's own state: not remembered, some ms on a big library
            return await asyncio.to_thread(listing)
        return listing()

    @get("/{item_id:int}", sync_to_thread=False, summary="One item with its files and streams")
    def get_item(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> dict[str, Any]:
        user = viewer(request)
        item = require_item(ctx, item_id, user.access)  # counts and poster: what they may see
        admin = user.is_admin
        item["user_data"] = user_data(ctx, user.id, item_id)
        for file in item["files"]:
            file["url"] = f"/api/v1/items/{item_id}/file?file_id={file['id']}"
            if not admin:  # where the files live on the server is the admin's business
                del file["path"]
        return item

    @get(
        "/{item_id:int}/children",
        sync_to_thread=False,
        summary="Seasons of a show, episodes of a season",
    )
    def children(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        item_id: ItemId,
        limit: Limit = 500,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        access = viewer_access(request)
        require_item(ctx, item_id, access)
        children = queries.children(ctx.db, item_id, limit, offset, access)
        with_user_data(ctx, viewer(request), children)
        return {"items": children}

    @get("/{item_id:int}/similar", sync_to_thread=True, summary="More like this")
    def similar(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        item_id: ItemId,
        limit: Annotated[
            int, QueryParameter(ge=1, le=STORED, description="At most this many.")
        ] = SHOWN,
    ) -> dict[str, Any]:
        """Films like a film, shows like a show, best first, among what you may see (from the
        recommendation job, else titles sharing genres and people); other kinds: none.
        On a thread: the catalog fallback reads the cast lists, some milliseconds."""
        require_item(ctx, item_id)  # the guard has already checked the viewer's access
        items = similar_items(ctx.db, item_id, viewer_access(request), limit)
        with_user_data(ctx, viewer(request), items)
        return {"items": items}

    # GET and HEAD in one handler (like /file below): Litestar's @head refuses a Response.
    @route(
        "/{item_id:int}/image/{image:str}",
        http_method=["GET", "HEAD"],
        sync_to_thread=True,
        summary="Poster or backdrop",
        operation_class=PICTURE,
    )
    def image(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        image: FromPath[str],
        width: Annotated[
            int | None,
            QueryParameter(ge=1, le=MAX_RESIZE_WIDTH, description="Scale down to this width."),
        ] = None,
    ) -> Response[Any]:
        if image not in ("poster", "backdrop"):
            raise NotFoundException(detail=f"no image called {image!r}; use poster or backdrop")
        reference, cache = _picture(ctx, item_id, image, viewer_access(request))
        return _send_picture(
            request, ctx, reference, width, f"item {item_id} has no {image}", cache=cache
        )

    @route(
        "/{item_id:int}/cast/{position:int}/photo",
        http_method=["GET", "HEAD"],
        sync_to_thread=True,
        summary="A photo of an actor in the cast",
        operation_class=PICTURE,
    )
    def cast_photo(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        position: Position,
        width: Annotated[
            int | None,
            QueryParameter(ge=1, le=PHOTO_WIDTH, description="Scale down to this width."),
        ] = None,
    ) -> Response[Any]:
        """``position`` is the actor's place in the cast (0 first).  A photo is never sent
        wider than ``PHOTO_WIDTH`` pixels (an ``.actors`` picture may be a camera's full
        size), and one that cannot be scaled is not sent at all."""
        reference = queries.cast_photo(ctx.db, item_id, position)
        missing = f"item {item_id} has no photo of the actor at place {position} in its cast"
        return _send_picture(request, ctx, reference, width or PHOTO_WIDTH, missing, strict=True)

    # One handler for GET and HEAD: Litestar's @head refuses handlers returning a Response.
    @route(
        "/{item_id:int}/file",
        http_method=["GET", "HEAD"],
        sync_to_thread=True,
        summary="The original file, with HTTP Range (direct play)",
        operation_class=sends("video/*", "audio/*", "application/octet-stream", ranges=True),
    )
    def file(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        file_id: QueryId = None,
    ) -> Response[Any]:
        return _direct(request, ctx, item_id, file_id)


def _picture(ctx: AppContext, item_id: int, image: str, access: Access) -> tuple[str | None, str]:
    """The stored reference of an item's poster or backdrop, and how long browsers keep it.

    A container's borrowed poster depends on who asks (a child's collection shows the film
    they may see), so a browser shared by two people must ask again every time.
    """
    if image == "poster":
        poster = queries.poster_of(ctx.db, item_id, access)
        if poster is None:
            return None, ""
        return poster.reference, "private, no-cache" if poster.borrowed else _KEEP
    row = ctx.db.query_one("SELECT backdrop FROM items WHERE id = ?", [item_id])
    return (row[0] if row else None), _KEEP


_KEEP = "public, max-age=3600"


def _send_picture(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    reference: str | None,
    width: int | None,
    missing: str,
    *,
    cache: str = _KEEP,
    strict: bool = False,
) -> Response[Any]:
    """An image of the catalog (``reference`` as items.poster holds it), scaled down to
    ``width`` if asked, kept by browsers as ``cache`` says.  One too big or damaged to
    scale is sent as it is, or with ``strict`` not at all."""
    path = resolve_image(reference, ctx.images_dir)
    if path is None:
        raise NotFoundException(detail=missing)
    if width is not None:
        try:
            path = resized_image(path, width, ctx.settings.cache_path / "images")
        except ImageRejected as exc:
            if strict:
                raise NotFoundException(detail=f"{missing} that can be shown: {exc}") from None
        except OSError:  # gone since the scan (its path is no business of the viewer's)
            if strict:
                raise NotFoundException(detail=missing) from None
    content_type = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return serve_file(
        request,
        path,
        content_type=content_type,
        extra_headers={"Cache-Control": cache},
    )


def _direct(
    request: Request[Any, Any, Any], ctx: AppContext, item_id: int, file_id: int | None
) -> Response[Any]:
    sql = "SELECT library_id, path, container FROM files WHERE item_id = ? AND probe_error IS NULL"
    params: list[Any] = [item_id]
    if file_id is not None:
        sql += " AND id = ?"
        params.append(file_id)
    row = ctx.db.query_one(sql + " ORDER BY id LIMIT 1", params)
    if row is None:
        require_item(ctx, item_id)
        raise NotFoundException(
            detail=f"item {item_id} has no playable file"
            + (f" with id {file_id}" if file_id else "")
        )
    ctx.library.check_reachable(int(row["library_id"]), row["path"])
    return serve_file(request, Path(row["path"]), content_type=mime_for_container(row["container"]))


class GenreController(Controller):
    path = "/api/v1/genres"
    tags = ["items"]

    @get("/", sync_to_thread=False, summary="Genres in the catalog")
    def genres(
        self,
        ctx: NamedDependency[AppContext],
        request: Request[Any, Any, Any],
        library_id: QueryId = None,
    ) -> dict[str, Any]:
        access = viewer_access(request)
        return {"genres": queries.genres(ctx.db, library_id, access)}
