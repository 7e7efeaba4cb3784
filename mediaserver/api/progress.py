"""Viewing progress: ``POST /api/v1/items/{id}/progress``, watched marks, the home rows.

A player (or a TV app) reports ``{"position_s": 123.4, "state": "playing"}`` every ~10 s
and on pause, seek and stop.  The answer is 200 with the caller's ``user_data`` only once
the write is committed.  Browsers report a closing page with ``navigator.sendBeacon``,
which cannot set headers: it posts the same fields as a form, CSRF token included.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException

from mediaserver import metrics
from mediaserver.accounts.users import User
from mediaserver.activity import rows
from mediaserver.activity.favourites import favourite_ids, favourite_items
from mediaserver.activity.progress import NOTHING_YET, ProgressError
from mediaserver.api.access import viewer, viewer_access
from mediaserver.api.params import ItemId
from mediaserver.context import AppContext
from mediaserver.library import queries

__all__ = ["HomeController", "ProgressController", "user_data", "with_user_data"]


class Report(msgspec.Struct, forbid_unknown_fields=True):
    position_s: Annotated[float, msgspec.Meta(ge=0, le=7 * 24 * 3600)]
    state: Literal["playing", "paused", "stopped"] = "playing"


def _report(content_type: str, body: bytes) -> Report:
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            from urllib.parse import parse_qs

            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            form.pop("csrf_token", None)  # checked by the guard already
            return msgspec.convert(form, Report, strict=False)
        return msgspec.json.decode(body, type=Report)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValidationException(detail=f"bad progress report: {exc}") from None


def with_user_data(ctx: AppContext, user: User, items: list[dict[str, Any]]) -> None:
    """Add the viewer's ``user_data`` to each item (one query for the lot)."""
    ids = [int(i["id"]) for i in items]
    found = ctx.progress.user_data_many(user.id, ids)
    containers = [int(i["id"]) for i in items if i["kind"] in ("show", "season", "collection")]
    finished = ctx.progress.watched_containers(user.id, containers, user.access)
    favourites = favourite_ids(ctx.db, user.id, ids)
    for item in items:
        item["user_data"] = found.get(int(item["id"]), NOTHING_YET).as_dict()
        if int(item["id"]) in finished:  # watched when every episode or film they may see is
            item["user_data"]["watched"] = True
        item["user_data"]["favourite"] = int(item["id"]) in favourites


def user_data(ctx: AppContext, user_id: int, item_id: int) -> dict[str, Any]:
    """One item's ``user_data`` for the viewer: progress, watched and favourite."""
    data = ctx.progress.user_data(user_id, item_id).as_dict()
    data["favourite"] = bool(favourite_ids(ctx.db, user_id, [item_id]))
    return data


class ProgressController(Controller):
    path = "/api/v1/items/{item_id:int}"
    tags = ["progress"]

    @post("/progress", status_code=200, summary="Report the playback position (durable on 2xx)")
    async def report(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> dict[str, Any]:
        report = _report(request.headers.get("content-type", ""), await request.body())
        user = viewer(request)
        try:
            data = await asyncio.to_thread(
                ctx.progress.record, user.id, item_id, report.position_s, report.state
            )
        except KeyError:
            raise NotFoundException(detail=f"no item with id {item_id}") from None
        except ProgressError as exc:
            raise ValidationException(detail=str(exc)) from None
        metrics.PROGRESS_WRITES.labels(report.state).inc()
        return {"item_id": item_id, "user_data": data.as_dict()}

    @post("/watched", status_code=200, sync_to_thread=True, summary="Mark watched (shows too)")
    def mark_watched(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> dict[str, Any]:
        return self._mark(request, ctx, item_id, True)

    @delete("/watched", status_code=200, sync_to_thread=True, summary="Mark not watched")
    def mark_unwatched(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> dict[str, Any]:
        return self._mark(request, ctx, item_id, False)

    def _mark(
        self, request: Request[Any, Any, Any], ctx: AppContext, item_id: int, watched: bool
    ) -> dict[str, Any]:
        user = viewer(request)
        try:
            ids = ctx.progress.mark(user.id, item_id, watched, user.access)
        except KeyError:
            raise NotFoundException(detail=f"no item with id {item_id}") from None
        return {"item_id": item_id, "watched": watched, "items": len(ids)}


class HomeController(Controller):
    path = "/api/v1/home"
    tags = ["progress"]

    @get("/", sync_to_thread=True, summary="Continue watching, Next up, favourites, recent")
    def home(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> dict[str, Any]:
        user, access = viewer(request), viewer_access(request)
        answer = {
            "continue_watching": rows.continue_watching(ctx.db, user.id, access),
            "next_up": rows.next_up(ctx.db, user.id, access),
            "favourites": favourite_items(ctx.db, user.id, access),
            "recently_added": queries.recently_added(ctx.db, 24, access),
        }
        for items in answer.values():
            with_user_data(ctx, user, items)
        return answer
