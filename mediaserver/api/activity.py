"""``/api/v1/playback/events``: players send what happened; admins can read it back.

``POST`` takes ``{"events": [...]}`` (JSON, or a form field ``events`` holding that JSON
from a closing page's beacon).  Each event is judged alone: the answer is 202 with how
many were kept and, for each one refused, its index and why; 400 when none could be kept.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import parse_qs

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from mediaserver import metrics
from mediaserver.activity.events import MAX_BATCH
from mediaserver.api.access import admin_only, viewer, viewer_access
from mediaserver.api.openapi import problem
from mediaserver.api.params import QueryId
from mediaserver.context import AppContext

__all__ = ["PlaybackEventController"]


def _batch(content_type: str, body: bytes) -> list[Any]:
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            field = parse_qs(body.decode("utf-8", "replace")).get("events", [""])[-1]
            data = msgspec.json.decode(field or "null")
        else:
            data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ValidationException(detail=f"the body is not JSON: {exc}") from None
    events = data.get("events") if isinstance(data, dict) else None
    if not isinstance(events, list) or not events:
        raise ValidationException(detail='send {"events": [...]} with at least one event')
    if len(events) > MAX_BATCH:
        raise ValidationException(detail=f"at most {MAX_BATCH} events at a time")
    return events


class PlaybackEventController(Controller):
    path = "/api/v1/playback/events"
    tags = ["progress"]

    @post(
        "/",
        summary="Report playback events (each checked on its own)",
        responses={400: problem(400, "The body is not a JSON list of events.")},
    )
    async def report(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Response[Any]:
        events = _batch(request.headers.get("content-type", ""), await request.body())
        user = viewer(request)
        device = request.headers.get("user-agent", "")
        kept, rejected = await asyncio.to_thread(  # a few catalog reads: off the event loop
            ctx.playback_events.ingest, user.id, device, events, viewer_access(request)
        )
        metrics.PLAYBACK_EVENTS.labels("kept").inc(kept)
        metrics.PLAYBACK_EVENTS.labels("refused").inc(len(rejected))
        body = {"accepted": kept, "rejected": [r.as_dict() for r in rejected]}
        return Response(body, status_code=202 if kept else 400)

    @get("/", sync_to_thread=True, guards=[admin_only], summary="Recent events (admins)")
    def recent(
        self,
        ctx: NamedDependency[AppContext],
        item_id: QueryId = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return {"events": ctx.playback_events.recent(limit, item_id)}
