"""Every request gets an id (``X-Request-ID``, on every log line) and one access-log line.

One line per request, written when the response starts, is all an operator needs; Litestar's
logging middleware writes two and costs more than a catalog query.
"""

from __future__ import annotations

import re
import secrets
import time

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestIdMiddleware"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_QUIET = ("/static/", "/metrics", "/health")  # polled constantly; not worth a line each
log = structlog.get_logger("mediaserver.access")


class RequestIdMiddleware:
    """Pure ASGI: accepts a sane incoming ``X-Request-ID`` (from a proxy), else makes one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SAFE_ID.match(incoming) else secrets.token_hex(8)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        path: str = scope["path"]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)["X-Request-ID"] = request_id
                if not path.startswith(_QUIET):
                    log.info(
                        "request",
                        method=scope.get("method"),
                        path=path,
                        query=scope["query_string"].decode("latin-1") or None,
                        status=message["status"],
                        ms=round((time.perf_counter() - started) * 1000, 2),
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
