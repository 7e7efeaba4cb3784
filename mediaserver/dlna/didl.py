"""DIDL-Lite (what a ContentDirectory Browse answers) and the DLNA media descriptions.

``protocolInfo`` is ``http-get:*:<mime>:<DLNA fields>``; the DLNA fields say what the TV
may do with the resource: ``DLNA.ORG_PN`` its media profile (given only where the file
really is one: a wrong profile makes strict TVs refuse the file), ``DLNA.ORG_OP`` how it
can seek (``01`` byte ranges for files, ``10`` time seeks for transcoded streams),
``DLNA.ORG_CI`` whether it is converted and ``DLNA.ORG_FLAGS`` the transfer modes.  The
same string goes in the ``contentFeatures.dlna.org`` header of the media response.

Written out as text with escaping, not through ElementTree: TVs look for the usual
``dc:``/``upnp:`` prefixes, and the document is small and flat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = [
    "DIDL_CLOSE",
    "DIDL_OPEN",
    "FLAGS_FILE",
    "FLAGS_IMAGE",
    "Resource",
    "container_xml",
    "content_features",
    "date_of",
    "file_mime",
    "filter_set",
    "item_class",
    "item_xml",
    "npt",
    "profile_name",
]

DIDL_OPEN = (
    '<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/" '
    'xmlns:dlna="urn:schemas-dlna-org:metadata-1-0/" xmlns:sec="http://www.sec.co.kr/">'
)
DIDL_CLOSE = "</DIDL-Lite>"

# DLNA.ORG_FLAGS bits (DLNA guidelines 7.4.1.3.24), then 24 reserved zeros.
_STREAMING, _INTERACTIVE, _BACKGROUND, _STALL, _V15 = 1 << 24, 1 << 23, 1 << 22, 1 << 21, 1 << 20
FLAGS_FILE = f"{_STREAMING | _BACKGROUND | _STALL | _V15:08x}" + "0" * 24
FLAGS_IMAGE = f"{_INTERACTIVE | _BACKGROUND | _STALL | _V15:08x}" + "0" * 24

# What DLNA calls the containers a TV may open as they are (none: not offered directly).
_MIME = {
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "webm": "video/webm",
    "ts": "video/mpeg",
    "avi": "video/x-msvideo",
}


def file_mime(container: str | None) -> str | None:
    return _MIME.get(container or "")


def profile_name(container: str, video: str | None, audio: str | None, height: int) -> str | None:
    """The DLNA media profile of H.264 in MP4 or MPEG-TS with AAC, else None (unnamed)."""
    if video != "h264" or audio not in ("aac", None):
        return None
    if container in ("mp4", "m4v"):
        if height <= 576:
            return "AVC_MP4_MP_SD_AAC_MULT5"
        return "AVC_MP4_MP_HD_720p_AAC" if height <= 720 else "AVC_MP4_MP_HD_1080i_AAC"
    if container == "ts":
        return "AVC_TS_MP_SD_AAC_MULT5_ISO" if height <= 576 else "AVC_TS_MP_HD_AAC_MULT5_ISO"
    return None


def content_features(profile: str | None, *, converted: bool, time_seek: bool) -> str:
    """The DLNA fourth field of protocolInfo, also sent as ``contentFeatures.dlna.org``."""
    fields = [f"DLNA.ORG_PN={profile}"] if profile else []
    fields += [
        f"DLNA.ORG_OP={'10' if time_seek else '01'}",
        f"DLNA.ORG_CI={1 if converted else 0}",
        f"DLNA.ORG_FLAGS={FLAGS_FILE}",
    ]
    return ";".join(fields)


def npt(seconds: float) -> str:
    """``H:MM:SS.mmm``: DIDL's duration and the TimeSeekRange answer's times."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def filter_set(raw: str) -> frozenset[str] | None:
    """The properties a Browse asked for; None for ``*`` (all of them)."""
    names = frozenset(part.strip() for part in raw.split(",") if part.strip())
    return None if "*" in names else names


@dataclass(frozen=True, slots=True)
class Resource:
    url: str
    protocol_info: str
    attributes: Mapping[str, str] = field(default_factory=dict)  # size, duration, resolution...


def _wants(wanted: frozenset[str] | None, name: str) -> bool:
    return wanted is None or name in wanted


