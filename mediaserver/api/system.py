"""``/health``: what a monitor or a container orchestrator polls."""

from __future__ import annotations

import shutil
from typing import Any

from litestar import Controller, get
from litestar.response import Response

from mediaserver import __version__
from mediaserver.context import AppContext

__all__ = ["HealthController"]


class HealthController(Controller):
    path = "/health"
    tags = ["system"]

    @get("/", sync_to_thread=True, summary="Liveness and readiness")
    def health(self, ctx: AppContext) -> Response[dict[str, Any]]:
        try:
            db_ok = ctx.db.query_one("SELECT 1") is not None
        except Exception:
            db_ok = False
        ffmpeg_ok = shutil.which(ctx.ffmpeg_path) is not None
        ok = db_ok and ffmpeg_ok
        body = {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "db": db_ok,
            "ffmpeg": ffmpeg_ok,
            "startup": ctx.startup_state,
            "scan": ctx.library.status().state,
        }
        return Response(body, status_code=200 if ok else 503)
