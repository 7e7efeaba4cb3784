"""``/dlna``: the UPnP MediaServer that smart TVs, VLC and Kodi browse and play.

- ``description.xml``, ``scpd/{service}.xml``, ``icons/*``
- ``control/{service}``: SOAP actions (``POST``); faults are HTTP 500 with a UPnPError
- ``event/{service}``: GENA ``SUBSCRIBE`` / ``UNSUBSCRIBE`` (an ASGI mount: Litestar's
  routes take only the usual HTTP methods)
- ``files/{id}/original.<ext>``: the file itself, with ``Range``
- ``files/{id}/stream.ts?profile=``: the streaming engine's MPEG-TS segments for this
  renderer, one after another, from the ``TimeSeekRange.dlna.org`` asked for
- ``files/{id}/subtitles/{index}.srt``, ``items/{id}/poster.jpg``

TVs do not sign in, so these routes are public to the sign-in guard and check their own
rule instead: DLNA must be on, and the client (and, through a proxy, every address it
forwards for) must be on a private, link-local or loopback address.  What they show is
the DLNA user's view (``dlna/service.py``); anything else is a 404.
"""

from __future__ import annotations

import bisect
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import structlog
from litestar import Controller, Request, Response, asgi, get, post, route
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import Stream
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import Receive, Scope, Send

from mediaserver.accounts.users import User
from mediaserver.api.access import NOTHING, admin_only
from mediaserver.api.clients import forwarded_for, from_home_network
from mediaserver.api.errors import invalid_parameter
from mediaserver.api.guard import respond
from mediaserver.api.params import FileId, ItemId
from mediaserver.api.ranges import serve_file
from mediaserver.context import AppContext
from mediaserver.dlna import didl, gena, upnp
from mediaserver.dlna.content import (
    SEARCH_CAPABILITIES,
    SORT_CAPABILITIES,
    Browser,
    Links,
    caption_tracks,
    feature_list,
    original_features,
    stream_features,
)
from mediaserver.dlna.service import ICONS, PREFIX, RENDERERS, icon, renderer_for, source_protocols
from mediaserver.library import queries
from mediaserver.library.images import resolve_image
from mediaserver.streaming.decision import decide
from mediaserver.streaming.profiles import ClientProfile
from mediaserver.streaming.subtitles import SubtitleError, srt_from_webvtt
from mediaserver.streaming.transcoder import Busy, StreamError
from mediaserver.streaming.transcoder import Stream as EngineStream

__all__ = ["DlnaController", "DlnaStatusController", "events"]

log = structlog.get_logger(__name__)

PUBLIC = {"public": True}  # TVs do not sign in: home_only() (and the mount) check instead
_XML = 'text/xml; charset="utf-8"'
_ORIGINAL = re.compile(r"^original\.([a-z0-9]{1,5})$")
_SUBTITLE = re.compile(r"^(0|[1-9][0-9]{0,3})\.srt$")
_NPT = re.compile(r"^\s*npt\s*=\s*([0-9:.]+)\s*-\s*([0-9:.]*)\s*$", re.IGNORECASE)
_CLOCK = re.compile(r"^(\d{1,5}):([0-5]?\d):([0-5]?\d(?:\.\d{1,6})?)$")


class _Unavailable(HTTPException):
    status_code = HTTP_503_SERVICE_UNAVAILABLE


def check_client(ctx: AppContext, scope: Scope) -> None:
    """404 while DLNA is off; 403 for anyone outside the home network."""
    if ctx.dlna is None:
        raise NotFoundException(detail="DLNA is turned off on this server")
    if not from_home_network(scope):
        raise PermissionDeniedException(detail="DLNA answers only devices on the home network")


async def home_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    check_client(connection.app.state.hearth, connection.scope)


def _base(request: Request[Any, Any, Any]) -> str:
    """The address and port the device reached us at: where its next requests must go."""
    server = request.scope.get("server")
    if not server:
        return str(request.base_url).rstrip("/")
    host, port = str(server[0]), int(server[1] or 80)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _viewer(ctx: AppContext) -> User | None:
    return ctx.dlna.viewer() if ctx.dlna is not None else None