def _element(tag: str, text: str, attributes: Mapping[str, str] | None = None) -> str:
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in (attributes or {}).items())
    return f"<{tag}{attrs}>{escape(text)}</{tag}>"


def item_class(item: Mapping[str, Any]) -> str:
    """``upnp:class`` of a film or an episode (what a Browse shows and a Search matches)."""
    return "object.item.videoItem.movie" if item.get("kind") == "movie" else "object.item.videoItem"


def date_of(item: Mapping[str, Any]) -> str | None:
    """``dc:date``: the premiere, else the first of January of the year; None without a year."""
    if not item.get("year"):
        return None
    return str(item.get("premiered") or "")[:10] or f"{int(item['year']):04d}-01-01"


def _common(item: Mapping[str, Any], wanted: frozenset[str] | None, art: str | None) -> list[str]:
    parts: list[str] = []
    date = date_of(item)
    if date and _wants(wanted, "dc:date"):
        parts.append(_element("dc:date", date))
    if _wants(wanted, "upnp:genre"):
        parts += [_element("upnp:genre", g) for g in item.get("genres") or ()]
    if item.get("overview") and _wants(wanted, "dc:description"):
        parts.append(_element("dc:description", str(item["overview"])))
    if art and _wants(wanted, "upnp:albumArtURI"):
        parts.append(_element("upnp:albumArtURI", art, {"dlna:profileID": "JPEG_SM"}))
    return parts


def container_xml(
    object_id: str,
    parent_id: str,
    title: str,
    child_count: int,
    *,
    wanted: frozenset[str] | None = None,
    item: Mapping[str, Any] | None = None,
    art: str | None = None,
    searchable: bool = False,
) -> str:
    attrs = f'id={quoteattr(object_id)} parentID={quoteattr(parent_id)} restricted="1"'
    if _wants(wanted, "@childCount") or _wants(wanted, "childCount"):
        attrs += f' childCount="{int(child_count)}"'
    if searchable:
        attrs += ' searchable="1"'
    body = [_element("dc:title", title), _element("upnp:class", "object.container.storageFolder")]
    if item is not None:
        body += _common(item, wanted, art)
    return f"<container {attrs}>{''.join(body)}</container>"


def item_xml(
    object_id: str,
    parent_id: str,
    item: Mapping[str, Any],
    resources: Sequence[Resource],
    *,
    wanted: frozenset[str] | None = None,
    art: str | None = None,
    captions: Iterable[str] = (),
) -> str:
    """A movie or an episode, with its resources (the first is the one TVs play)."""
    kind = item.get("kind")
    upnp_class = item_class(item)
    title = str(item.get("title") or "Untitled")
    if kind == "episode" and item.get("episode_number") is not None:
        title = f"{int(item['episode_number']):02d}. {title}"
    body = [_element("dc:title", title), _element("upnp:class", upnp_class)]
    body += _common(item, wanted, art)
    if kind == "episode":
        if item.get("show_title") and _wants(wanted, "upnp:seriesTitle"):
            body.append(_element("upnp:seriesTitle", str(item["show_title"])))
        if item.get("episode_number") is not None and _wants(wanted, "upnp:episodeNumber"):
            body.append(_element("upnp:episodeNumber", str(int(item["episode_number"]))))
        if item.get("season_number") is not None and _wants(wanted, "upnp:episodeSeason"):
            body.append(_element("upnp:episodeSeason", str(int(item["season_number"]))))
    for resource in resources:
        attributes = {"protocolInfo": resource.protocol_info}
        attributes.update(
            (k, v) for k, v in resource.attributes.items() if _wants(wanted, f"res@{k}")
        )
        body.append(_element("res", resource.url, attributes))
    if _wants(wanted, "sec:CaptionInfoEx") or _wants(wanted, "sec:CaptionInfo"):
        for url in captions:  # Samsung's way to a subtitle file beside the video
            body.append(_element("sec:CaptionInfoEx", url, {"sec:type": "srt"}))
            body.append(_element("res", url, {"protocolInfo": "http-get:*:text/srt:*"}))
    attrs = f'id={quoteattr(object_id)} parentID={quoteattr(parent_id)} restricted="1"'
    return f"<item {attrs}>{''.join(body)}</item>"
