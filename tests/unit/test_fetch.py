"""Outbound fetch: what is refused, and that a refused address is never contacted.

The network here is loopback only: small HTTP servers on 127.0.0.1 and 127.0.0.2, allowed
explicitly where a test needs them.  DNS is the one thing that cannot exist here, so host
names resolve through a fake ``getaddrinfo``; a guard on ``socket.create_connection`` lets
connections reach loopback only and records every attempt.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mediaserver.config import ConfigError, NetworkSettings, load_settings
from mediaserver.net import fetch as fetch_module
from mediaserver.net.addresses import AllowList, parse_ip_literal
from mediaserver.net.fetch import FetchFailed, FetchRefused, fetch

REAL_GETADDRINFO = socket.getaddrinfo
REAL_CREATE_CONNECTION = socket.create_connection
PUBLIC = "93.184.216.34"  # never contacted: the connection guard turns it away


# --- the edges: fake DNS, guarded connections ----------------------------------------------


class Net:
    """Scripted DNS answers plus a record of every lookup and connection attempt."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}  # name -> one answer list per lookup
        self.lookups: list[str] = []
        self.connects: list[tuple[str, int]] = []
        self.slow_dns = threading.Event()  # set: lookups hang until released
        self.release = threading.Event()

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:  # an address literal: the real resolver, numeric only, never DNS
            return REAL_GETADDRINFO(
                host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
            )
        except socket.gaierror:
            pass
        self.lookups.append(host)
        if self.slow_dns.is_set():
            self.release.wait(5)
        script = self.answers.get(host)
        if not script:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = script.pop(0) if len(script) > 1 else script[0]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in answer
        ]

    def create_connection(
        self, address: tuple[str, int], *args: Any, **kwargs: Any
    ) -> socket.socket:
        self.connects.append((address[0], address[1]))
        if not ip_address(address[0]).is_loopback:
            raise ConnectionRefusedError(f"the test guard refuses {address[0]}")
        return REAL_CREATE_CONNECTION(address, *args, **kwargs)

    def contacted(self) -> set[str]:
        return {host for host, _ in self.connects}


@pytest.fixture(autouse=True)
def net(monkeypatch: pytest.MonkeyPatch) -> Iterator[Net]:
    fake = Net()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", fake.create_connection)
    yield fake
    fake.release.set()


