"""SSDP (UPnP discovery): smart TVs and DLNA apps find the media server by multicast.

The server says ``ssdp:alive`` on 239.255.255.250:1900 from each LAN address when it starts,
every ``max-age / 3`` after, and when an address appears; ``ssdp:byebye`` when it stops or
an address goes.  It answers ``M-SEARCH`` with one unicast reply per matching target,
naming the description URL on the address the search came in on.

What arrives on port 1900 is treated as hostile: a packet from outside the home network
(anything but private, link-local or loopback sources) is dropped, as is anything that is
not a well-formed ``M-SEARCH`` with ``MAN: "ssdp:discover"`` and, when multicast, a whole
``MX`` of at least 1 (more than 5 counts as 5, UDA 1.1 §1.3.3).  A burst is cut by a token
bucket per sender and a cap on replies waiting to be sent, so a flood costs little and
never grows memory.  No packet can stop the responder: each is handled alone, and a
failure is counted and logged.

Replies go out after a random wait of up to ``MX`` seconds (at most one), as UDA asks, so
a room of TVs searching at once do not all get their answers in the same millisecond.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from mediaserver.discovery.mdns import RECHECK_S, lan_addresses
from mediaserver.net.addresses import is_home_address

__all__ = ["MAX_AGE_S", "SSDP_GROUP", "SSDP_PORT", "Search", "SsdpResponder", "is_home_address",
           "parse_search"]  # fmt: skip

log = structlog.get_logger(__name__)

SSDP_GROUP = "239.255.255.250"
SSDP_PORT = 1900
MAX_AGE_S = 1800
MAX_PACKET = 2048  # an M-SEARCH is ~150 bytes; anything near this is not one
MAX_PENDING = 256  # replies scheduled and not yet sent; beyond, searches are dropped
PER_SENDER_BURST = 20  # searches a sender may make at once, refilled at PER_SENDER_RATE/s
PER_SENDER_RATE = 5.0
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux's value; Python does not name it
_MAX_MX = 5


@dataclass(frozen=True, slots=True)
class Search:
    target: str  # ST
    mx: int | None  # seconds a multicast search waits; None when it did not say (unicast)


def parse_search(packet: bytes) -> Search | str:
    """An ``M-SEARCH`` request, or the reason (a word for the counters) it is not one."""
    if len(packet) > MAX_PACKET:
        return "too-long"
    try:
        text = packet.decode("ascii")
    except UnicodeDecodeError:
        return "not-ascii"
    lines = text.replace("\r\n", "\n").split("\n")
    if lines[0].strip() != "M-SEARCH * HTTP/1.1":
        return "not-a-search"
    headers: dict[str, str] = {}
    for count, line in enumerate(lines[1:]):
        if not line.strip():
            break
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or count >= 32:
            return "malformed"
        headers.setdefault(name.strip().lower(), value.strip())
    if headers.get("man") != '"ssdp:discover"':
        return "no-man"
    target = headers.get("st", "")
    if not target or len(target) > 200:
        return "no-st"
    raw_mx = headers.get("mx")
    if raw_mx is None:
        return Search(target, None)
    if not (raw_mx.isascii() and raw_mx.isdigit()) or int(raw_mx) < 1:
        return "bad-mx"  # "-1", "0", "1.5", "": UDA says such a search gets no answer
    return Search(target, min(int(raw_mx), _MAX_MX))


def _http_date() -> str:
    return email.utils.formatdate(usegmt=True)


@dataclass
class _Bucket:
    tokens: float
    when: float


@dataclass
class SsdpResponder:
    """Announces one root device and its services, and answers searches for them."""

    udn: str  # "uuid:..."
    device_type: str
    service_types: Sequence[str]
    port: int  # the HTTP server's
    location_path: str
    server_header: str  # "Linux/6.1 UPnP/1.0 Hearth/0.1"
    interfaces: Sequence[str] = ()
    bound: str = "0.0.0.0"
    max_age_s: int = MAX_AGE_S
    recheck_s: float = RECHECK_S
    ssdp_port: int = SSDP_PORT
    counts: Counter[str] = field(default_factory=Counter)
    _addresses: list[str] = field(default_factory=list)
    _listener: socket.socket | None = None
    _senders: dict[str, socket.socket] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _loop_task: asyncio.Task[None] | None = None
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _pending: int = 0

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(self._addresses)

    def targets(self) -> list[str]:
        return ["upnp:rootdevice", self.udn, self.device_type, *self.service_types]

    def usn(self, target: str) -> str:
        return self.udn if target == self.udn else f"{self.udn}::{target}"

    def location(self, address: str) -> str:
        return f"http://{address}:{self.port}{self.location_path}"

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            with contextlib.suppress(AttributeError, OSError):  # share 1900 with minidlna & co
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
            listener.setblocking(False)
            listener.bind(("", self.ssdp_port))
        except OSError:
            listener.close()
            raise
        self._listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._readable)
        self._use(lan_addresses(self.interfaces, self.bound))
        self._loop_task = asyncio.create_task(self._keep_announcing())
        log.info("SSDP on the LAN", addresses=self._addresses, udn=self.udn)

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        for task in list(self._tasks):
            task.cancel()
        for address in list(self._addresses):
            self._byebye(address)
        for sender in self._senders.values():
            sender.close()
        self._senders.clear()
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None

    def _use(self, addresses: list[str]) -> None:
        """Join the group and say alive on new addresses; say byebye on the ones gone."""
        for gone in [a for a in self._addresses if a not in addresses]:
            self._byebye(gone)
            self._membership(socket.IP_DROP_MEMBERSHIP, gone)
            with contextlib.suppress(KeyError):
                self._senders.pop(gone).close()
        new = [a for a in addresses if a not in self._addresses]
        self._addresses = [a for a in addresses if a in self._senders or a in new]
        for address in new:
            try:
                self._membership(socket.IP_ADD_MEMBERSHIP, address)
                self._senders[address] = self._sender(address)
            except OSError as exc:  # an interface without multicast (a VPN tunnel)
                log.warning("no SSDP on this address", address=address, error=str(exc))
                self._addresses.remove(address)
                continue
            self._alive(address)

    def _membership(self, option: int, address: str) -> None:
        if self._listener is None or ipaddress.ip_address(address).is_loopback:
            return
        request = socket.inet_aton(SSDP_GROUP) + socket.inet_aton(address)
        try:
            self._listener.setsockopt(socket.IPPROTO_IP, option, request)
        except OSError:
            if option == socket.IP_ADD_MEMBERSHIP:
                raise  # leaving a group the interface has lost already is fine

    @staticmethod
    def _sender(address: str) -> socket.socket:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)  # UDA 1.1: 2
            sender.setblocking(False)
            sender.bind((address, 0))
        except OSError:
            sender.close()
            raise
        return sender

    async def _keep_announcing(self) -> None:
        """Alive again before the devices' caches expire, and addresses checked as mDNS does."""
        # UDA: the first announcement may be lost; repeat it soon after.
        await asyncio.sleep(1.0)
        for address in self._addresses:
            self._alive(address)
        next_alive = time.monotonic() + self.max_age_s / 3
        while True:
            await asyncio.sleep(min(self.recheck_s, max(1.0, next_alive - time.monotonic())))
            current = lan_addresses(self.interfaces, self.bound)
            if current != self._addresses:
                log.info("LAN addresses changed; SSDP announces again", addresses=current)
                self._use(current)
            if time.monotonic() >= next_alive:
                for address in self._addresses:
                    self._alive(address)
                next_alive = time.monotonic() + self.max_age_s / 3

    # -- sending ------------------------------------------------------------------------

    def _notify(self, address: str, lines: list[str]) -> None:
        sender = self._senders.get(address)
        if sender is None:
            return
        packet = ("NOTIFY * HTTP/1.1\r\n" + "".join(f"{x}\r\n" for x in lines) + "\r\n").encode()
        try:
            sender.sendto(packet, (SSDP_GROUP, self.ssdp_port))
        except OSError as exc:  # the interface went down between checks
            self.counts["send-failed"] += 1
            log.debug("SSDP notify failed", address=address, error=str(exc))

    def _alive(self, address: str) -> None:
        for target in self.targets():
            self._notify(
                address,
                [f"HOST: {SSDP_GROUP}:{self.ssdp_port}", f"CACHE-CONTROL: max-age={self.max_age_s}",
                 f"LOCATION: {self.location(address)}", f"NT: {target}", "NTS: ssdp:alive",
                 f"SERVER: {self.server_header}", f"USN: {self.usn(target)}"],
            )  # fmt: skip

    def _byebye(self, address: str) -> None:
        for target in self.targets():
            self._notify(
                address,
                [f"HOST: {SSDP_GROUP}:{self.ssdp_port}", f"NT: {target}", "NTS: ssdp:byebye",
                 f"USN: {self.usn(target)}"],
            )  # fmt: skip

    def reply(self, search: Search, address: str) -> list[bytes]:
        """The unicast answers to ``search`` received on local ``address`` (none: not ours)."""
        ours = self.targets()
        if search.target == "ssdp:all":
            matched = ours
        elif search.target in ours:
            matched = [search.target]
        else:
            return []
        return [
            (
                "HTTP/1.1 200 OK\r\n"
                f"CACHE-CONTROL: max-age={self.max_age_s}\r\nDATE: {_http_date()}\r\nEXT:\r\n"
                f"LOCATION: {self.location(address)}\r\nSERVER: {self.server_header}\r\n"
                f"ST: {target}\r\nUSN: {self.usn(target)}\r\nContent-Length: 0\r\n\r\n"
            ).encode()
            for target in matched
        ]

    # -- receiving ----------------------------------------------------------------------

    def _readable(self) -> None:
        """Everything waiting on the socket, each packet on its own (never raises)."""
        for _ in range(64):  # then let the loop breathe; the reader is called again
            assert self._listener is not None
            try:
                packet, ancillary, flags, sender = self._listener.recvmsg(
                    MAX_PACKET + 1, socket.CMSG_SPACE(12)
                )
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.counts["receive-failed"] += 1
                log.debug("SSDP receive failed", error=str(exc))
                return
            try:
                self._handle(packet, ancillary, flags, sender)
            except Exception:  # one bad packet never stops the responder
                self.counts["failed"] += 1
                log.exception("SSDP packet could not be handled")

    def _handle(
        self,
        packet: bytes,
        ancillary: list[tuple[int, int, bytes]],
        flags: int,
        sender: tuple[str, int],
    ) -> None:
        source = sender[0]
        if not is_home_address(source):
            self.counts["foreign-source"] += 1
            return
        if flags & socket.MSG_TRUNC:
            self.counts["too-long"] += 1
            return
        if packet.startswith(b"NOTIFY "):
            return  # other devices' announcements (and our own, looped back)
        search = parse_search(packet)
        if isinstance(search, str):
            self.counts[search] += 1
            return
        local, multicast = self._arrival(ancillary)
        if local is None:
            self.counts["other-interface"] += 1
            return
        if multicast and search.mx is None:
            self.counts["bad-mx"] += 1  # a multicast search must say how long it waits
            return
        if not self._take(source):
            self.counts["rate-limited"] += 1
            return
        answers = self.reply(search, local)
        if not answers:
            self.counts["not-ours"] += 1
            return
        if self._pending >= MAX_PENDING:
            self.counts["queue-full"] += 1
            return
        delay = random.uniform(0, min(search.mx or 0, 1))
        self._pending += 1
        task = asyncio.ensure_future(self._send_later(delay, answers, sender))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.counts["answered"] += 1

    def _arrival(self, ancillary: list[tuple[int, int, bytes]]) -> tuple[str | None, bool]:
        """The local address the search came in on (None: not one we serve), and whether
        it was sent to the group (else to us directly)."""
        for level, kind, data in ancillary:
            if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 12:
                _, spec_dst, destination = struct.unpack("i4s4s", data[:12])
                local = socket.inet_ntoa(spec_dst)
                multicast = socket.inet_ntoa(destination) == SSDP_GROUP
                if self.bound not in ("0.0.0.0", "", "::"):
                    return (self.bound if local == self.bound else None), multicast
                if local in self._addresses or ipaddress.ip_address(local).is_loopback:
                    return local, multicast
                return None, multicast
        return None, False

    def _take(self, source: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) > 4096:  # a flood of made-up senders: start again
                self._buckets.clear()
            bucket = self._buckets[source] = _Bucket(PER_SENDER_BURST, now)
        bucket.tokens = min(PER_SENDER_BURST, bucket.tokens + (now - bucket.when) * PER_SENDER_RATE)
        bucket.when = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    async def _send_later(self, delay: float, answers: list[bytes], to: tuple[str, int]) -> None:
        try:
            await asyncio.sleep(delay)
            if self._listener is None:
                return
            for answer in answers:
                try:
                    self._listener.sendto(answer, to)
                except OSError as exc:
                    self.counts["send-failed"] += 1
                    log.debug("SSDP reply failed", to=to[0], error=str(exc))
                    return
        finally:
            self._pending -= 1
