"""``GET /api/v1/events``: what changes for you, pushed as Server-Sent Events.

A second browser or a TV signed in as the same person learns a new position or watched
state within a second, without reloading (``event: progress``, data as in
``user_data`` plus ``item_id`` and ``state``).  A comment every 15 s keeps proxies from
closing the stream; a browser's EventSource reconnects by itself when it drops.

The event bus is synchronous and publishes from worker threads; each stream has its own
asyncio queue, fed with ``call_soon_threadsafe``, and stops listening when it ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent, ServerSentEventMessage

from mediaserver import metrics
from mediaserver.api.access import viewer
from mediaserver.api.openapi import sends
from mediaserver.context import AppContext
from mediaserver.events import Event

__all__ = ["LiveController"]

KEEPALIVE_S = 15.0
_MAX_QUEUED = 256  # a stream nobody reads: drop what it cannot take, never grow


class LiveController(Controller):
    path = "/api/v1/events"
    tags = ["progress"]

    @get(
        "/",
        summary="Your progress changes, live (Server-Sent Events)",
        operation_class=sends("text/event-stream"),
    )
    async def stream(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> ServerSentEvent:
        user_id = viewer(request).id
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_MAX_QUEUED)

        def deliver(payload: dict[str, Any]) -> None:
            if not queue.full():
                queue.put_nowait(payload)

        def on_progress(_: Event, payload: Mapping[str, Any]) -> None:
            if payload.get("user_id") == user_id:
                loop.call_soon_threadsafe(deliver, dict(payload))

        unsubscribe = ctx.bus.subscribe(on_progress, Event.PROGRESS)

        async def messages() -> AsyncIterator[ServerSentEventMessage]:
            metrics.LIVE_STREAMS.inc()
            try:
                yield ServerSentEventMessage(comment="connected", retry=3000)
                while True:
                    try:
                        payload = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="still here")
                        continue
                    payload.pop("user_id", None)
                    yield ServerSentEventMessage(event="progress", data=json.dumps(payload))
            finally:
                unsubscribe()
                metrics.LIVE_STREAMS.dec()

        return ServerSentEvent(messages(), headers={"Cache-Control": "no-store"})
