"""HLS: ``/api/v1/items/{id}/hls/master.m3u8`` and the signed stream folders under ``/api/v1/hls``.

Stream URLs are ``/api/v1/hls/<key>/<name>?t=<token>&s=<session>``.  The key names the
rendition's content (file, rung, audio, segment format), so segments are immutable and any
HTTP cache in front may keep them for a year; the token is signed for that key alone and
expires; the session lets the engine share and stop jobs per viewer.  Names are parsed
strictly (``index.m3u8``, ``init.mp4``, ``<n>.m4s`` / ``<n>.ts`` with ``n`` in range), so a
request can never name a file outside the stream's folder.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get, post, route
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE

from mediaserver import metrics
from mediaserver.accounts.users import User
from mediaserver.api.access import admin_only, viewer
from mediaserver.api.errors import invalid_parameter
from mediaserver.api.guard import SESSION_COOKIE
from mediaserver.api.openapi import problem, sends
from mediaserver.api.params import ItemId, QueryId
from mediaserver.api.playback import check_parameters, new_session, resolve
from mediaserver.api.ranges import serve_file
from mediaserver.context import AppContext
from mediaserver.streaming.command import TS_OFFSET_S, Stream
from mediaserver.streaming.decision import IMAGE_SUBTITLES
from mediaserver.streaming.styled import ASS_CODECS
from mediaserver.streaming.subtitles import SubtitleError, subtitle_playlist
from mediaserver.streaming.tokens import TokenError
from mediaserver.streaming.transcoder import Busy, SegmentFailed, StreamError

__all__ = [
    "ASS_TYPE",
    "HlsController",
    "MasterPlaylistController",
    "SubtitleController",
    "item_file",
]

PLAYLIST = "application/vnd.apple.mpegurl"
ASS_TYPE = "text/x-ssa; charset=utf-8"  # what libass players and Matroska tools call it
_KEY = re.compile(r"^[0-9a-f]{24}$")
_SEGMENT = re.compile(r"^(0|[1-9][0-9]{0,6})\.(m4s|ts)$")
_SUBTITLE = re.compile(r"^(0|[1-9][0-9]{0,3})\.(m3u8|vtt)$")
_ITEM_SUBTITLE = re.compile(r"^(0|[1-9][0-9]{0,3})\.(vtt|ass)$")
_SESSION = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_IMMUTABLE = {"cache-control": "public, max-age=31536000, immutable"}
_NO_CACHE = {"cache-control": "no-cache"}
# Public to the sign-in guard: these check their own signed, expiring token (players and TVs
# fetch segments without cookies). Session ids are unguessable and can only stop jobs.
TOKEN_CHECKED = {"public": True}
_CONTENT_TYPES = {"m4s": "video/iso.segment", "ts": "video/mp2t", "mp4": "video/mp4"}


def _session(value: str | None) -> str:
    if value is None or value == "":
        return new_session()
    if not _SESSION.match(value):
        raise invalid_parameter("session", "letters, digits, - and _ only, at most 32")
    return value


def _screen(request: Request[Any, Any, Any], user: User) -> str:
    """Who watches, as the transcode queue tells people apart: the user on one sign-in
    (a browser's cookie, an app's or TV's key), the way Jellyfin tells devices apart.  At
    the transcode cap a screen's new stream may replace its own older one (a reloaded
    player); a household sharing one account on two screens is two viewers."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    credential = token.strip() if scheme.lower() == "bearer" else ""
    credential = credential or request.cookies.get(SESSION_COOKIE, "")
    return f"{user.id}/{hashlib.blake2b(credential.encode(), digest_size=6).hexdigest()}"


def _playlist(text: str) -> Response[bytes]:
    return Response(text.encode(), media_type=PLAYLIST, headers=_NO_CACHE)


class _Unavailable(HTTPException):
    status_code = HTTP_503_SERVICE_UNAVAILABLE


class _NotMade(HTTPException):
    """ffmpeg could not make the segment, and will not try again for a while: no
    Retry-After, so players stop asking (hls.js tries another quality, or says so)."""

    status_code = HTTP_500_INTERNAL_SERVER_ERROR


_BUSY = problem(503, "No stream can start now (see Retry-After), or ffmpeg failed on it.")
_UNREADABLE = problem(503, "The subtitle track could not be read from the file.")
_NOT_MADE = problem(500, "ffmpeg could not make this segment; it is not tried again for a while.")


def _busy(exc: Busy) -> _Unavailable:
    return _Unavailable(detail=str(exc), headers={"Retry-After": str(exc.retry_after)})


