"""One outbound HTTP(S) fetch for everything that fetches a URL: artwork, plugins, peers.

:func:`fetch` refuses what could turn the server against its own network:

- only ``http`` and ``https``, no user name or password in the URL, ports 80 and 443 plus
  ``network.allow_fetch_ports``;
- it resolves the host itself and refuses when *any* address is loopback, private, link-local,
  CGNAT, multicast, reserved or a cloud metadata service, in any spelling (``2130706433``,
  ``[::ffff:127.0.0.1]``), unless ``network.allow_private_fetch`` allows it (``addresses.py``);
- it connects only to the addresses it checked, so DNS rebinding cannot swap them;
- it follows at most 5 redirects itself, checking every hop the same way;
- it reads at most ``max_bytes`` and gives up at one deadline for the whole fetch.

Why httpcore and not httpx's client: pinning needs a say in where the socket connects, and
httpcore (httpx's own transport layer) takes a network backend for exactly that.  Our backend
(``pinning.py``) looks up the addresses checked for ``(host, port)`` and connects to those
only; the URL keeps the real host name, so the Host header, SNI and certificate checks stay
what they would be.
The same backend bounds every connect, read and write by the remaining time, which makes the
deadline hold for a server that drips one byte a second.  Rewriting the URL to the IP with
httpx (Host header plus the ``sni_hostname`` extension) would pin too, but could only bound
each read, not the whole fetch.
"""

from __future__ import annotations

import functools
import socket
import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import httpcore

from mediaserver import __version__
from mediaserver.config import NetworkSettings
from mediaserver.net.addresses import (
    METADATA_HOSTS,
    AllowList,
    IPAddress,
    is_metadata,
    normalise_host,
    parse_ip_literal,
    refusal_reason,
)
from mediaserver.net.pinning import Deadline, PinnedBackend

__all__ = ["MAX_REDIRECTS", "FetchError", "FetchFailed", "FetchRefused", "FetchResult", "fetch"]

MAX_REDIRECTS = 5
MB = 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_ALLOW_HINT = (
    "; add it to allow_private_fetch in the [network] settings if the server should reach it"
)


class FetchError(Exception):
    """A fetch did not produce an answer; ``reason`` says why, for a person to read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchRefused(FetchError):
    """The URL, an address it leads to, or the answer's size is against the fetch rules."""


class FetchFailed(FetchError):
    """The other end could not be looked up or reached, was too slow, or spoke broken HTTP."""


@dataclass(frozen=True, slots=True)
class FetchResult:
    status: int
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    content: bytes
    final_url: str  # after redirects

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def fetch(
    url: str,
    *,
    settings: NetworkSettings,
    max_bytes: int | None = None,
    timeout_s: float | None = None,
    accept: str = "*/*",
) -> FetchResult:
    """GET ``url`` under the rules above; raises :class:`FetchRefused` or :class:`FetchFailed`.

    Any status is returned as it is, except that redirects are followed.  ``max_bytes``
    defaults to ``fetch_max_mb``, ``timeout_s`` (everything, redirects included) to
    ``fetch_timeout_seconds``.  It blocks: async code calls it in a worker thread.
    """
    limit = settings.fetch_max_mb * MB if max_bytes is None else max_bytes
    seconds = settings.fetch_timeout_seconds if timeout_s is None else timeout_s
    rules = _Rules(
        AllowList.parse(settings.allow_private_fetch), frozenset(settings.allow_fetch_ports)
    )
    deadline = Deadline(seconds)
    backend = PinnedBackend(deadline)
    hop_url = url
    try:
        with httpcore.ConnectionPool(
            ssl_context=_tls_context(), network_backend=backend, retries=0
        ) as pool:
            for hop in range(MAX_REDIRECTS + 1):
                target = _checked_hop(hop_url, hop, url, rules, backend, deadline)
                with _get(pool, target, accept, deadline) as response:
                    location = _header(response.headers, "location")
                    if response.status in _REDIRECT_STATUSES and location:
                        hop_url = urljoin(target.url, location)
                        continue
                    content = _read_body(response, limit, url)
                    headers = _headers(response.headers)
                    return FetchResult(response.status, headers, content, target.url)
    except httpcore.TimeoutException:
        raise FetchFailed(f"{url} did not answer within {seconds:g} s") from None
    except httpcore.ConnectError as exc:
        raise FetchFailed(f"cannot connect to {hop_url}: {exc or 'connection failed'}") from None
    except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise FetchFailed(f"{hop_url} broke off or sent a broken answer: {exc}") from None
    raise FetchRefused(f"{url} redirects more than {MAX_REDIRECTS} times")


