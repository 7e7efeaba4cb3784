"""``/health``: what a monitor or a container orchestrator polls (with GET or HEAD).

200 with ``"status": "ok"``, or 503 with ``"status": "degraded"`` and ``problems``, the
reasons in words (the data folder's disk is full, saving to the catalog fails, ffmpeg is
missing): a load balancer sends no traffic to a server that cannot save (mediaserver/health.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, route
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Response
from litestar.serialization import encode_json

from mediaserver import __version__
from mediaserver.context import AppContext

__all__ = ["HealthController"]


class HealthController(Controller):
    path = "/health"
    tags = ["system"]

    # GET and HEAD in one handler: Litestar's @head refuses handlers returning a Response.
    @route(
        "/",
        http_method=["GET", "HEAD"],
        sync_to_thread=True,
        opt={"public": True},  # monitors and load balancers ask without credentials
        summary="Liveness and readiness",
        responses={503: ResponseSpec(dict[str, Any], description="Degraded: the same body.")},
    )
    def health(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Response[dict[str, Any]]:
        health = ctx.health.check()
        body = {
            "status": "ok" if health.ok else "degraded",
            "version": __version__,
            "db": health.db,
            "ffmpeg": health.ffmpeg,
            "startup": ctx.startup_state,
            "scan": ctx.library.status().state,
            "writable": health.writable,
            "problems": health.problems,
        }
        status = 200 if health.ok else 503
        if request.method == "HEAD":
            # Litestar never tells a Response it answers a HEAD and would send the body,
            # leaving it to the server to drop: send GET's headers and nothing else.
            length = str(len(encode_json(body)))
            bodiless: Response[Any] = Response(
                b"",
                status_code=status,
                media_type=MediaType.JSON,
                headers={"content-length": length},
            )
            return bodiless
        return Response(body, status_code=status, media_type=MediaType.JSON)
