"""The DLNA media server of one Hearth: identity, the DLNA user, renderers, events, SSDP.

TVs do not sign in.  They get the view of the configured ``[dlna] user`` (that person's
rating limit and libraries, and their Continue watching), or of the household's first
admin when none is named, as Plex and Jellyfin do.  A named user that does not exist
serves nothing, rather than everything.

The SystemUpdateID starts from the clock (so it grows across restarts, as TVs' caches
expect) and goes up whenever the catalog gains, changes or loses an item; subscribers
hear of it at most every ``MODERATION_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import platform
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from typing import Any

import structlog
from PIL import Image, ImageDraw

from mediaserver.accounts.users import User, UserService
from mediaserver.db import Database
from mediaserver.discovery.ssdp import SsdpResponder
from mediaserver.dlna import gena
from mediaserver.dlna.upnp import (
    CONTENT_DIRECTORY,
    DEVICE_TYPE,
    MEDIA_RECEIVER_REGISTRAR,
    SERVICES,
)
from mediaserver.events import Event, EventBus
from mediaserver.net.addresses import host_address
from mediaserver.streaming.profiles import (
    AUDIO_CODECS,
    CONTAINERS,
    PROFILES,
    VIDEO_CODECS,
    ClientProfile,
)

__all__ = ["ICONS", "PREFIX", "RENDERERS", "DlnaServer", "icon", "renderer_for", "source_protocols"]

log = structlog.get_logger(__name__)

PREFIX = "/dlna"
MODERATION_S = 2.0

# Renderers by what their requests say they are; every transcoded stream is MPEG-TS.
RENDERERS: Mapping[str, ClientProfile] = {
    p.name: replace(p, segments="ts")
    for p in (
        PROFILES["tv-samsung"],
        PROFILES["tv-lg"],
        # VLC, Kodi and the like decode nearly everything: the file as it is.
        ClientProfile("dlna-player", CONTAINERS, VIDEO_CODECS, AUDIO_CODECS, max_height=4320),
        # Any other TV (Sony, Philips, Panasonic, old sets): what every DLNA TV plays.
        ClientProfile(
            "dlna-tv",
            frozenset({"mp4", "m4v", "ts"}),
            frozenset({"h264"}),
            frozenset({"aac", "mp3", "ac3"}),
            frozenset(),
            1080,
            6,
        ),
    )
}
_PLAYERS = re.compile(r"vlc|kodi|xbmc|bubbleupnp|foobar|gupnp|mpv|upnp-client", re.IGNORECASE)
_LG = re.compile(r"\blg\b|webos|netcast|lge", re.IGNORECASE)


def renderer_for(user_agent: str) -> ClientProfile:
    if "samsung" in user_agent.lower() or "SEC_HHP" in user_agent:
        return RENDERERS["tv-samsung"]
    if _LG.search(user_agent):
        return RENDERERS["tv-lg"]
    if _PLAYERS.search(user_agent):
        return RENDERERS["dlna-player"]
    return RENDERERS["dlna-tv"]


ICONS = {"icon-48.png": (48, "PNG"), "icon-120.png": (120, "PNG"),
         "icon-48.jpg": (48, "JPEG"), "icon-120.jpg": (120, "JPEG")}  # fmt: skip


@cache
def icon(name: str) -> tuple[bytes, str]:
    """The device's icon for a TV's server list: a hearth's flame on the UI's dark."""
    size, kind = ICONS[name]
    scale = 4  # drawn large and scaled down: smooth edges
    side = size * scale
    picture = Image.new("RGB", (side, side), (28, 25, 23))
    draw = ImageDraw.Draw(picture)
    s = side / 100
    draw.rounded_rectangle((8 * s, 8 * s, 92 * s, 92 * s), radius=18 * s, fill=(44, 38, 34))
    flame = [(50, 14), (66, 36), (74, 56), (70, 74), (58, 84), (42, 84), (30, 74), (26, 56),
             (34, 40), (42, 50), (44, 30)]  # fmt: skip
    draw.polygon([(x * s, y * s) for x, y in flame], fill=(240, 128, 48))
    inner = [(52, 46), (62, 62), (60, 76), (50, 82), (40, 76), (40, 64), (46, 58)]
    draw.polygon([(x * s, y * s) for x, y in inner], fill=(255, 206, 92))
    picture = picture.resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, kind)
    return out.getvalue(), "image/png" if kind == "PNG" else "image/jpeg"


class DlnaServer:
    def __init__(
        self,
        *,
        udn: str,
        name: str,
        version: str,
        user_name: str,
        db: Database,
        users: UserService,
        bus: EventBus,
    ) -> None:
        self.udn = udn
        self.name = name
        self.version = version
        self.user_name = user_name
        self.db = db
        self.users = users
        self.update_id = int(time.time()) & 0x7FFFFFFF
        self.subscriptions = gena.Subscriptions()
        self.ssdp: SsdpResponder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pending: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: list[Callable[[], None]] = [
            bus.subscribe(self._catalog_changed, event)
            for event in (Event.ITEM_ADDED, Event.ITEM_CHANGED, Event.ITEM_REMOVED)
        ]

    @property
    def server_header(self) -> str:
        system = platform.system() or "Linux"
        release = (platform.release() or "1").split("-")[0]
        return f"{system}/{release} UPnP/1.0 Hearth/{self.version}"

    # -- whose view -----------------------------------------------------------------------

    def viewer(self) -> User | None:
        """The person TVs watch as (None: nobody; DLNA then shows nothing)."""
        if self.user_name:
            return self.users.by_name(self.user_name)
        admins = [u for u in self.users.all() if u.is_admin]
        return min(admins, key=lambda u: u.id) if admins else None

    def status(self) -> dict[str, Any]:
        user = self.viewer()
        problem = None
        if user is None:
            problem = (
                f"[dlna] user = {self.user_name!r} names nobody: TVs see an empty server"
                if self.user_name
                else "there is no admin yet: TVs see an empty server"
            )
        return {
            "enabled": True,
            "name": self.name,
            "udn": self.udn,
            "user": user.name if user else None,
            "problem": problem,
            "system_update_id": self.update_id,
            "subscriptions": len(self.subscriptions),
            "ssdp": None
            if self.ssdp is None
            else {"addresses": list(self.ssdp.addresses), "packets": dict(self.ssdp.counts)},
        }

    # -- SSDP ----------------------------------------------------------------------------

    async def start_announcing(self, port: int, interfaces: tuple[str, ...], bound: str) -> None:
        if _loopback(bound):
            log.info("DLNA is not announced: the server listens on loopback only", host=bound)
            return
        self.ssdp = SsdpResponder(
            udn=self.udn,
            device_type=DEVICE_TYPE,
            service_types=[s.type for s in SERVICES.values()],
            port=port,
            location_path=f"{PREFIX}/description.xml",
            server_header=self.server_header,
            interfaces=interfaces,
            bound=bound,
        )
        try:
            await self.ssdp.start()
        except OSError as exc:  # port 1900 refused, no multicast (a container without a LAN)
            log.warning("DLNA is not announced on the LAN (SSDP)", error=str(exc))
            self.ssdp = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Events are sent from ``loop`` (the server's): also without SSDP."""
        self._loop = loop

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._pending is not None:
            self._pending.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self.ssdp is not None:
            await self.ssdp.stop()
            self.ssdp = None

    # -- events --------------------------------------------------------------------------

    def evented(self, service: str) -> dict[str, str]:
        if service == CONTENT_DIRECTORY.short:
            return {"SystemUpdateID": str(self.update_id)}
        if service == MEDIA_RECEIVER_REGISTRAR.short:
            return {v.name: "0" for v in MEDIA_RECEIVER_REGISTRAR.variables if v.events}
        return {"SourceProtocolInfo": source_protocols(), "SinkProtocolInfo": "",
                "CurrentConnectionIDs": "0"}  # fmt: skip

    def send_initial(self, sub: gena.Subscription) -> None:
        """UDA: the first event (SEQ 0, every evented variable) follows the SUBSCRIBE reply."""
        self._spawn(gena.send_event(sub, self.evented(sub.service)))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _catalog_changed(self, _event: Event, _payload: Mapping[str, Any]) -> None:
        with self._lock:
            self.update_id = (self.update_id + 1) & 0xFFFFFFFF
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._schedule_update)

    def _schedule_update(self) -> None:
        if self._pending is None and self._loop is not None:
            self._pending = self._loop.call_later(MODERATION_S, self._send_update)

    def _send_update(self) -> None:
        self._pending = None
        values = self.evented(CONTENT_DIRECTORY.short)
        for sub in self.subscriptions.of(CONTENT_DIRECTORY.short):
            self._spawn(gena.send_event(sub, values))


def _loopback(host: str) -> bool:
    ip = host_address(host)
    return ip.is_loopback if ip is not None else host == "localhost"


def source_protocols() -> str:
    """What ConnectionManager says we can send (every mime type the DIDL may name)."""
    kinds = ["video/mp4", "video/mpeg", "video/x-matroska", "video/webm", "video/quicktime",
             "video/x-msvideo", "image/jpeg", "text/srt"]  # fmt: skip
    return ",".join(f"http-get:*:{k}:*" for k in kinds)
