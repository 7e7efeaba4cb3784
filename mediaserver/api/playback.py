"""``/api/v1/items/{id}/playback``: how this client should play this item, and why.

The client says what it can decode (a profile name and/or codec lists, see
``streaming/profiles.py``); the answer is the decision (direct play, remux or transcode),
the sentence to show the viewer, and the URL to play.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import QueryParameter

from mediaserver.accounts.users import User
from mediaserver.api.access import viewer
from mediaserver.api.errors import invalid_parameter
from mediaserver.api.items import require_item
from mediaserver.api.openapi import example
from mediaserver.api.params import ItemId
from mediaserver.context import AppContext
from mediaserver.streaming.decision import IMAGE_SUBTITLES, Decision, decide
from mediaserver.streaming.profiles import (
    PROFILES,
    CapabilityError,
    ClientProfile,
    profile_from_query,
)
from mediaserver.streaming.styled import ASS_CODECS
from mediaserver.streaming.tracks import preferred_tracks

__all__ = ["PlaybackController", "check_parameters", "new_session", "resolve"]

Names = Annotated[str | None, QueryParameter(description="Comma-separated names, e.g. h264,vp9.")]


_CAPABILITIES = (
    "profile",
    "vcodec",
    "acodec",
    "container",
    "ten_bit",
    "max_height",
    "max_channels",
    "segments",
)


class PlaybackController(Controller):
    path = "/api/v1/items/{item_id:int}/playback"
    tags = ["playback"]

    @get(
        "/",
        sync_to_thread=False,
        summary="The playback decision for this client",
        operation_class=example(
            {
                "item_id": 8,
                "file_id": 5,
                "profile": "generic",
                "decision": {"mode": "direct", "video": "copy", "audio": "copy"},
                "message": "Direct play: this player plays MP4 with H.264 and AAC.",
                "direct_url": "/api/v1/items/8/file?file_id=5",
                "hls_url": "/api/v1/items/8/hls/master.m3u8?session=Zn4JXNuyVjex",
                "session": "Zn4JXNuyVjex",
                "duration_s": 5400.0,
            }
        ),
    )
    def playback(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
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
            str | None, QueryParameter(description="Subtitle stream index; empty for none.")
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
        check_parameters(request.query_params)
        query = {k: v for k, v in given.items() if v is not None}
        for name, value in (("audio", audio), ("file_id", file_id)):
            if value is not None:
                query[name] = str(value)
        if subtitle is not None:
            query["subtitle"] = subtitle  # "" (subtitle=): the viewer turned them off
        chosen, client, decision = resolve(ctx, item_id, query, viewer(request))
        session = new_session()
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
            "hls_url": f"/api/v1/items/{item_id}/hls/master.m3u8?{urlencode({**query, 'session': session})}",
            "session": session,
            "duration_s": chosen["duration_s"],
            # A file cut short: "only 0:00:01 of 0:00:12 can be read" (None when whole).
            "damage": chosen.get("damage"),
            "audio_tracks": [_track(s) for s in chosen["streams"] if s["type"] == "audio"],
            "subtitle_tracks": [
                _subtitle(item_id, chosen["id"], s)
                for s in chosen["streams"]
                if s["type"] == "subtitle"
            ],
            "fonts_url": _fonts_url(item_id, chosen),
            "chapters": _chapters(chosen),
            "trickplay_url": _trickplay_url(ctx, item_id, chosen["id"]),
        }


def new_session() -> str:
    return secrets.token_urlsafe(9)


_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")  # ASCII: str.isdigit() also takes "²", int() not


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise invalid_parameter(name, "must be a whole number")
    return int(raw)


KNOWN_PARAMETERS = frozenset({*_CAPABILITIES, "audio", "subtitle", "file_id"})


def check_parameters(given: Iterable[str], extra: Iterable[str] = ()) -> None:
    """A parameter this API does not have is a 400 naming it, not silently ignored: a
    client that spells ``videoCodec`` for ``vcodec`` should learn it at once."""
    known = KNOWN_PARAMETERS | set(extra)
    unknown = sorted(set(given) - known)
    if unknown:
        raise invalid_parameter(unknown[0], f"not a parameter here; use {', '.join(sorted(known))}")


def resolve(
    ctx: AppContext, item_id: int, query: Mapping[str, str], user: User | None = None
) -> tuple[dict[str, Any], ClientProfile, Decision]:
    """The file, client profile and decision for a playback request (400/404 on bad input).

    Tracks the client did not choose follow the user's language preferences, or the
    household's (set up by the admin) where the user has none."""
    try:
        client = profile_from_query({k: query[k] for k in _CAPABILITIES if k in query})
    except CapabilityError as exc:
        raise invalid_parameter(exc.param, str(exc).split(": ", 1)[1]) from None
    file_id = _int_param(query, "file_id")
    audio = _int_param(query, "audio")
    subtitle = _int_param(query, "subtitle")
    item = require_item(ctx, item_id)
    files = [f for f in item["files"] if file_id is None or f["id"] == file_id]
    if not files:
        detail = f"item {item_id} has no playable file" + (f" with id {file_id}" if file_id else "")
        raise NotFoundException(detail=detail)
    chosen = files[0]
    if user is not None and (audio is None or "subtitle" not in query):
        prefs = ctx.users.preferences(user.id)
        household = ctx.profile.get()  # the server's languages, for people who chose none
        preferred_audio, preferred_subtitle = preferred_tracks(
            chosen["streams"],
            audio_language=prefs.audio_language or household.metadata_language,
            subtitle_language=prefs.subtitle_language or household.subtitle_language,
            subtitle_mode=prefs.subtitle_mode,
        )
        audio = audio if audio is not None else preferred_audio
        subtitle = subtitle if "subtitle" in query else preferred_subtitle
    try:
        decision = decide(
            chosen["container"],
            chosen["streams"],
            client,
            audio_index=audio,
            subtitle_index=subtitle,
            start_offset_s=chosen["start_offset_s"],
        )
    except LookupError as exc:
        raise invalid_parameter(
            "subtitle" if "subtitle" in str(exc) else "audio", str(exc)
        ) from None
    return chosen, client, decision