def _subtitle_track(file: dict[str, Any], index: int) -> dict[str, Any]:
    """The file's subtitle stream ``index`` (embedded or sidecar); 404 when it has none."""
    track = next(
        (x for x in file["streams"] if x["type"] == "subtitle" and x["idx"] == index), None
    )
    if track is None:
        raise NotFoundException(detail="no such subtitle track")
    return dict(track)


def _webvtt(
    request: Request[Any, Any, Any],
    ctx: AppContext,
    file: dict[str, Any],
    track: dict[str, Any],
    mpegts_offset: int,
) -> Response[Any]:
    try:
        path = ctx.subtitles.webvtt(file["path"], track, mpegts_offset=mpegts_offset)
    except SubtitleError as exc:
        raise _Unavailable(detail=str(exc)) from None
    return serve_file(request, Path(path), content_type="text/vtt", extra_headers=_NO_CACHE)


class MasterPlaylistController(Controller):
    path = "/api/v1/items/{item_id:int}/hls"
    tags = ["playback"]

    @get(
        "/master.m3u8",
        sync_to_thread=True,
        summary="The HLS master playlist for this client",
        description="Takes the same parameters as the playback endpoint (profile, vcodec, "
        "acodec, container, ten_bit, max_height, max_channels, segments, audio, subtitle, "
        "file_id) plus an optional session id.",
        operation_class=sends(PLAYLIST),
        responses={503: _BUSY},
    )
    def master(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> Response[bytes]:
        check_parameters(request.query_params, extra=("session",))
        query = {k: v for k, v in request.query_params.items()}
        session = _session(query.pop("session", None))
        user = viewer(request)
        chosen, client, decision = resolve(ctx, item_id, query, user)
        file = ctx.streaming_file(int(chosen["id"]))
        try:
            plan = ctx.streaming.plan(file, decision, client)
        except LookupError as exc:
            raise NotFoundException(detail=str(exc)) from None
        if not plan.streams:
            raise NotFoundException(detail="this file's video cannot be streamed (no size known)")
        names = [ctx.subtitle_attributes(s) for s in plan.subtitles]
        return _playlist(ctx.streaming.master(plan, session, names, person=_screen(request, user)))


class HlsController(Controller):
    path = "/api/v1/hls"
    tags = ["playback"]

    def _stream(self, ctx: AppContext, key: str, token: str | None) -> Stream:
        if not _KEY.match(key):
            raise NotFoundException(detail="no such stream")
        try:
            ctx.streaming.verify(key, token)
        except TokenError as exc:
            raise PermissionDeniedException(detail=str(exc)) from None
        stream = ctx.transcoder.stream(key)
        if stream is None:
            raise NotFoundException(detail="this stream is gone; reload the player")
        return stream

    @route(
        "/{key:str}/{name:str}",
        http_method=["GET", "HEAD"],
        sync_to_thread=True,
        opt=TOKEN_CHECKED,
        summary="A stream's playlist, init segment or media segment",
        operation_class=sends(PLAYLIST, *_CONTENT_TYPES.values(), ranges=True),
        responses={503: _BUSY, 500: _NOT_MADE},
    )
    def media(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        key: FromPath[str],
        name: FromPath[str],
        t: FromQuery[str | None] = None,
        s: FromQuery[str | None] = None,
    ) -> Response[Any]:
        stream = self._stream(ctx, key, t)
        session = _session(s)
        if name == "index.m3u8":
            return _playlist(ctx.streaming.media_playlist(stream, session))
        try:
            if name == "init.mp4" and stream.spec.segment_format == "fmp4":
                path = ctx.transcoder.init_segment(stream, session)
                return serve_file(request, path, content_type="video/mp4", extra_headers=_IMMUTABLE)
            match = _SEGMENT.match(name)
            if match is None or match[2] != stream.spec.extension:
                raise NotFoundException(detail="no such segment")
            index = int(match[1])
            if index >= len(stream.segments):
                raise NotFoundException(detail="no such segment")
            cached = ctx.transcoder.cache.contains(stream.key, index)
            metrics.SEGMENT_REQUESTS.labels("cache" if cached else "job").inc()
            # Through the transcoder even when cached: a job ahead of this viewer, paused
            # until the viewer catches up, learns here that it has.
            path = ctx.transcoder.segment(stream, index, session)
        except Busy as exc:
            raise _busy(exc) from None
        except SegmentFailed as exc:
            raise _NotMade(detail=str(exc)) from None
        except StreamError as exc:
            raise _Unavailable(detail=str(exc), headers={"Retry-After": "10"}) from None
        return serve_file(
            request, path, content_type=_CONTENT_TYPES[match[2]], extra_headers=_IMMUTABLE
        )

    @get(
        "/{key:str}/subtitles/{name:str}",
        sync_to_thread=True,
        opt=TOKEN_CHECKED,
        summary="A text subtitle track as an HLS playlist or WebVTT",
        operation_class=sends(PLAYLIST, "text/vtt", ranges=True),
        responses={503: _UNREADABLE},
    )
    def subtitles(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        key: FromPath[str],
        name: FromPath[str],
        t: FromQuery[str | None] = None,
        s: FromQuery[str | None] = None,
    ) -> Response[Any]:
        stream = self._stream(ctx, key, t)
        match = _SUBTITLE.match(name)
        if match is None:
            raise NotFoundException(detail="no such subtitle track")
        file = ctx.streaming_file(stream.spec.file_id)
        track = _subtitle_track(file, int(match[1]))
        if match[2] == "m3u8":
            query = ctx.streaming.query(stream.key, _session(s))
            return _playlist(subtitle_playlist(stream.spec.duration_s, f"{match[1]}.vtt?{query}"))
        offset = int(TS_OFFSET_S * 90_000) if stream.spec.segment_format == "ts" else 0
        return _webvtt(request, ctx, file, track, offset)

    @post(
        "/sessions/{session:str}/stop",
        status_code=204,
        sync_to_thread=False,
        opt=TOKEN_CHECKED,
        summary="The viewer left",
    )
    def stop(self, ctx: NamedDependency[AppContext], session: FromPath[str]) -> None:
        ctx.transcoder.stop_session(_session(session))

    @post(
        "/sessions/{session:str}/ping",
        status_code=204,
        sync_to_thread=False,
        opt=TOKEN_CHECKED,
        summary="Still watching (paused)",
    )
    def ping(self, ctx: NamedDependency[AppContext], session: FromPath[str]) -> None:
        ctx.transcoder.ping(_session(session))

    @get("/jobs", sync_to_thread=False, guards=[admin_only], summary="Running stream jobs")
    def jobs(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        return {
            "jobs": ctx.transcoder.jobs(),
            "waiting": ctx.transcoder.waiting(),  # people queued for a slot, first come first
            "cache": {
                "bytes": ctx.transcoder.cache.total_bytes,
                "max_bytes": ctx.transcoder.cache.max_bytes,
                "hits": ctx.transcoder.cache.hits,
                "misses": ctx.transcoder.cache.misses,
            },
        }


class SubtitleController(Controller):
    path = "/api/v1/items/{item_id:int}/subtitles"
    tags = ["playback"]

    @get(
        "/{name:str}",
        sync_to_thread=True,
        summary="A text subtitle track as WebVTT (<index>.vtt), or an ASS/SSA one as it is "
        "(<index>.ass, for a player that draws it with libass)",
        operation_class=sends("text/vtt", "text/x-ssa", ranges=True),
        responses={503: _UNREADABLE},
    )
    def webvtt(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        name: FromPath[str],
        file_id: QueryId = None,
    ) -> Response[Any]:
        match = _ITEM_SUBTITLE.match(name)
        if match is None:
            raise NotFoundException(detail="no such subtitle track")
        file = item_file(ctx, item_id, file_id)
        track = _subtitle_track(file, int(match[1]))
        if match[2] == "ass":
            return _ass(request, ctx, file, track)
        if track.get("codec") in IMAGE_SUBTITLES:
            raise NotFoundException(detail="no such text subtitle track")
        return _webvtt(request, ctx, file, track, 0)


def item_file(ctx: AppContext, item_id: int, file_id: int | None) -> dict[str, Any]:
    """The item's file ``file_id`` (its first when None) with its streams; 404 if none."""
    sql = "SELECT id FROM files WHERE item_id = ?" + (" AND id = ?" if file_id else "")
    row = ctx.db.query_one(sql + " ORDER BY id LIMIT 1", [item_id, *([file_id] if file_id else [])])
    if row is None:
        raise NotFoundException(detail=f"item {item_id} has no such file")
    return ctx.streaming_file(int(row["id"]))


def _ass(
    request: Request[Any, Any, Any], ctx: AppContext, file: dict[str, Any], track: dict[str, Any]
) -> Response[Any]:
    if track.get("codec") not in ASS_CODECS:
        raise NotFoundException(detail="this subtitle track is not ASS or SSA; ask for .vtt")
    try:
        path = ctx.subtitles.ass(file["path"], track)
    except SubtitleError as exc:
        raise _Unavailable(detail=str(exc)) from None
    return serve_file(request, path, content_type=ASS_TYPE, extra_headers=_NO_CACHE)
