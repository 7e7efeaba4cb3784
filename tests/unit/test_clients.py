"""The client address behind proxies: X-Forwarded-For counts only from trusted proxies."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Request

from mediaserver.api.clients import client_address, parse_proxies
from mediaserver.config import ConfigError, load_settings


def request(peer: str, *forwarded: str) -> Request[Any, Any, Any]:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
        "client": (peer, 50000),
        "server": ("127.0.0.1", 8420),
        "scheme": "http",
        "root_path": "",
        "app": None,
    }
    return Request(scope)  # type: ignore[arg-type]


PROXIES = parse_proxies(("127.0.0.1", "10.0.0.0/8", "fd00::/8"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.7", ["127.0.0.1"], "198.51.100.7"),  # not from a proxy: header ignored
        ("198.51.100.7", ["10.1.1.1, 127.0.0.1"], "198.51.100.7"),
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        (
            "127.0.0.1",
            ["1.2.3.4, 203.0.113.9"],
            "203.0.113.9",
        ),  # the left part is the client's word
        ("127.0.0.1", ["203.0.113.9, 10.2.3.4"], "203.0.113.9"),  # through two proxies
        ("127.0.0.1", ["203.0.113.9", "10.2.3.4"], "203.0.113.9"),  # as two headers
        ("127.0.0.1", ["10.9.9.9, 10.2.3.4"], "10.9.9.9"),  # only proxies: the leftmost
        ("127.0.0.1", ["garbage, 203.0.113.9"], "203.0.113.9"),
        ("127.0.0.1", ["203.0.113.9, garbage"], "127.0.0.1"),  # a proxy would not write that
        ("127.0.0.1", ["[2001:db8::1]:443"], "2001:db8::1"),
        ("127.0.0.1", ["203.0.113.9:5555"], "203.0.113.9"),
        ("::ffff:127.0.0.1", ["203.0.113.9"], "203.0.113.9"),  # v4-mapped peer
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(
    peer: str, forwarded: list[str], client: str
) -> None:
    assert client_address(request(peer, *forwarded), PROXIES) == client


def test_without_trusted_proxies_the_header_never_counts() -> None:
    assert client_address(request("127.0.0.1", "203.0.113.9"), ()) == "127.0.0.1"


def test_a_bad_proxy_entry_is_a_config_error(tmp_path: Any) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[server]\ntrusted_proxies = ["10.0.0.0/8", "banana"]\n')
    with pytest.raises(ConfigError, match="banana"):
        load_settings(config, {})


def test_the_rate_limiter_refills_steadily() -> None:
    from mediaserver.api.guard import RateLimiter

    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])  # one a second, bursts of 60
    assert [limiter.take("user:1") for _ in range(60)] == [0.0] * 60
    wait = limiter.take("user:1")
    assert 0.9 < wait <= 1.0
    assert limiter.take("user:2") == 0.0  # everyone has their own bucket
    now[0] += 1.0
    assert limiter.take("user:1") == 0.0
    assert limiter.take("user:1") > 0