# --- local servers ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.requests.append((self.path, self.headers.get("Host", "")))
        url = urlsplit(self.path)
        route = url.path
        if route == "/ok":
            self._send(200, f"hello from {self.server.name}".encode(), "text/plain; charset=utf-8")
        elif route == "/missing":
            self._send(404, b"no such thing", "text/plain")
        elif route == "/big":
            self._send(200, b"x" * (2 * 1024 * 1024), "application/octet-stream")
        elif route == "/stream-big":  # no Content-Length: the size shows only while reading
            self.send_response(200)
            self.end_headers()
            for _ in range(32):
                self.wfile.write(b"y" * 65536)
        elif route.startswith("/redirect/"):
            left = int(route.rsplit("/", 1)[1])
            self._redirect("/ok" if left <= 1 else f"/redirect/{left - 1}")
        elif route == "/loop":
            self._redirect("/loop")
        elif route == "/to":
            self._redirect(parse_qs(url.query)["url"][0])
        elif route.startswith("/slow-redirect/"):
            self.server.stop.wait(0.15)
            left = int(route.rsplit("/", 1)[1])
            self._redirect("/ok" if left <= 1 else f"/slow-redirect/{left - 1}")
        elif route == "/slow":
            self.server.stop.wait(5)
            self._send(200, b"late", "text/plain")
        elif route == "/drip":  # one byte every 50 ms: each read is quick, the whole is not
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                if self.server.stop.wait(0.05):
                    return
                self.wfile.write(b"z")
                self.wfile.flush()

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    """A test server that counts every accepted connection, request or not."""

    daemon_threads = True

    def __init__(self, name: str, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.name = name
        self.host = address[0]
        self.connections = 0
        self.requests: list[tuple[str, str]] = []
        self.stop = threading.Event()
        self.sni_names: list[str | None] = []  # server names TLS clients asked for

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        self.connections += 1
        return conn, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client hung up on purpose (size cap, deadline)


def _serve(
    name: str, address: tuple[str, int], tls: ssl.SSLContext | None = None
) -> Iterator[_Server]:
    server = _Server(name, address)
    if tls is not None:
        tls.sni_callback = lambda _sock, sni, _ctx: server.sni_names.append(sni)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(2)


@pytest.fixture
def local() -> Iterator[_Server]:
    """The allowed server, on 127.0.0.1."""
    yield from _serve("local", ("127.0.0.1", 0))


@pytest.fixture
def other(local: _Server) -> Iterator[_Server]:
    """A server on 127.0.0.2, same port: reachable if anything ever connects there."""
    yield from _serve("other", ("127.0.0.2", local.port))


def _settings(
    *servers: _Server, allow: tuple[str, ...] = ("127.0.0.1/32",), **kw: Any
) -> NetworkSettings:
    ports = tuple(sorted({s.port for s in servers}))
    return NetworkSettings(allow_private_fetch=allow, allow_fetch_ports=ports, **kw)


def _refused(url: str, settings: NetworkSettings | None = None) -> str:
    with pytest.raises(FetchRefused) as caught:
        fetch(url, settings=settings or NetworkSettings())
    return caught.value.reason


# --- refused before any lookup or connection -----------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.0.0.1./", "127.0.0.1. is 127.0.0.1, a loopback address"),
        ("http://127.8.9.10/", "a loopback address"),
        ("http://2130706433/", "2130706433 is 127.0.0.1, a loopback address"),
        ("http://0x7f000001/", "0x7f000001 is 127.0.0.1, a loopback address"),
        ("http://0177.0.0.1/", "0177.0.0.1 is 127.0.0.1, a loopback address"),
        ("http://127.1/", "127.1 is 127.0.0.1, a loopback address"),
        ("http://0x7f.1/", "0x7f.1 is 127.0.0.1, a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback address in IPv6 form"),
        ("http://[::ffff:7f00:1]/", "a loopback address in IPv6 form (127.0.0.1)"),
        ("http://[::127.0.0.1]/", "a loopback address in IPv6 form (127.0.0.1)"),
        ("http://[64:ff9b::127.0.0.1]/", "a loopback address in IPv6 form (127.0.0.1)"),
        ("http://[2002:7f00:1::]/", "a loopback address in IPv6 form (127.0.0.1)"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[::ffff:169.254.169.254]/", "a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "a cloud metadata address"),
        ("http://100.100.100.200/", "a cloud metadata address"),
        (
            "http://metadata.google.internal/computeMetadata/v1/",
            "metadata.google.internal is a cloud metadata service",
        ),
        ("http://METADATA.google.internal./", "a cloud metadata service"),
        ("http://10.1.2.3/", "a private (LAN) address"),
        ("http://172.16.0.1/", "a private (LAN) address"),
        ("http://192.168.1.10/", "a private (LAN) address"),
        ("http://[fd12:3456::1]/", "a private (LAN) address"),
        ("http://[::ffff:192.168.1.1]/", "a private (LAN) address in IPv6 form"),
        ("http://169.254.10.20/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://100.64.0.1/", "a carrier-grade NAT address"),
        ("http://0.0.0.0/", "an unspecified address"),
        ("http://0/", "0 is 0.0.0.0, an unspecified address"),
        ("http://[::]/", "an unspecified address"),
        ("http://224.0.0.251/", "a multicast address"),
        ("http://[ff02::1]/", "a multicast address"),
        ("http://240.0.0.1/", "a reserved address"),
        ("http://255.255.255.255/", "a reserved address"),
        ("http://192.0.2.1/", "a reserved address"),  # documentation range
    ],
)
def test_addresses_that_are_not_public_are_refused(url: str, reason: str, net: Net) -> None:
    assert reason in _refused(url)
    assert net.lookups == [] and net.connects == []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "0x7f.1",
        "0x7F.0.0.01",
        "017700000001",
    ],
)
def test_numeric_hosts_are_read_as_the_system_resolver_reads_them(host: str) -> None:
    system = REAL_GETADDRINFO(
        host, 80, socket.AF_INET, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
    )
    assert str(parse_ip_literal(host)) == system[0][4][0] == "127.0.0.1"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http and https URLs are fetched, not file:"),
        ("ftp://example.com/poster.jpg", "not ftp:"),
        ("gopher://example.com/", "not gopher:"),
        ("javascript:alert(1)", "not javascript:"),
        ("//example.com/poster.jpg", "a URL without a scheme"),
        ("http://user@example.com/", "user name or password"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http://example.com@127.0.0.1/", "user name or password"),
        ("http://example.com:22/", "port 22"),
        ("https://example.com:8443/", "port 8443"),
        ("http://example.com:0/", "port 0"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http:///poster.jpg", "names no host"),
        ("http://exa mple.com/", "not a valid host name"),
        ("http://exa%2fmple.com/", "not a valid host name"),
        ("http://1.2.3.999/", "not a valid address"),
        ("http://08.0.0.1/", "not a valid address"),
        ("http://1.2.3.4.5/", "not a valid address"),
        ("http://[fe80::1%25eth0]/", "zone id"),
    ],
)
def test_urls_outside_the_rules_are_refused(url: str, reason: str, net: Net) -> None:
    assert reason in _refused(url)
    assert net.lookups == [] and net.connects == []


