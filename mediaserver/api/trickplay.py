"""Trickplay: the WebVTT thumbnails track, its sprite sheets, chapter images, build progress.

Images are named by a plain decimal index (``3.jpg``) that is parsed, never joined to a
path, so a request can only reach files the service built.  Cue URLs carry ``?v=`` with the
file's size and mtime: a changed file gets new URLs, so a day of caching is safe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, route
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

from mediaserver.api.items import require_item
from mediaserver.api.openapi import sends
from mediaserver.api.params import FileId, ItemId, QueryId
from mediaserver.api.ranges import serve_file
from mediaserver.context import AppContext
from mediaserver.streaming.trickplay import TrickplayUnavailable

__all__ = ["TrickplayController"]

_IMAGE_HEADERS = {"Cache-Control": "public, max-age=86400"}


JPEG = sends("image/jpeg", ranges=True)


class TrickplayController(Controller):
    """Everything that reads the cache runs on a thread; only the status is in memory."""

    path = "/api/v1"
    tags = ["trickplay"]

    @get(
        "/items/{item_id:int}/trickplay.vtt",
        sync_to_thread=True,
        summary="Thumbnails track (WebVTT) for the seek bar",
        operation_class=sends("text/vtt"),
    )
    def vtt(
        self,
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        file_id: QueryId = None,
    ) -> Response[str]:
        try:
            text = ctx.trickplay.vtt(item_id, file_id)
        except TrickplayUnavailable as exc:
            raise _not_found(ctx, item_id, exc) from None
        return Response(text, media_type="text/vtt", headers={"Cache-Control": "no-cache"})

    @route(
        "/items/{item_id:int}/trickplay/{file_id:int}/{name:str}",
        http_method=["GET", "HEAD"],
        sync_to_thread=True,
        summary="One thumbnail sprite sheet (JPEG)",
        operation_class=JPEG,
    )
    def sprite(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        file_id: FileId,
        name: FromPath[str],
    ) -> Response[Any]:
        try:
            path = ctx.trickplay.sprite(item_id, file_id, name)
        except TrickplayUnavailable as exc:
            raise _not_found(ctx, item_id, exc) from None
        return _jpeg(request, path)

    @route(
        "/items/{item_id:int}/chapters/{file_id:int}/{name:str}",
        http_method=["GET", "HEAD"],
        sync_to_thread=True,
        summary="One chapter image (JPEG)",
        operation_class=JPEG,
    )
    def chapter_image(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        file_id: FileId,
        name: FromPath[str],
    ) -> Response[Any]:
        try:
            path = ctx.trickplay.chapter_image(item_id, file_id, name)
        except TrickplayUnavailable as exc:
            raise _not_found(ctx, item_id, exc) from None
        return _jpeg(request, path)

    @get(
        "/items/{item_id:int}/chapters",
        sync_to_thread=True,
        summary="Chapters of a file, with image URLs once built",
    )
    def chapters(
        self,
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        file_id: QueryId = None,
    ) -> dict[str, Any]:
        try:
            chapters = ctx.trickplay.chapters(item_id, file_id)
        except TrickplayUnavailable as exc:
            raise _not_found(ctx, item_id, exc) from None
        return {"chapters": chapters}

    @get("/trickplay/status", sync_to_thread=False, summary="Progress of the preview builder")
    def status(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        return ctx.trickplay.status()


def _not_found(ctx: AppContext, item_id: int, exc: TrickplayUnavailable) -> NotFoundException:
    require_item(ctx, item_id)  # "no item with id N" first, when that is the reason
    return NotFoundException(detail=str(exc))


def _jpeg(request: Request[Any, Any, Any], path: Path) -> Response[Any]:
    return serve_file(request, path, content_type="image/jpeg", extra_headers=_IMAGE_HEADERS)
