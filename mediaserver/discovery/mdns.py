"""Announcing Hearth with mDNS/DNS-SD (zeroconf), and listing the other Hearth nodes.

Two services go out on every chosen interface: ``_http._tcp`` (``path=/``: any browser's
"find web servers") and ``_hearth._tcp`` for apps and federation peers (TXT: ``id``,
``version``, ``api``, ``federation``).  A name already taken on the LAN becomes
"Hearth (2)".  Addresses are checked every ``RECHECK_S``: a new DHCP lease or a cable
plugged in is announced again.  The same zeroconf instance browses ``_hearth._tcp`` so the
federation screen can list the other nodes.  (A name is checked, as mDNS requires, with
three probes before it is used: announcing takes about a second per name tried.)  Everything is unregistered (goodbye packets)
when the server stops.

``MEDIASERVER_DISCOVERY=off`` in the environment always wins over the settings: the test
suite and containers without a LAN use it so that nothing is multicast on the host's own
network.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ifaddr
import structlog
from zeroconf import IPVersion, NonUniqueNameException, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

__all__ = ["HEARTH_TYPE", "HTTP_TYPE", "Announcer", "Peer", "discovery_allowed", "server_id"]

log = structlog.get_logger(__name__)

HTTP_TYPE = "_http._tcp.local."
HEARTH_TYPE = "_hearth._tcp.local."
RECHECK_S = 30.0
_OFF = {"0", "off", "false", "no"}


def discovery_allowed() -> bool:
    return os.environ.get("MEDIASERVER_DISCOVERY", "").strip().lower() not in _OFF


def server_id(data_path: Path) -> str:
    """This node's id, made once and kept in the data folder (also the DLNA device's UDN)."""
    path = data_path / "server-id"
    try:
        existing = path.read_text(encoding="ascii").strip()
        return str(uuid.UUID(existing))
    except (OSError, ValueError):
        made = str(uuid.uuid4())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(made + "\n", encoding="ascii")
        return made


def lan_addresses(interfaces: Sequence[str], bound: str) -> list[str]:
    """The addresses to announce: of the chosen interfaces (names or addresses; all but
    loopback when none are chosen), or just the one the server listens on."""
    if bound not in ("0.0.0.0", "::", ""):
        return [bound]
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if not isinstance(ip.ip, str):
                continue  # IPv6 (ifaddr gives a tuple): TVs and most apps look for IPv4
            names = (adapter.nice_name, adapter.name, ip.ip)
            if interfaces and not any(n in interfaces for n in names):
                continue
            if ipaddress.ip_address(ip.ip).is_loopback and not interfaces:
                continue  # only when asked for ("lo"): nobody on the LAN reaches it
            found.append(ip.ip)
    return sorted(set(found))


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    id: str
    version: str
    api: str
    federation: str
    addresses: tuple[str, ...]
    port: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "id": self.id, "version": self.version, "api": self.api,
                "federation": self.federation, "addresses": list(self.addresses),
                "port": self.port}  # fmt: skip


class Announcer:
    def __init__(
        self,
        *,
        name: str,
        node_id: str,
        version: str,
        port: int,
        interfaces: Sequence[str] = (),
        bound: str = "0.0.0.0",
        federation: str = "closed",
        recheck_s: float = RECHECK_S,
    ) -> None:
        self.name = name
        self._base_name = name
        self.node_id = node_id
        self.version = version
        self.port = port
        self.interfaces = tuple(interfaces)
        self.bound = bound
        self.federation = federation
        self.recheck_s = recheck_s
        self.peers: dict[str, Peer] = {}
        self._zc: AsyncZeroconf | None = None
        self._infos: list[AsyncServiceInfo] = []
        self._addresses: list[str] = []
        self._browser: AsyncServiceBrowser | None = None
        self._watch: asyncio.Task[None] | None = None
        self._lookups: set[asyncio.Task[None]] = set()

    @property
    def announced_names(self) -> list[str]:
        """As registered: "Hearth (2)._hearth._tcp.local." when the name was taken."""
        return [info.name for info in self._infos]

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(self._addresses)

    async def start(self) -> None:
        await self._open()
        self._watch = asyncio.create_task(self._watch_addresses())

    async def _open(self) -> None:
        self._addresses = lan_addresses(self.interfaces, self.bound)
        if not self._addresses:
            log.warning("no LAN address to announce; discovery waits for one")
        bind = self._addresses or ["127.0.0.1"]
        self._zc = AsyncZeroconf(interfaces=bind, ip_version=IPVersion.V4Only)
        await self._register(self._zc)
        self._browser = AsyncServiceBrowser(
            self._zc.zeroconf, [HEARTH_TYPE], handlers=[self._on_service]
        )
        log.info("announced on the LAN", names=self.announced_names, addresses=self._addresses)

    async def _register(self, zc: AsyncZeroconf) -> None:
        """Both services under one name: ours, else "Name (2)", "Name (3)"... as Bonjour
        names a second printer (zeroconf's own renaming would say "Name-2")."""
        base = self._base_name
        for attempt in range(1, 21):
            self.name = base if attempt == 1 else f"{base} ({attempt})"
            infos = self._service_infos()
            try:
                for info in infos:
                    await zc.async_register_service(info)
                    self._infos.append(info)
                return
            except NonUniqueNameException:
                for info in self._infos:
                    await zc.async_unregister_service(info)
                self._infos.clear()
        raise NonUniqueNameException(f"every name from {base!r} to {self.name!r} is taken")

    def _service_infos(self) -> list[AsyncServiceInfo]:
        # A host name of this node's own: two nodes on one machine (containers) share its
        # name, and their address records would mix.
        host = f"hearth-{self.node_id[:8]}"
        common = {"id": self.node_id, "version": self.version}
        addresses = [socket.inet_aton(a) for a in self._addresses]
        return [
            AsyncServiceInfo(
                kind,
                f"{self.name}.{kind}",
                addresses=addresses,
                port=self.port,
                properties=props,
                server=f"{host}.local.",
            )
            for kind, props in (
                (HTTP_TYPE, {"path": "/", **common}),
                (HEARTH_TYPE, {**common, "api": "/api/v1", "federation": self.federation}),
            )
        ]

    async def _watch_addresses(self) -> None:
        """A new lease, a cable plugged in, Wi-Fi back: start again on what there is now
        (new sockets for new interfaces, goodbye for the addresses that went)."""
        while True:
            await asyncio.sleep(self.recheck_s)
            current = lan_addresses(self.interfaces, self.bound)
            if current != self._addresses:
                log.info("LAN addresses changed; announcing again", addresses=current)
                await self._close()
                await self._open()

    def _on_service(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            self.peers.pop(name, None)
            return
        task = asyncio.ensure_future(self._look_up(zeroconf, service_type, name))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    async def _look_up(self, zeroconf: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        if not await info.async_request(zeroconf, 3000):
            return
        props = {
            (k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)): (
                v.decode("utf-8", "replace") if isinstance(v, bytes) else ""
            )
            for k, v in (info.properties or {}).items()
        }
        if props.get("id") == self.node_id:
            return  # ourselves
        self.peers[name] = Peer(
            name=name.removesuffix("." + service_type),
            id=props.get("id", "")[:64],
            version=props.get("version", "")[:40],
            api=props.get("api", "/api/v1")[:100],
            federation=props.get("federation", "closed")[:20],
            addresses=tuple(info.parsed_addresses()),
            port=int(info.port or 0),
        )

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await self._close()

    async def _close(self) -> None:
        for task in list(self._lookups):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            await self._zc.async_unregister_all_services()  # goodbye packets
            await self._zc.async_close()
        self._zc, self._browser = None, None
        self._infos.clear()
        self.peers.clear()
