"""Requests a fuzzer or a careless client sends, each once a 500 (issue 16, points 3-6).

Long passphrases (73-256 characters), a two-factor code in another script, an avatar
upload with no file part and a big request head in one read: each gets a clear answer
from a real server on 127.0.0.1, and nothing is half-done.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest

from tests.integration.conftest import ADMIN_NAME, ADMIN_PASSWORD, auth_headers

# A passphrase of 120 characters whose first 72 alone would already be strong.
LONG = "the lighthouse keeper counts waves at dusk and forgets the number by dawn, " * 2
# 200 characters whose first piece zxcvbn sees is weak, the second strong.
WEAK_THEN_STRONG = "a" * 72 + "Vq3#tLw9!pZr&Kd2 ferry lanterns hum under 7 bridges" * 2 + "x" * 26
# Everything repeated: no piece is strong.
ALL_WEAK = "password" * 25


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    media = tmp_path_factory.mktemp("odd-media")
    with (
        hearth_server(tmp_path_factory.mktemp("odd-data"), [media]) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client, auth_headers(url)


def _login(client: httpx.Client, name: str, password: str, **more: Any) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": name, "password": password, **more})


def _new_user(client: httpx.Client, admin: dict[str, str], name: str, password: str) -> int:
    made = client.post("/api/v1/users", json={"name": name, "password": password}, headers=admin)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _bearer(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def browser(server: tuple[httpx.Client, dict[str, str]]) -> Iterator[httpx.Client]:
    """The admin signed in through the ordinary form (a web session, not a key)."""
    client, _ = server
    with httpx.Client(base_url=client.base_url, timeout=30) as web:
        signed = web.post("/login", data={"username": ADMIN_NAME, "password": ADMIN_PASSWORD})
        assert signed.status_code == 303, signed.text
        yield web


# -- 3: long passwords ------------------------------------------------------------------


@pytest.mark.parametrize("password", [LONG, WEAK_THEN_STRONG, "é" * 3 + LONG[:253]])
def test_a_long_passphrase_makes_an_account_that_signs_in(
    server: tuple[httpx.Client, dict[str, str]], password: str
) -> None:
    client, admin = server
    name = f"long{len(password)}{password[0] == 'a'}"
    _new_user(client, admin, name, password)
    assert _login(client, name, password).status_code == 200
    # The whole password was hashed, not the part the strength check saw.
    assert _login(client, name, password[:-1] + "?").status_code == 401
    assert _login(client, name, password[:72]).status_code == 401


def test_a_long_weak_password_is_refused_in_words(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    made = client.post(
        "/api/v1/users", json={"name": "weakling", "password": ALL_WEAK}, headers=admin
    )
    assert made.status_code == 400, made.text
    assert "too weak" in made.json()["detail"]


def test_changing_and_resetting_to_a_long_password(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    first = "a first household password"
    user_id = _new_user(client, admin, "rowan", first)
    own = _bearer(_login(client, "rowan", first))
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": first, "new_password": LONG},
        headers=own,
    )
    assert changed.status_code == 200, changed.text
    assert _login(client, "rowan", LONG).status_code == 200
    reset = client.post(
        f"/api/v1/users/{user_id}/password", json={"password": WEAK_THEN_STRONG}, headers=admin
    )
    assert reset.status_code == 200, reset.text
    assert _login(client, "rowan", WEAK_THEN_STRONG).status_code == 200
    weak = client.post(
        f"/api/v1/users/{user_id}/password", json={"password": ALL_WEAK}, headers=admin
    )
    assert weak.status_code == 400 and "too weak" in weak.json()["detail"]


def test_the_web_forms_take_long_passwords(
    server: tuple[httpx.Client, dict[str, str]], browser: httpx.Client
) -> None:
    client, _ = server
    token = _csrf(browser.get("/admin/users").text)
    made = browser.post(
        "/admin/users",
        data={"csrf_token": token, "name": "sloane", "password": LONG},
    )
    assert made.status_code == 303, made.text
    assert _login(client, "sloane", LONG).status_code == 200
    weak = browser.post(
        "/admin/users", data={"csrf_token": token, "name": "tobin", "password": ALL_WEAK}
    )
    assert weak.status_code == 400 and "too weak" in weak.text
    too_long = browser.post(
        "/admin/users", data={"csrf_token": token, "name": "tobin", "password": LONG * 3}
    )
    assert too_long.status_code == 400 and "at most 256 characters" in too_long.text
    user_id = _login(client, "sloane", LONG).json()["user"]["id"]
    reset = browser.post(
        f"/admin/users/{user_id}/password",
        data={"csrf_token": token, "password": WEAK_THEN_STRONG},
    )
    assert reset.status_code == 303, reset.text
    assert _login(client, "sloane", WEAK_THEN_STRONG).status_code == 200


def test_the_profile_form_changes_to_a_long_password(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    first = "another household password"
    _new_user(client, admin, "ulla", first)
    with httpx.Client(base_url=client.base_url, timeout=30) as web:
        assert web.post("/login", data={"username": "ulla", "password": first}).status_code == 303
        token = _csrf(web.get("/profile").text)
        fields = {"csrf_token": token, "current": first, "new": LONG, "again": LONG}
        changed = web.post("/profile/password", data=fields)
        assert changed.status_code == 303, changed.text
    assert _login(client, "ulla", LONG).status_code == 200


# -- 4: two-factor codes in other scripts -------------------------------------------------


@pytest.mark.parametrize(
    "code", ["١٢٣٤٥٦", "12345é", "\uff11\uff12\uff13\uff14\uff15\uff16", "ⅰⅱⅲⅳⅴⅵ", "\u00b2" * 6]
)
def test_a_code_in_another_script_is_a_wrong_code(
    server: tuple[httpx.Client, dict[str, str]], code: str
) -> None:
    client, admin = server
    name, password = f"vera{ord(code[0])}", "vera keeps her codes safe"
    _new_user(client, admin, name, password)
    own = _bearer(_login(client, name, password))
    secret = client.post("/api/v1/auth/totp", headers=own).json()["secret"]
    odd = client.post("/api/v1/auth/totp/confirm", json={"code": code}, headers=own)
    assert odd.status_code == 400, odd.text  # as "000000" would be
    right = client.post(
        "/api/v1/auth/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=own
    )
    assert right.status_code == 200, right.text
    # Signing in: the code in the login, then in the second step with the ticket.
    direct = _login(client, name, password, totp=code)
    assert direct.status_code == 401 and "two-factor code" in direct.json()["detail"], direct.text
    ticket = _login(client, name, password).json()["ticket"]
    second = client.post("/api/v1/auth/login/code", json={"ticket": ticket, "code": code})
    assert second.status_code == 401 and second.json()["tries_left"] == 4, second.text


# -- 5: an avatar upload without its file part ('data') -------------------------------------------------


@pytest.mark.parametrize(
    "files",
    [
        {"note": (None, "no picture here")},  # a text field, no file part
        {"picture": ("me.png", b"\x89PNG\r\n", "image/png")},  # a file under another name
        {"data": (None, "a text field, not a file")},
    ],
)
def test_an_avatar_upload_without_the_file_part_is_a_400(
    server: tuple[httpx.Client, dict[str, str]], files: dict[str, Any]
) -> None:
    client, admin = server
    me = client.get("/api/v1/auth/me", headers=admin).json()["id"]
    answer = client.put(f"/api/v1/users/{me}/avatar", files=files, headers=admin)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith("data: "), answer.text


def test_the_profile_picture_form_without_a_file_is_a_400(browser: httpx.Client) -> None:
    token = _csrf(browser.get("/profile").text)
    answer = browser.post(
        "/profile/picture", files={"note": (None, "nothing")}, headers={"x-csrf-token": token}
    )
    assert answer.status_code == 400, answer.text
    assert "data: is required" in answer.text


# -- 6: a big request head in one read ----------------------------------------------------


def _raw_get(base_url: str, head_bytes: int) -> bytes:
    """GET /health with ``head_bytes`` of headers, sent in one ``sendall``; the answer."""
    address = urlsplit(base_url)
    filler = "".join(f"x-filler-{n}: {'v' * 990}\r\n" for n in range(head_bytes // 1000))
    head = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n{filler}Connection: close\r\n\r\n"
    with socket.create_connection((address.hostname, address.port), timeout=15) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("size", [70_000, 100_000, 140_000, 600_000])
def test_a_big_head_in_one_read_is_431(
    server: tuple[httpx.Client, dict[str, str]], size: int
) -> None:
    client, _ = server
    answer = _raw_get(str(client.base_url), size)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_head_under_the_limit_is_served(server: tuple[httpx.Client, dict[str, str]]) -> None:
    client, _ = server
    answer = _raw_get(str(client.base_url), 60_000)
    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