# --- host names: every address counts --------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["127.0.0.1", PUBLIC], "evil.example resolves to 127.0.0.1, a loopback address"),
        ([PUBLIC, "10.0.0.7"], "evil.example resolves to 10.0.0.7, a private (LAN) address"),
        (["2606:2800:220:1:248:1893:25c8:1946", "fd00::1"], "resolves to fd00::1, a private"),
        (["::ffff:169.254.169.254"], "resolves to ::ffff:169.254.169.254, a cloud metadata"),
    ],
)
def test_a_name_with_any_non_public_address_is_refused(
    answer: list[str], reason: str, net: Net
) -> None:
    net.answers["evil.example"] = [answer]
    assert reason in _refused("http://evil.example/poster.jpg")
    assert net.lookups == ["evil.example"] and net.connects == []


def test_the_refusal_says_how_to_allow_it_except_for_metadata() -> None:
    assert "allow_private_fetch in the [network] settings" in _refused("http://192.168.1.5/")
    assert "allow_private_fetch" not in _refused("http://169.254.169.254/")


def test_a_broad_allowed_range_does_not_unlock_the_metadata_service() -> None:
    broad = AllowList.parse(["169.254.0.0/16", "fd00::/8"])
    assert broad.allows_address(ip_address("169.254.10.20"))
    assert not broad.allows_address(ip_address("169.254.169.254"))
    assert not broad.allows_address(ip_address("fd00:ec2::254"))
    assert AllowList.parse(["169.254.169.254"]).allows_address(ip_address("169.254.169.254"))
    assert AllowList.parse(["127.0.0.0/8"]).allows_address(ip_address("::ffff:127.0.0.1"))
    assert "cloud metadata" in _refused(
        "http://169.254.169.254/", NetworkSettings(allow_private_fetch=("169.254.0.0/16",))
    )