def _xml(body: bytes, status: int = 200) -> Response[bytes]:
    return Response(
        body, status_code=status, media_type=_XML, headers={"Cache-Control": "no-cache"}
    )


def _transfer_mode(request: Request[Any, Any, Any], default: str) -> str:
    asked = request.headers.get("transfermode.dlna.org", "")
    return asked if asked in ("Streaming", "Interactive", "Background") else default


def parse_npt(value: str, duration: float) -> float:
    """The start of ``TimeSeekRange.dlna.org: npt=START-[END]`` in seconds (400 if bad,
    416 if past the end)."""
    match = _NPT.match(value)
    if match is None:
        raise HTTPException(status_code=400, detail="TimeSeekRange.dlna.org must be npt=START-")
    start = _seconds(match[1])
    if start is None:
        raise HTTPException(status_code=400, detail="TimeSeekRange.dlna.org has a bad time")
    if start >= duration:
        raise HTTPException(status_code=416, detail="that time is past the end of the video")
    return start


def _seconds(text: str) -> float | None:
    clock = _CLOCK.match(text)
    if clock:
        return int(clock[1]) * 3600 + int(clock[2]) * 60 + float(clock[3])
    return float(text) if re.fullmatch(r"\d{1,9}(\.\d{1,6})?", text) else None


