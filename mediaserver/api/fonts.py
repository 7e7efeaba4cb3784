"""``/api/v1/items/{id}/fonts``: the fonts a video carries, for styled (ASS/SSA) subtitles.

A Matroska file made for styled subtitles attaches the fonts its styles name; the player's
libass needs them to draw the text as its author did.  Only the attachments of the item's
own file are listed and served (the catalog guard hides a hidden item's, as for every
route with an item id), each at most ``MAX_FONT_BYTES``, and only what is a font.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ServiceUnavailableException

from mediaserver.api.hls import item_file
from mediaserver.api.openapi import problem, sends
from mediaserver.api.params import ItemId, Position, QueryId
from mediaserver.api.ranges import serve_file
from mediaserver.context import AppContext
from mediaserver.streaming.styled import Font
from mediaserver.streaming.subtitles import SubtitleError

__all__ = ["FontController"]

_NO_CACHE = {"cache-control": "no-cache"}  # as the subtitle tracks: revalidated by ETag


class FontController(Controller):
    path = "/api/v1/items/{item_id:int}/fonts"
    tags = ["playback"]

    @get(
        "/",
        sync_to_thread=True,
        summary="The fonts attached to the item's file (for styled subtitles)",
    )
    def list_fonts(
        self,
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        file_id: QueryId = None,
    ) -> dict[str, Any]:
        file = item_file(ctx, item_id, file_id)
        names = {s["idx"]: s.get("title") for s in file["streams"] if s["type"] == "attachment"}
        return {
            "item_id": item_id,
            "file_id": file["id"],
            "fonts": [
                {
                    "index": font.index,
                    "file_name": names.get(font.index),
                    "size": font.size,
                    "content_type": font.content_type,
                    "url": f"/api/v1/items/{item_id}/fonts/{font.index}?file_id={file['id']}",
                }
                for font in _fonts(ctx, file)
            ],
        }

    @get(
        "/{index:int}",
        sync_to_thread=True,
        summary="One font attached to the item's file",
        operation_class=sends("font/*", "application/*", ranges=True),
        responses={503: problem(503, "The font could not be read from the file.")},
    )
    def font(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        index: Position,
        file_id: QueryId = None,
    ) -> Response[Any]:
        file = item_file(ctx, item_id, file_id)
        found = next((f for f in _fonts(ctx, file) if f.index == index), None)
        if found is None:
            raise NotFoundException(detail=f"the file has no font attachment {index}")
        return serve_file(
            request, found.path, content_type=found.content_type, extra_headers=_NO_CACHE
        )


def _fonts(ctx: AppContext, file: dict[str, Any]) -> list[Font]:
    attachments = [int(s["idx"]) for s in file["streams"] if s["type"] == "attachment"]
    try:
        return ctx.subtitles.fonts(file["path"], attachments)
    except SubtitleError as exc:  # as for the subtitle tracks: ffmpeg failed or was too slow
        raise ServiceUnavailableException(detail=str(exc)) from None