def test_a_bad_allow_list_entry_is_a_config_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "hearth.toml"
    config.write_text('[network]\nallow_private_fetch = ["10.0.0.0/33"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"network: '10.0.0.0/33' in allow_private_fetch"):
        load_settings(config, environ={})


# --- an allowed local server -----------------------------------------------------------------


def test_an_allowed_server_is_fetched(local: _Server) -> None:
    result = fetch(local.url("/ok"), settings=_settings(local))
    assert (result.status, result.content) == (200, b"hello from local")
    assert result.content_type == "text/plain"
    assert result.headers["content-length"] == "16"
    assert result.final_url == local.url("/ok")
    assert local.requests == [("/ok", f"127.0.0.1:{local.port}")]


def test_an_error_status_is_returned_as_it_is(local: _Server) -> None:
    result = fetch(local.url("/missing"), settings=_settings(local))
    assert (result.status, result.content) == (404, b"no such thing")


def test_an_allowed_host_name_keeps_its_name_in_the_host_header(local: _Server, net: Net) -> None:
    net.answers["nas.example"] = [["127.0.0.1"]]
    settings = _settings(local, allow=("nas.example",))
    result = fetch(f"http://nas.example:{local.port}/ok", settings=settings)
    assert result.content == b"hello from local"
    assert local.requests == [("/ok", f"nas.example:{local.port}")]


def test_a_body_over_the_cap_is_refused(local: _Server) -> None:
    with pytest.raises(FetchRefused, match="is larger than 1 MB"):
        fetch(local.url("/big"), settings=_settings(local), max_bytes=1024 * 1024)
    with pytest.raises(FetchRefused, match="is larger than 1 MB"):
        fetch(local.url("/big"), settings=_settings(local, fetch_max_mb=1))
    assert (
        fetch(local.url("/ok"), settings=_settings(local), max_bytes=16).content
        == b"hello from local"
    )


def test_a_body_without_a_length_is_cut_off_at_the_cap(local: _Server) -> None:
    with pytest.raises(FetchRefused, match="is larger than 100000 bytes"):
        fetch(local.url("/stream-big"), settings=_settings(local), max_bytes=100_000)


def test_redirects_are_followed_up_to_five(local: _Server) -> None:
    result = fetch(local.url("/redirect/5"), settings=_settings(local))
    assert result.content == b"hello from local"
    assert result.final_url == local.url("/ok")
    assert [path for path, _ in local.requests] == [f"/redirect/{n}" for n in (5, 4, 3, 2, 1)] + [
        "/ok"
    ]


def test_a_sixth_redirect_or_a_loop_is_refused(local: _Server) -> None:
    with pytest.raises(FetchRefused, match="redirects more than 5 times"):
        fetch(local.url("/redirect/6"), settings=_settings(local))
    with pytest.raises(FetchRefused, match="redirects more than 5 times"):
        fetch(local.url("/loop"), settings=_settings(local))


def test_a_slow_server_hits_the_deadline(local: _Server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"did not answer within 0.3 s"):
        fetch(local.url("/slow"), settings=_settings(local), timeout_s=0.3)
    assert time.monotonic() - started < 1.0


def test_the_deadline_covers_the_whole_body_not_each_read(local: _Server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"did not answer within 0.4 s"):
        fetch(local.url("/drip"), settings=_settings(local), timeout_s=0.4)
    assert time.monotonic() - started < 1.0


def test_the_deadline_covers_all_redirects(local: _Server) -> None:
    with pytest.raises(FetchFailed, match=r"did not answer within 0.4 s"):
        fetch(local.url("/slow-redirect/5"), settings=_settings(local), timeout_s=0.4)
    assert len(local.requests) <= 3


def test_a_slow_name_lookup_hits_the_deadline(net: Net) -> None:
    net.answers["slow.example"] = [[PUBLIC]]
    net.slow_dns.set()
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"looking up slow.example took longer than 0.2 s"):
        fetch("http://slow.example/", settings=NetworkSettings(), timeout_s=0.2)
    assert time.monotonic() - started < 1.0
    assert net.connects == []


def test_an_unknown_name_fails_with_the_lookup_error() -> None:
    with pytest.raises(FetchFailed, match=r"cannot look up nowhere.example"):
        fetch("http://nowhere.example/", settings=NetworkSettings())


# --- redirects are checked hop by hop --------------------------------------------------------


def _to(server: _Server, target: str) -> str:
    return server.url("/to?url=" + target)


def test_a_redirect_to_another_allowed_server_is_followed(local: _Server, other: _Server) -> None:
    """The control for the tests below: were 127.0.0.2 contacted, ``other`` would count it."""
    settings = _settings(local, other, allow=("127.0.0.1", "127.0.0.2"))
    result = fetch(_to(local, other.url("/ok")), settings=settings)
    assert result.content == b"hello from other"
    assert other.connections == 1


def test_a_redirect_to_the_metadata_service_is_refused(local: _Server, net: Net) -> None:
    reason = _refused(_to(local, "http://169.254.169.254/latest/meta-data/"), _settings(local))
    assert "redirects to a URL that is refused" in reason and "cloud metadata address" in reason
    assert net.contacted() == {"127.0.0.1"}