class DlnaController(Controller):
    path = PREFIX
    tags = ["dlna"]
    include_in_schema = False
    opt = PUBLIC
    guards = [home_only]

    @get("/description.xml", sync_to_thread=False)
    def description(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Response[bytes]:
        assert ctx.dlna is not None
        icons = [
            upnp.Icon(
                "image/png" if n.endswith("png") else "image/jpeg", size, f"{PREFIX}/icons/{n}"
            )
            for n, (size, _) in ICONS.items()
        ]
        body = upnp.device_description(
            udn=ctx.dlna.udn, name=ctx.dlna.name, version=ctx.dlna.version, base=_base(request),
            icons=icons, prefix=PREFIX,
        )  # fmt: skip
        return _xml(body)

    @get("/scpd/{name:str}", sync_to_thread=False)
    def scpd(self, name: FromPath[str]) -> Response[bytes]:
        found = upnp.SERVICES.get(name.removesuffix(".xml")) if name.endswith(".xml") else None
        if found is None:
            raise NotFoundException(detail="no such service")
        return _xml(upnp.scpd(found))

    @get("/icons/{name:str}", sync_to_thread=False)
    def icon(self, name: FromPath[str]) -> Response[bytes]:
        if name not in ICONS:
            raise NotFoundException(detail="no such icon")
        data, media_type = icon(name)
        return Response(
            data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    @post("/control/{service:str}", status_code=200)
    async def control(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        service: FromPath[str],
    ) -> Response[bytes]:
        found = upnp.SERVICES.get(service)
        if found is None:
            raise NotFoundException(detail="no such service")
        body = await request.body()
        try:
            action, arguments = upnp.parse_control(found, request.headers.get("soapaction"), body)
            values = await anyio.to_thread.run_sync(
                _perform, ctx, request, found, action.name, arguments
            )
        except upnp.SoapError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except upnp.UpnpError as exc:
            log.info("DLNA action refused", service=service, error=str(exc))
            return _xml(upnp.soap_fault(exc), status=500)
        return _xml(upnp.soap_response(found, action, values))

    @route("/files/{file_id:int}/{name:str}", http_method=["GET", "HEAD"], sync_to_thread=True)
    def media(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        file_id: FileId,
        name: FromPath[str],
        profile: FromQuery[str | None] = None,
    ) -> Response[Any]:
        file = _visible_file(ctx, file_id)
        if profile is not None and profile not in RENDERERS:
            raise invalid_parameter("profile", f"must be one of {', '.join(sorted(RENDERERS))}")
        if name == "stream.ts":
            chosen = (
                RENDERERS[profile]
                if profile
                else renderer_for(request.headers.get("user-agent", ""))
            )
            return _stream(request, ctx, file, chosen)

        original = _ORIGINAL.match(name)
        if original and original[1] == file["container"]:
            return _original(request, file)
        raise NotFoundException(detail="no such file")

    @get("/files/{file_id:int}/subtitles/{name:str}", sync_to_thread=True)
    def subtitle(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        file_id: FileId,
        name: FromPath[str],
    ) -> Response[Any]:
        file = _visible_file(ctx, file_id)
        match = _SUBTITLE.match(name)
        track = next(
            (
                s
                for s in file["streams"]
                if match and s["type"] == "subtitle" and s["idx"] == int(match[1])
            ),
            None,
        )
        if track is None:
            raise NotFoundException(detail="no such subtitle track")
        try:
            vtt = ctx.subtitles.webvtt(file["path"], track)
        except SubtitleError as exc:
            raise NotFoundException(detail=str(exc)) from None
        text = srt_from_webvtt(Path(vtt).read_text(encoding="utf-8"))
        return Response(
            text.encode("utf-8"),
            media_type="text/srt; charset=utf-8",
            headers={"transferMode.dlna.org": _transfer_mode(request, "Background")},
        )

    @route("/items/{item_id:int}/poster.jpg", http_method=["GET", "HEAD"], sync_to_thread=True)
    def poster(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
    ) -> Response[Any]:
        user = _viewer(ctx)
        if user is None or not queries.is_visible(ctx.db, item_id, user.access):
            raise NotFoundException(detail="no such item")
        poster = queries.poster_of(ctx.db, item_id, user.access)
        path = resolve_image(poster.reference if poster else None, ctx.images_dir)
        if path is None:
            raise NotFoundException(detail="this item has no poster")
        from mediaserver.imaging import ImageRejected, resized_image

        try:  # 320 wide: DLNA's JPEG_SM is at most 640x480
            path = resized_image(path, 320, ctx.settings.cache_path / "images")
        except (ImageRejected, OSError):
            raise NotFoundException(detail="this item's poster cannot be shown") from None
        kind = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
        features = (
            f"DLNA.ORG_PN=JPEG_SM;DLNA.ORG_OP=00;DLNA.ORG_CI=1;DLNA.ORG_FLAGS={didl.FLAGS_IMAGE}"
        )
        keep = "no-cache" if poster and poster.borrowed else "public, max-age=3600"
        return serve_file(request, path, content_type=kind, extra_headers={
            "Cache-Control": keep, "contentFeatures.dlna.org": features,
            "transferMode.dlna.org": _transfer_mode(request, "Interactive")})  # fmt: skip


def _visible_file(ctx: AppContext, file_id: int) -> dict[str, Any]:
    """The file with its streams, if the DLNA user may see its item; else 404."""
    row = ctx.db.query_one(
        "SELECT item_id FROM files WHERE id = ? AND probe_error IS NULL", [file_id]
    )
    user = _viewer(ctx)
    if row is None or user is None or not queries.is_visible(ctx.db, int(row[0]), user.access):
        raise NotFoundException(detail="no such file")
    return ctx.streaming_file(file_id)


def _perform(
    ctx: AppContext,
    request: Request[Any, Any, Any],
    service: upnp.Service,
    action: str,
    args: dict[str, str],
) -> dict[str, str]:
    """Run one action (in a worker thread: it reads the catalog)."""
    assert ctx.dlna is not None
    if service is upnp.MEDIA_RECEIVER_REGISTRAR:  # every device on the home network may watch
        return {"Result": "1"} if action != "RegisterDevice" else {"RegistrationRespMsg": ""}
    if service is upnp.CONNECTION_MANAGER:
        if action == "GetProtocolInfo":
            return {"Source": source_protocols(), "Sink": ""}
        if action == "GetCurrentConnectionIDs":
            return {"ConnectionIDs": "0"}
        if args["ConnectionID"] != "0":
            raise upnp.UpnpError(706, "Invalid connection reference")
        return {"RcsID": "-1", "AVTransportID": "-1", "ProtocolInfo": "",
                "PeerConnectionManager": "", "PeerConnectionID": "-1", "Direction": "Output",
                "Status": "OK"}  # fmt: skip
    if action == "GetSearchCapabilities":
        return {"SearchCaps": SEARCH_CAPABILITIES}
    if action == "GetSortCapabilities":
        return {"SortCaps": SORT_CAPABILITIES}
    if action == "GetSystemUpdateID":
        return {"Id": str(ctx.dlna.update_id)}
    if action == "X_GetFeatureList":
        return {"FeatureList": feature_list()}
    user = ctx.dlna.viewer()
    browser = Browser(
        ctx.db,
        user.access if user else NOTHING,
        user.id if user else None,
        Links(_base(request), PREFIX),
        renderer_for(request.headers.get("user-agent", "")),
    )
    start, count = int(args["StartingIndex"]), int(args["RequestedCount"])
    if action == "Browse":
        page = browser.browse(
            args["ObjectID"], args["BrowseFlag"], args["Filter"], start, count, args["SortCriteria"]
        )
    else:
        page = browser.search(
            args["ContainerID"], args["SearchCriteria"], args["Filter"], start, count,
            args["SortCriteria"],
        )  # fmt: skip
    return {
        "Result": didl.DIDL_OPEN + page.result + didl.DIDL_CLOSE,
        "NumberReturned": str(page.returned),
        "TotalMatches": str(page.total),
        "UpdateID": str(ctx.dlna.update_id),
    }


def _features_headers(
    request: Request[Any, Any, Any], features: str, file: dict[str, Any]
) -> dict[str, str]:
    headers = {
        "contentFeatures.dlna.org": features,
        "transferMode.dlna.org": _transfer_mode(request, "Streaming"),
        "Cache-Control": "no-cache",
    }
    if request.headers.get("getcaptioninfo.sec") == "1":  # Samsung asks beside the video
        tracks = caption_tracks(file["streams"])
        if tracks:
            url = Links(_base(request), PREFIX).caption(int(file["id"]), int(tracks[0]["idx"]))
            headers["CaptionInfo.sec"] = url
    return headers


def _original(request: Request[Any, Any, Any], file: dict[str, Any]) -> Response[Any]:
    seek = request.headers.get("timeseekrange.dlna.org")
    if seek and parse_npt(seek, float(file["duration_s"] or 1e9)) > 0:
        # The DIDL offers this file with byte seeks only (DLNA.ORG_OP=01).
        raise HTTPException(status_code=406, detail="this file seeks by bytes (Range), not by time")
    container = str(file["container"])
    headers = _features_headers(request, original_features(file), file)
    mime = didl.file_mime(container) or "application/octet-stream"
    return serve_file(request, Path(file["path"]), content_type=mime, extra_headers=headers)


def _stream(
    request: Request[Any, Any, Any], ctx: AppContext, file: dict[str, Any], profile: ClientProfile
) -> Response[Any]:
    """The engine's MPEG-TS segments of the rendition this TV needs, back to back."""
    try:
        decision = decide(
            file["container"],
            file["streams"],
            profile,
            start_offset_s=file["start_offset_s"] or 0.0,
        )
        plan = ctx.streaming.plan(file, decision, profile)
    except LookupError as exc:
        raise NotFoundException(detail=str(exc)) from None
    if not plan.streams:
        raise NotFoundException(detail="this file's video cannot be streamed")
    stream = plan.streams[0][0]
    duration = stream.spec.duration_s
    seek = request.headers.get("timeseekrange.dlna.org")
    first = 0
    headers = _features_headers(request, stream_features(file, decision), file)
    if seek:
        start = parse_npt(seek, duration)
        first = max(0, bisect.bisect_right(stream.starts, start) - 1)
        begin = stream.segments[first].start_s
        headers["TimeSeekRange.dlna.org"] = (
            f"npt={didl.npt(begin)}-{didl.npt(duration)}/{didl.npt(duration)}"
        )
    if request.method == "HEAD":
        return Stream(iter(()), media_type="video/mpeg", headers=headers)
    session = f"dlna{secrets.token_urlsafe(9)}"
    try:  # the first segment here: a busy server is a 503 before any byte is sent
        first_path = ctx.transcoder.segment(stream, first, session)
    except Busy as exc:
        raise _Unavailable(detail=str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except StreamError as exc:
        raise _Unavailable(detail=str(exc), headers={"Retry-After": "10"}) from None

    async def body() -> AsyncIterator[bytes]:
        try:
            path = first_path
            for index in range(first, len(stream.segments)):
                if index > first:
                    path = await anyio.to_thread.run_sync(
                        ctx.transcoder.segment, stream, index, session
                    )
                yield await anyio.to_thread.run_sync(
                    _read_segment, ctx, stream, index, session, path
                )
        except (StreamError, Busy) as exc:  # mid-stream: all a TV can be told is the end
            log.warning("DLNA stream ended early", file_id=file["id"], error=str(exc))
        finally:
            ctx.transcoder.stop_session(session)

    return Stream(body(), media_type="video/mpeg", headers=headers)


def _read_segment(
    ctx: AppContext, stream: EngineStream, index: int, session: str, path: Path
) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:  # evicted between being made and being read: once more
        return ctx.transcoder.segment(stream, index, session).read_bytes()


# -- GENA ---------------------------------------------------------------------------------


async def _plain(send: Send, status: int, headers: dict[str, str], text: str = "") -> None:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await respond(send, status, text.encode(), raw)


@asgi(f"{PREFIX}/event", is_mount=True, copy_scope=False, opt=PUBLIC, include_in_schema=False)
async def events(scope: Scope, receive: Receive, send: Send) -> None:
    """``SUBSCRIBE``/``UNSUBSCRIBE`` on ``/dlna/event/{service}`` (UDA 1.0 §4.1)."""
    ctx: AppContext = scope["app"].state.hearth
    try:
        check_client(ctx, scope)
    except HTTPException as exc:
        await _plain(send, exc.status_code, {"content-type": "text/plain"}, exc.detail)
        return
    assert ctx.dlna is not None
    service = str(scope.get("path", "")).strip("/")
    if service not in upnp.SERVICES:
        await _plain(send, 404, {"content-type": "text/plain"}, "no such service")
        return
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    method = scope.get("method")
    client = scope.get("client")
    host = str(client[0]) if client else ""
    sid = headers.get("sid")
    try:
        if method == "SUBSCRIBE" and sid is not None:
            if "callback" in headers or "nt" in headers:
                raise gena.GenaError(400, "a renewal carries SID only, not CALLBACK or NT")
            sub, seconds = ctx.dlna.subscriptions.renew(service, sid, headers.get("timeout"))
        elif method == "SUBSCRIBE":
            if forwarded_for(scope["headers"]):  # a proxy's address is no TV to call back
                raise gena.GenaError(412, "subscribe directly, not through a proxy")
            sub, seconds = ctx.dlna.subscriptions.subscribe(
                service, headers.get("callback"), headers.get("nt"), headers.get("timeout"), host
            )
            await _plain(send, 200, _subscribed(ctx, sub.sid, seconds))
            ctx.dlna.send_initial(sub)
            return
        elif method == "UNSUBSCRIBE":
            if sid is None:
                raise gena.GenaError(412, "UNSUBSCRIBE needs the SID")
            ctx.dlna.subscriptions.unsubscribe(service, sid)
            await _plain(send, 200, {})
            return
        else:
            await _plain(
                send, 405, {"allow": "SUBSCRIBE, UNSUBSCRIBE"}, "use SUBSCRIBE or UNSUBSCRIBE"
            )
            return
    except gena.GenaError as exc:
        await _plain(send, exc.status, {"content-type": "text/plain"}, str(exc))
        return
    await _plain(send, 200, _subscribed(ctx, sub.sid, seconds))


def _subscribed(ctx: AppContext, sid: str, seconds: int) -> dict[str, str]:
    assert ctx.dlna is not None
    return {"sid": sid, "timeout": f"Second-{seconds}", "server": ctx.dlna.server_header}


class DlnaStatusController(Controller):
    path = "/api/v1/dlna"
    tags = ["discovery"]
    guards = [admin_only]

    @get("/", sync_to_thread=True, summary="The DLNA server: whose view TVs get, SSDP counters")
    def status(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        if ctx.dlna is None:
            return {"enabled": False}
        return dict(ctx.dlna.status())
