"""GENA eventing (UDA 1.0 §4): TVs subscribe to a service and hear when it changes.

A subscription names callback URLs; they are accepted only on the subscriber's own
address (an event publisher must not become a way to make the server knock on other
hosts' doors), over plain HTTP, and there are at most ``MAX_SUBSCRIPTIONS`` at once,
``MAX_PER_HOST`` per device.  Subscriptions last ``TIMEOUT_S`` at most and lapse unless
renewed.  An event is one ``NOTIFY`` request with a 5 s budget; a TV that is off simply
misses it.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import structlog

from mediaserver.net.addresses import host_address

__all__ = ["MAX_PER_HOST", "MAX_SUBSCRIPTIONS", "GenaError", "Subscription", "Subscriptions",
           "send_event"]  # fmt: skip

log = structlog.get_logger(__name__)

MAX_SUBSCRIPTIONS = 64
MAX_PER_HOST = 8
TIMEOUT_S = 1800
MIN_TIMEOUT_S = 60
_CALLBACK = re.compile(r"<([^<>\s]{1,512})>")
_TIMEOUT = re.compile(r"^Second-(\d{1,9}|infinite)$", re.IGNORECASE)


class GenaError(Exception):
    """A refused SUBSCRIBE or UNSUBSCRIBE: the HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Subscription:
    sid: str
    service: str
    callbacks: tuple[str, ...]
    host: str
    expires: float
    seq: itertools.count[int] = field(default_factory=itertools.count)
    sent: Mapping[str, str] | None = None  # the values of the last event, not sent twice


def _same_host(a: str, b: str) -> bool:
    one = host_address(a)
    return one is not None and one == host_address(b)


def parse_callbacks(header: str, subscriber: str) -> tuple[str, ...]:
    """The ``<http://...>`` URLs of a CALLBACK header, all on ``subscriber``'s address."""
    urls = _CALLBACK.findall(header)
    if not urls or len(urls) > 4 or _CALLBACK.sub("", header).strip():
        raise GenaError(412, "CALLBACK must be one to four <http://...> URLs")
    for url in urls:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            raise GenaError(412, "a CALLBACK URL has a bad port") from None
        if parts.scheme != "http" or not parts.hostname or parts.username or port == 0:
            raise GenaError(412, "a CALLBACK URL must be plain http://address:port/path")
        if not _same_host(parts.hostname, subscriber):
            raise GenaError(412, "CALLBACK URLs must point at the subscribing device itself")
    return tuple(urls)


def granted_timeout(header: str | None) -> int:
    match = _TIMEOUT.match((header or "").strip())
    if match is None or match[1].lower() == "infinite":
        return TIMEOUT_S
    return max(MIN_TIMEOUT_S, min(TIMEOUT_S, int(match[1])))


class Subscriptions:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_sid: dict[str, Subscription] = {}

    def __len__(self) -> int:
        self._prune()
        return len(self._by_sid)

    def _prune(self) -> None:
        now = self._clock()
        for sid in [s for s, sub in self._by_sid.items() if sub.expires <= now]:
            del self._by_sid[sid]

    def subscribe(
        self, service: str, callback: str | None, nt: str | None, timeout: str | None, host: str
    ) -> tuple[Subscription, int]:
        if nt != "upnp:event":
            raise GenaError(412, "NT must be upnp:event")
        callbacks = parse_callbacks(callback or "", host)
        self._prune()
        if len(self._by_sid) >= MAX_SUBSCRIPTIONS:
            raise GenaError(503, "too many event subscriptions; try again later")
        if sum(1 for s in self._by_sid.values() if _same_host(s.host, host)) >= MAX_PER_HOST:
            raise GenaError(503, "this device already holds the most subscriptions allowed")
        seconds = granted_timeout(timeout)
        sub = Subscription(
            f"uuid:{uuid.uuid4()}", service, callbacks, host, self._clock() + seconds
        )
        self._by_sid[sub.sid] = sub
        return sub, seconds

    def renew(self, service: str, sid: str, timeout: str | None) -> tuple[Subscription, int]:
        self._prune()
        sub = self._by_sid.get(sid)
        if sub is None or sub.service != service:
            raise GenaError(412, "no such subscription (it may have lapsed)")
        seconds = granted_timeout(timeout)
        sub.expires = self._clock() + seconds
        return sub, seconds

    def unsubscribe(self, service: str, sid: str) -> None:
        sub = self._by_sid.get(sid)
        if sub is None or sub.service != service:
            raise GenaError(412, "no such subscription")
        del self._by_sid[sid]

    def of(self, service: str) -> list[Subscription]:
        self._prune()
        return [s for s in self._by_sid.values() if s.service == service]


def property_set(values: Mapping[str, str]) -> bytes:
    properties = "".join(
        f"<e:property><{name}>{escape(value)}</{name}></e:property>"
        for name, value in values.items()
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0">{properties}</e:propertyset>'
    ).encode()


async def send_event(sub: Subscription, values: Mapping[str, str], timeout_s: float = 5.0) -> bool:
    """One NOTIFY to the first callback that takes it; False when none did."""
    if sub.sent == values:
        return True  # a moderated update that changed nothing since this one's last event
    sub.sent = dict(values)
    body = property_set(values)
    seq = next(sub.seq)
    for url in sub.callbacks:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        shown_host = f"[{host}]" if ":" in host else host
        request = (
            f"NOTIFY {target} HTTP/1.1\r\nHOST: {shown_host}:{port}\r\n"
            'CONTENT-TYPE: text/xml; charset="utf-8"\r\n'
            f"NT: upnp:event\r\nNTS: upnp:propchange\r\nSID: {sub.sid}\r\nSEQ: {seq}\r\n"
            f"CONTENT-LENGTH: {len(body)}\r\nCONNECTION: close\r\n\r\n"
        ).encode() + body
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_connection(host, port)
                try:
                    writer.write(request)
                    await writer.drain()
                    status = await reader.readline()
                finally:
                    writer.close()
            if status.split(b" ")[1:2] == [b"200"]:
                return True
        except (OSError, TimeoutError, IndexError) as exc:
            log.debug("event not delivered", sid=sub.sid, to=host, error=str(exc))
    return False