def test_a_redirect_to_a_loopback_address_not_allowed_never_reaches_it(
    local: _Server, other: _Server, net: Net
) -> None:
    reason = _refused(_to(local, other.url("/ok")), _settings(local, other))
    assert "127.0.0.2 is a loopback address" in reason
    assert other.connections == 0 and other.requests == []
    assert net.contacted() == {"127.0.0.1"}


def test_a_redirect_to_a_name_for_a_refused_address_never_reaches_it(
    local: _Server, other: _Server, net: Net
) -> None:
    net.answers["evil.example"] = [["127.0.0.2"]]
    reason = _refused(_to(local, f"http://evil.example:{other.port}/ok"), _settings(local, other))
    assert "evil.example resolves to 127.0.0.2, a loopback address" in reason
    assert other.connections == 0


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("file:///etc/passwd", "not file:"),
        ("http://user@127.0.0.1/", "user name or password"),
        ("http://127.0.0.1:6379/", "port 6379"),
        ("http://[::ffff:127.0.0.2]/", "a loopback address in IPv6 form"),
        ("http://2130706434/", "2130706434 is 127.0.0.2"),
    ],
)
def test_a_redirect_is_held_to_the_same_rules(local: _Server, target: str, reason: str) -> None:
    assert reason in _refused(_to(local, target), _settings(local))


# --- pinning: the address checked is the address connected -----------------------------------


def test_a_rebinding_name_is_connected_where_it_was_checked(
    local: _Server, other: _Server, net: Net
) -> None:
    """media.example answers 127.0.0.1 (allowed) first and 127.0.0.2 (not allowed) after that.

    A client that looked the name up again to connect, or for the redirect, would reach
    ``other`` on the same port.
    """
    net.answers["media.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    result = fetch(f"http://media.example:{local.port}/redirect/2", settings=_settings(local))
    assert result.content == b"hello from local"
    assert net.lookups == ["media.example"]
    assert other.connections == 0
    assert net.contacted() == {"127.0.0.1"}


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_loopback(net: Net) -> None:
    net.answers["rebind.example"] = [[PUBLIC], ["127.0.0.1"]]
    with pytest.raises(FetchFailed, match=r"cannot connect to http://rebind.example/"):
        fetch("http://rebind.example/poster.jpg", settings=NetworkSettings())
    assert net.connects == [(PUBLIC, 80)]  # the checked address, refused by the test guard
    assert net.lookups == ["rebind.example"]


# --- https: pinned to the address, verified against the name ---------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for media.example (the openssl CLI; no test dependency)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    argv = [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    argv += ["-nodes", "-days", "1", "-subj", "/CN=media.example", "-keyout", str(key)]
    argv += ["-out", str(cert), "-addext", "subjectAltName=DNS:media.example"]
    subprocess.run(argv, check=True, capture_output=True, timeout=30)  # noqa: S603
    return cert, key


@pytest.fixture
def tls_local(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    """The allowed server over TLS, its certificate trusted by fetch for the test."""
    cert, key = certificate
    client_context = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(fetch_module, "_tls_context", lambda: client_context)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    yield from _serve("tls", ("127.0.0.1", 0), tls=server_context)


def test_https_connects_to_the_pinned_address_and_verifies_the_name(
    tls_local: _Server, net: Net
) -> None:
    net.answers["media.example"] = [["127.0.0.1"], ["127.0.0.2"]]
    result = fetch(f"https://media.example:{tls_local.port}/ok", settings=_settings(tls_local))
    assert result.content == b"hello from tls"
    assert tls_local.sni_names == ["media.example"]
    assert tls_local.requests == [("/ok", f"media.example:{tls_local.port}")]
    assert net.contacted() == {"127.0.0.1"}


def test_https_with_a_certificate_for_another_name_fails(tls_local: _Server, net: Net) -> None:
    net.answers["other.example"] = [["127.0.0.1"]]
    with pytest.raises(FetchFailed, match="certificate"):
        fetch(f"https://other.example:{tls_local.port}/ok", settings=_settings(tls_local))
