"""Which addresses an outbound fetch may reach: public ones, plus what the admin allowed.

A URL that a user, a plugin or a peer hands the server must not make it talk to itself,
the LAN or a cloud metadata service (server-side request forgery).  :func:`refusal_reason`
names what is wrong with an address; :class:`AllowList` is ``network.allow_private_fetch``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = [
    "METADATA_HOSTS",
    "AllowList",
    "IPAddress",
    "embedded_ipv4",
    "host_address",
    "is_home_address",
    "is_metadata",
    "parse_ip_literal",
    "refusal_reason",
]

IPAddress = IPv4Address | IPv6Address

# Cloud metadata services hand out credentials; a broad allowed range never unlocks them,
# only naming them exactly does.  (AWS, GCP and Azure; AWS IPv6; ECS tasks; Alibaba; Oracle.)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200", "192.0.0.192")
)
METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
    }
)

_IPV4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "an unspecified address"),
        ("127.0.0.0/8", "a loopback address"),
        ("10.0.0.0/8", "a private (LAN) address"),
        ("172.16.0.0/12", "a private (LAN) address"),
        ("192.168.0.0/16", "a private (LAN) address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("169.254.0.0/16", "a link-local address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)
_IPV6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "an unspecified address"),
        ("::1/128", "a loopback address"),
        ("fc00::/7", "a private (LAN) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    )
)
_IPV4_COMPATIBLE = IPv6Network("::/96")
_NAT64 = IPv6Network("64:ff9b::/96")


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form the system resolver would take, else None.

    ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` and ``127.1`` are all 127.0.0.1 to
    ``getaddrinfo``, so they are to us.  Raises ValueError for a host that looks numeric but
    is no address (``1.2.3.999``): WHATWG URL parsing refuses those too.
    """
    if ":" in host:
        if "%" in host:
            raise ValueError("an IPv6 zone id is not allowed")
        return IPv6Address(host)
    name = host.removesuffix(".")
    last = name.rsplit(".", 1)[-1].lower()
    if not (last.isdigit() or last.startswith("0x")):
        return None
    parts = name.split(".")
    if len(parts) > 4:
        raise ValueError("too many parts for an IPv4 address")
    numbers = [_ipv4_part(part) for part in parts]
    *head, tail = numbers
    if any(n > 255 for n in head) or tail >= 256 ** (5 - len(numbers)):
        raise ValueError("a part is out of range for an IPv4 address")
    value = tail
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _ipv4_part(part: str) -> int:
    """One dotted part the way inet_aton reads it: 0x.. hexadecimal, 0.. octal, else decimal."""
    lowered = part.lower()
    if lowered.startswith("0x"):
        return int(lowered[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    if not part.isdigit():
        raise ValueError(f"{part!r} is not a number")
    return int(part)


def host_address(text: str) -> IPAddress | None:
    """The address in a header's or a socket's host part (``1.2.3.4:80``, ``[::1]:80``,
    ``"1.2.3.4"``, ``fe80::1%eth0``), IPv4-mapped IPv6 as the IPv4 it maps; None when it is
    no address."""
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_home_address(address: str) -> bool:
    """Private, link-local or loopback: a device in the household (or this machine).
    ``address`` may carry a port or brackets, as headers write it."""
    ip = host_address(address)
    if ip is None or ip.is_multicast or ip.is_unspecified:
        return False
    return ip.is_private or ip.is_link_local or ip.is_loopback


def embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped, compatible, NAT64 or 6to4 forms."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_metadata(ip: IPAddress) -> bool:
    inner = embedded_ipv4(ip) if isinstance(ip, IPv6Address) else None
    return ip in METADATA_ADDRESSES or inner in METADATA_ADDRESSES


def refusal_reason(ip: IPAddress) -> str | None:
    """Why a fetch must not reach ``ip`` ("a loopback address"), or None for a public one."""
    if is_metadata(ip):
        return "a cloud metadata address"
    if isinstance(ip, IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            reason = refusal_reason(inner)
            return None if reason is None else f"{reason} in IPv6 form ({inner})"
        ranges: Iterable[tuple[IPv4Network | IPv6Network, str]] = _IPV6_RANGES
    else:
        ranges = _IPV4_RANGES
    for network, reason in ranges:
        if ip in network:
            return reason
    # Documentation, benchmarking and protocol ranges: nothing a fetch has business with.
    return None if ip.is_global else "a reserved address"


@dataclass(frozen=True, slots=True)
class AllowList:
    """``network.allow_private_fetch``: address ranges and host names a fetch may reach anyway."""

    networks: tuple[IPv4Network | IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        networks: list[IPv4Network | IPv6Network] = []
        hosts: set[str] = set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(normalise_host(entry))
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        return normalise_host(host) in self.hosts

    def allows_address(self, ip: IPAddress) -> bool:
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
            candidates.append(inner)
        for candidate in candidates:
            for network in self.networks:
                if network.version != candidate.version or candidate not in network:
                    continue
                if is_metadata(candidate) and network.num_addresses > 1:
                    continue
                return True
        return False


def normalise_host(host: str) -> str:
    return host.lower().removesuffix(".")
