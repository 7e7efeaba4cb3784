"""Bad-input suite, case 11: oversized bodies, deep JSON, invalid UTF-8, huge headers and
hundreds of slow-header connections get a clean 4xx or a timeout, never a 500 or a hang,
while a normal request still completes in under a second."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack

import httpx
import pytest

from mediaserver.http_protocol import BoundedHttpToolsProtocol
from tests.integration.conftest import auth_headers


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, httpx.Client]]:
    data_dir = tmp_path_factory.mktemp("abuse-data")
    empty = tmp_path_factory.mktemp("abuse-media")
    with (
        hearth_server(data_dir, [empty]) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as client,
    ):
        yield url, client


def address(url: str) -> tuple[str, int]:
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def raw(url: str, request: bytes, *, timeout: float = 5.0) -> bytes:
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0


def test_an_oversized_body_is_413(server: tuple[str, httpx.Client]) -> None:
    _, client = server
    body = b'{"username": "a", "password": "' + b"x" * (2 << 20) + b'"}'
    answer = client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413


def test_deeply_nested_json_is_400(server: tuple[str, httpx.Client]) -> None:
    _, client = server
    deep = "[" * 200_000 + "]" * 200_000
    answer = client.post(
        "/api/v1/auth/login", content=deep, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [b'{"username": "\xff\xfe", "password": "x"}', b"\xc3\x28", b'{"username": 1e999999}'],
)
def test_broken_json_is_400(server: tuple[str, httpx.Client], body: bytes) -> None:
    _, client = server
    answer = client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize(
    "target",
    [b"/api/v1/items?q=%ff%fe", b"/items/%ff", b"/\xff\xfe", b"/api/v1/items?limit=%00"],
)
def test_invalid_utf8_in_the_url_is_never_a_500(
    target: bytes, server: tuple[str, httpx.Client]
) -> None:
    url, _ = server
    answer = raw(url, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert 200 <= status_of(answer) < 500, answer[:200]


def test_huge_headers_are_refused_and_not_buffered(server: tuple[str, httpx.Client]) -> None:
    url, client = server
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: "
    with socket.create_connection(address(url), timeout=5) as sock:
        sock.sendall(head)
        sent = 0
        try:
            for _ in range(64):  # 64 MB, if the server kept reading
                sock.sendall(b"a" * (1 << 20))
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert sent < 8, f"the server read {sent} MB of one header"
    assert answer == b"" or status_of(answer) == 431
    assert client.get("/health").status_code in (200, 503)


def test_slow_headers_do_not_block_a_normal_request(server: tuple[str, httpx.Client]) -> None:
    url, client = server
    with ExitStack() as stack:
        slow = []
        for _ in range(500):
            sock = stack.enter_context(socket.create_connection(address(url), timeout=5))
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            slow.append(sock)
        start = time.perf_counter()
        assert client.get("/api/v1/libraries").status_code == 200
        assert time.perf_counter() - start < 1.0
        for sock in slow[:50]:
            sock.sendall(b"a")  # still trickling
        assert client.get("/health").status_code in (200, 503)


def test_a_head_that_never_completes_is_cut_off(server: tuple[str, httpx.Client]) -> None:
    url, _ = server
    original = BoundedHttpToolsProtocol.head_timeout_s
    BoundedHttpToolsProtocol.head_timeout_s = 0.5  # the server's protocol reads it per connection
    try:
        with socket.create_connection(address(url), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            start = time.perf_counter()
            try:
                closed = sock.recv(100) == b""
            except ConnectionResetError:
                closed = True
            assert closed and time.perf_counter() - start < 3
    finally:
        BoundedHttpToolsProtocol.head_timeout_s = original