def _track(stream: Mapping[str, Any]) -> dict[str, Any]:
    kind = "image" if stream.get("codec") in IMAGE_SUBTITLES else "text"
    return {
        "index": stream["idx"],
        "language": stream.get("language"),
        "title": stream.get("title"),
        "codec": stream.get("codec"),
        "channels": stream.get("channels"),
        "default": bool(stream.get("is_default")),
        "forced": bool(stream.get("is_forced")),
        **({"kind": kind} if stream["type"] == "subtitle" else {}),
    }


def _subtitle(item_id: int, file_id: int, stream: Mapping[str, Any]) -> dict[str, Any]:
    """A subtitle track; text ones carry the WebVTT ``url`` a direct-play <track> loads, and
    ASS/SSA ones also ``ass_url``, the track as it is, for a player that draws it itself."""
    track = _track(stream)
    track["external"] = bool(stream.get("external"))  # a file beside the video
    base = f"/api/v1/items/{item_id}/subtitles/{stream['idx']}"
    track["url"] = f"{base}.vtt?file_id={file_id}" if track["kind"] == "text" else None
    styled = stream.get("codec") in ASS_CODECS
    track["ass_url"] = f"{base}.ass?file_id={file_id}" if styled else None
    return track


def _fonts_url(item_id: int, file: Mapping[str, Any]) -> str | None:
    """Where the fonts attached to the file are listed; None when it has no attachments."""
    if not any(s["type"] == "attachment" for s in file["streams"]):
        return None
    return f"/api/v1/items/{item_id}/fonts?file_id={file['id']}"


def _chapters(file: Mapping[str, Any]) -> list[dict[str, Any]]:
    chapters = file.get("chapters") or []
    return [
        {
            "start_s": c.get("start_s", c.get("start")),
            "end_s": c.get("end_s", c.get("end")),
            "title": c.get("title"),
        }
        for c in chapters
        if isinstance(c, Mapping)
    ]


def _trickplay_url(ctx: AppContext, item_id: int, file_id: int) -> str | None:
    service = getattr(ctx, "trickplay", None)
    if service is None:
        return None
    url: str | None = service.vtt_url(item_id, file_id)
    return url
