"""``/api/v1/items/{id}/playback``: how this client should play this item, and why.

The client says what it can decode (a profile name and/or codec lists, see
``streaming/profiles.py``); the answer is the decision (direct play, remux or transcode),
the sentence to show the viewer, and the URL to play.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter

from mediaserver.api.errors import invalid_parameter
from mediaserver.api.items import require_item
from mediaserver.context import AppContext
from mediaserver.streaming.decision import decide
from mediaserver.streaming.profiles import PROFILES, CapabilityError, profile_from_query

__all__ = ["PlaybackController"]

Names = Annotated[str | None, QueryParameter(description="Comma-separated names, e.g. h264,vp9.")]


class PlaybackController(Controller):
    path = "/api/v1/items/{item_id:int}/playback"
    tags = ["playback"]

    @get("/", sync_to_thread=False, summary="The playback decision for this client")
    def playback(
        self,
        ctx: NamedDependency[AppContext],
        item_id: FromPath[int],
        profile: Annotated[
            str | None, QueryParameter(description=f"One of {', '.join(sorted(PROFILES))}.")
        ] = None,
        vcodec: Names = None,
        acodec: Names = None,
        container: Names = None,
        ten_bit: Names = None,
        max_height: Annotated[
            str | None, QueryParameter(description="Tallest picture, e.g. 1080.")
        ] = None,
        max_channels: Annotated[
            str | None, QueryParameter(description="Most audio channels.")
        ] = None,
        segments: Annotated[str | None, QueryParameter(description="fmp4 (default) or ts.")] = None,
        audio: Annotated[int | None, QueryParameter(description="Audio stream index.")] = None,
        subtitle: Annotated[
            int | None, QueryParameter(description="Subtitle stream index.")
        ] = None,
        file_id: Annotated[
            int | None, QueryParameter(description="Which version of the item.")
        ] = None,
    ) -> dict[str, Any]:
        given = {
            "profile": profile,
            "vcodec": vcodec,
            "acodec": acodec,
            "container": container,
            "ten_bit": ten_bit,
            "max_height": max_height,
            "max_channels": max_channels,
            "segments": segments,
        }
        try:
            client = profile_from_query({k: v for k, v in given.items() if v is not None})
        except CapabilityError as exc:
            raise invalid_parameter(exc.param, str(exc).split(": ", 1)[1]) from None
        item = require_item(ctx, item_id)
        files = [f for f in item["files"] if file_id is None or f["id"] == file_id]
        if not files:
            detail = f"item {item_id} has no playable file" + (
                f" with id {file_id}" if file_id else ""
            )
            raise NotFoundException(detail=detail)
        chosen = files[0]
        try:
            decision = decide(
                chosen["container"],
                chosen["streams"],
                client,
                audio_index=audio,
                subtitle_index=subtitle,
            )
        except LookupError as exc:
            raise invalid_parameter(
                "subtitle" if "subtitle" in str(exc) else "audio", str(exc)
            ) from None
        direct = decision.mode == "direct"
        return {
            "item_id": item_id,
            "file_id": chosen["id"],
            "profile": client.name,
            "decision": decision.as_dict(),
            "message": decision.summary,
            "direct_url": f"/api/v1/items/{item_id}/file?file_id={chosen['id']}"
            if direct
            else None,
            "hls_url": None,  # the streaming engine (issue 4) fills this in
        }
