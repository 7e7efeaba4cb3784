"""Who is asking: the client's address, believing ``X-Forwarded-For`` only from our proxies.

Media servers have been fooled into treating an attacker as "local" by a forged
``X-Forwarded-For``.  Here the header counts only when the connection comes from an address
in ``server.trusted_proxies``, and then only as far as the chain of trusted proxies goes:
reading from the right, the first address that is not a trusted proxy is the client.

:func:`from_home_network` is the stricter rule of DLNA and the profile picker: the peer and
every address any forwarding header names must be private, link-local or loopback, whether
or not the proxy is trusted, so a proxy that forwards the internet never counts as home.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from litestar import Request
from litestar.types import Scope

from mediaserver.net.addresses import host_address, is_home_address

__all__ = [
    "client_address",
    "forwarded_for",
    "from_home_network",
    "outside_address",
    "parse_proxies",
    "request_address",
]
_FORWARDING = (b"x-forwarded-for", b"x-real-ip", b"forwarded")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def parse_proxies(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """``["127.0.0.1", "10.0.0.0/8"]`` as networks; ValueError names a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"server.trusted_proxies: {entry!r} is not an address or CIDR"
            ) from None
    return tuple(networks)


def _trusted(address: Any, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(request: Request[Any, Any, Any], proxies: Sequence[Network]) -> str:
    """The client's IP address as text (``"unknown"`` when the server cannot tell)."""
    peer = host_address(request.client.host) if request.client else None
    if peer is None:
        return "unknown"
    if not _trusted(peer, proxies):
        return str(peer)  # a direct client: whatever headers it sent are its own words
    chain = [
        part
        for header in request.headers.getall("x-forwarded-for", [])
        for part in header.split(",")
    ]
    current = peer
    for hop in reversed(chain):
        address = host_address(hop)
        if address is None:
            break  # garbage in the chain: stop at the last proxy we trust
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)


def request_address(request: Request[Any, Any, Any], trusted_proxies: tuple[str, ...]) -> str:
    """``client_address`` with ``server.trusted_proxies`` as configured (parsed once)."""
    return client_address(request, parse_proxies(trusted_proxies))


def forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every address a proxy says it forwards for (X-Forwarded-For, X-Real-IP, Forwarded)."""
    found: list[str] = []
    for name, value in headers:
        if name not in _FORWARDING:
            continue
        for part in value.decode("latin-1").split(","):
            if name == b"forwarded":
                fields = dict(f.strip().partition("=")[::2] for f in part.split(";"))
                part = fields.get("for", "")
            found.append(part)
    return found


def outside_address(scope: Scope) -> str | None:
    """The first address of the connection or its forwarding headers that is not in the
    household (``"unknown"`` for one that is no address); None when all of them are."""
    client = scope.get("client")
    addresses = [str(client[0]) if client else "", *forwarded_for(scope.get("headers", []))]
    outside = next((a for a in addresses if not is_home_address(a)), None)
    return None if outside is None else (outside.strip().strip('"') or "unknown")[:60]


def from_home_network(scope: Scope) -> bool:
    """The connection and every address it is forwarded for are in the household."""
    return outside_address(scope) is None