def _checked_hop(
    hop_url: str, hop: int, url: str, rules: _Rules, backend: PinnedBackend, deadline: Deadline
) -> _Target:
    """Parse and check one hop, and pin its addresses; a refused redirect names where it began."""
    try:
        target = _parse(hop_url, rules)
        if not backend.is_pinned(target.host, target.port):
            addresses = _checked_addresses(target, rules, deadline)
            backend.pin(target.host, target.port, addresses)
    except FetchRefused as exc:
        if hop == 0:
            raise
        raise FetchRefused(f"{url} redirects to a URL that is refused: {exc.reason}") from None
    return target


@dataclass(frozen=True, slots=True)
class _Rules:
    allow: AllowList
    extra_ports: frozenset[int]


@dataclass(frozen=True, slots=True)
class _Target:
    url: str  # normalised: what is requested, and final_url
    given: str  # as written, for messages
    written_host: str
    scheme: str
    host: str  # what is pinned and connected: a normalised address or an ASCII host name
    port: int
    authority: str  # the Host header
    path: str  # path and query, percent-encoded
    literal: IPAddress | None


def _parse(url: str, rules: _Rules) -> _Target:
    """Split and check ``url`` up to, not including, name resolution."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = parts.hostname or ""
    except ValueError as exc:
        raise FetchRefused(f"{url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        what = f"{scheme}:" if scheme else "a URL without a scheme"
        raise FetchRefused(f"only http and https URLs are fetched, not {what} ({url})")
    if "@" in parts.netloc:
        raise FetchRefused(f"URLs with a user name or password are not fetched ({url})")
    if not host:
        raise FetchRefused(f"{url!r} names no host")
    port = _DEFAULT_PORTS[scheme] if port is None else port
    if port not in (80, 443) and port not in rules.extra_ports:
        raise FetchRefused(
            f"{url} uses port {port}; fetches go to ports 80 and 443 only, unless the port is "
            "in allow_fetch_ports in the [network] settings"
        )
    try:
        literal = parse_ip_literal(host)
    except ValueError as exc:
        raise FetchRefused(f"{host} in {url} is not a valid address: {exc}") from None
    host = str(literal) if literal is not None else _ascii_host_name(host, url)
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == _DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    clean = f"{scheme}://{authority}{path}"
    return _Target(clean, url, parts.hostname or "", scheme, host, port, authority, path, literal)


def _ascii_host_name(host: str, url: str) -> str:
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise FetchRefused(f"{host!r} in {url} is not a valid host name") from None
    labels = ascii_host.removesuffix(".").split(".")
    ok = all(
        label and len(label) < 64 and label.replace("-", "").replace("_", "").isalnum()
        for label in labels
    )
    if not ok or len(ascii_host) > 253:
        raise FetchRefused(f"{host!r} in {url} is not a valid host name")
    return ascii_host


def _checked_addresses(target: _Target, rules: _Rules, deadline: Deadline) -> tuple[str, ...]:
    """The addresses to connect to for ``target``, every one of them checked."""
    name = normalise_host(target.host)
    name_allowed = target.literal is None and rules.allow.allows_host(name)
    if name in METADATA_HOSTS and not name_allowed:
        raise FetchRefused(f"{target.given} is not fetched: {name} is a cloud metadata service")
    if target.literal is not None:
        resolved = [(target.literal, target.host)]
    else:
        resolved = _resolve(target.host, target.port, deadline)
    for ip, _ in resolved:
        if rules.allow.allows_address(ip) or (name_allowed and not is_metadata(ip)):
            continue
        reason = refusal_reason(ip)
        if reason is None:
            continue
        if target.literal is None:
            which = f"{target.host} resolves to {_shown(ip)},"
        elif target.written_host != _shown(ip):
            which = f"{target.written_host} is {_shown(ip)},"
        else:
            which = f"{_shown(ip)} is"
        hint = "" if is_metadata(ip) else _ALLOW_HINT
        raise FetchRefused(f"{target.given} is not fetched: {which} {reason}{hint}")
    return tuple(address for _, address in resolved)


def _shown(ip: IPAddress) -> str:
    """``::ffff:127.0.0.1`` rather than ``::ffff:7f00:1``."""
    mapped = getattr(ip, "ipv4_mapped", None)
    return f"::ffff:{mapped}" if mapped is not None else str(ip)


def _resolve(host: str, port: int, deadline: Deadline) -> list[tuple[IPAddress, str]]:
    """All addresses of ``host``, looked up in a thread so that a slow DNS keeps the deadline."""
    answers: list[tuple[int, str]] = []
    errors: list[OSError] = []

    def look_up() -> None:
        try:
            for family, _, _, _, sockaddr in socket.getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            ):
                answers.append((family, str(sockaddr[0])))
        except OSError as exc:
            errors.append(exc)

    worker = threading.Thread(target=look_up, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if worker.is_alive():
        raise FetchFailed(f"looking up {host} took longer than {deadline.seconds:g} s")
    if errors:
        raise FetchFailed(f"cannot look up {host}: {errors[0].strerror or errors[0]}")
    resolved: dict[str, IPAddress] = {}
    for family, address in answers:
        if family in (socket.AF_INET, socket.AF_INET6):
            parsed = parse_ip_literal(address.split("%", 1)[0])
            if parsed is not None:
                resolved.setdefault(address, parsed)
    if not resolved:
        raise FetchFailed(f"{host} has no IPv4 or IPv6 address")
    return [(ip, address) for address, ip in resolved.items()]


@contextmanager
def _get(
    pool: httpcore.ConnectionPool, target: _Target, accept: str, deadline: Deadline
) -> Iterator[httpcore.Response]:
    remaining = deadline.remaining()
    with pool.stream(
        "GET",
        httpcore.URL(
            scheme=target.scheme.encode(),
            host=target.host.encode("ascii"),
            port=target.port,
            target=target.path.encode("ascii"),
        ),
        headers=[
            (b"Host", target.authority.encode("ascii")),
            (b"Accept", accept.encode("latin-1")),
            (b"Accept-Encoding", b"identity"),  # the size cap counts what we keep
            (b"User-Agent", f"Hearth/{__version__}".encode()),
        ],
        extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), remaining)},
    ) as response:
        yield response


def _read_body(response: httpcore.Response, limit: int, url: str) -> bytes:
    declared = _header(response.headers, "content-length")
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise FetchRefused(f"{url} is larger than {_size(limit)} ({_size(int(declared))})")
    body = bytearray()
    for chunk in response.iter_stream():
        body += chunk
        if len(body) > limit:
            raise FetchRefused(f"{url} is larger than {_size(limit)}")
    return bytes(body)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The system's trusted CAs, loaded on the first https fetch rather than at import."""
    return ssl.create_default_context()


def _size(n: int) -> str:
    return f"{n / MB:g} MB" if n >= MB else f"{n} bytes"


def _header(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    wanted = name.encode().lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None


def _headers(headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for key, value in headers:
        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
        merged[name] = f"{merged[name]}, {text}" if name in merged else text
    return merged
