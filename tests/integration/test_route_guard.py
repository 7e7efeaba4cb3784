"""Bad-input case 1: every route answers 401 without credentials, except an explicit list.

The route table comes from the app itself, so a new route that forgets to be protected (or
is marked public without being listed here) fails this test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from mediaserver.api.guard import is_public
from mediaserver.app import create_app
from mediaserver.config import load_settings

# Path templates that may answer without credentials, and why.
ALLOWED_PUBLIC = {
    "/health",  # monitors and load balancers
    "/api/v1/auth/login",  # signing in
    "/api/v1/auth/login/code",  # only with the ticket a right password earned
    "/api/v1/auth/refresh",
    "/api/v1/auth/logout",
    "/api/v1/auth/pair",  # a TV asks to pair: it gets a code to show, nothing else
    "/api/v1/auth/pair/poll",  # only the device's own 256-bit poll token gets tokens
    "/login",
    "/login/code",  # the two-factor step: only with the ticket a right password earned
    "/login/picker",  # the profile picker: only when on, from the home network, opted-in people
    "/login/picker/{user_id:int}/picture",  # a tile's picture: the picker's own rule
    "/setup",  # only with the printed one-time code, only before the first admin
    "/static/{file_path:path}",  # the UI's own files
    "/api/v1/hls/{key:str}/{name:str}",  # signed, expiring, path-scoped token
    "/api/v1/hls/{key:str}/subtitles/{name:str}",
    "/api/v1/hls/sessions/{session:str}/stop",  # unguessable id; can only stop a stream
    "/api/v1/hls/sessions/{session:str}/ping",
    # DLNA: TVs cannot sign in. Home addresses only, and only the DLNA user's view.
    "/dlna/description.xml",
    "/dlna/scpd/{name:str}",
    "/dlna/icons/{name:str}",
    "/dlna/control/{service:str}",
    "/dlna/files/{file_id:int}/{name:str}",
    "/dlna/files/{file_id:int}/subtitles/{name:str}",
    "/dlna/items/{item_id:int}/poster.jpg",
    "/dlna/event",
}
_SAMPLE = {"int": "1", "str": "x", "path": "x"}


def concrete(template: str) -> str:
    return re.sub(r"\{[^:}]+:([a-z]+)\}", lambda m: _SAMPLE.get(m[1], "x"), template)


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, bool]]:
    """(path template, method, public) of every route the app has."""
    data = tmp_path_factory.mktemp("routes-data")
    settings = load_settings(None, {"MEDIASERVER_DATA_DIR": str(data)})
    app = create_app(settings)
    found = []
    for route in app.routes:
        # HTTP routes have handlers per method; an ASGI mount (DLNA events) has one for all.
        handlers = getattr(route, "route_handlers", None) or [getattr(route, "route_handler", None)]
        for handler in handlers:
            for method in sorted(getattr(handler, "http_methods", None) or {"GET"}):
                if method == "OPTIONS":
                    continue
                found.append((route.path, method, is_public(handler)))
    return found


@pytest.fixture(scope="module")
def url(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    with hearth_server(
        tmp_path_factory.mktemp("guard-data"), [tmp_path_factory.mktemp("guard-media")]
    ) as base:
        yield base


def test_only_the_listed_routes_are_public(routes: list[tuple[str, str, bool]]) -> None:
    public = {path for path, _, is_open in routes if is_open}
    assert public == ALLOWED_PUBLIC
    assert len(routes) > 40  # the walk really saw the API


def test_every_other_route_refuses_without_credentials(
    routes: list[tuple[str, str, bool]], url: str
) -> None:
    answered = []
    with httpx.Client(base_url=url, timeout=30) as client:  # no credentials at all
        for path, method, is_open in routes:
            if is_open:
                continue
            response = client.request(method, concrete(path))
            if response.status_code != 401:
                answered.append(f"{method} {path} -> {response.status_code}")
    assert answered == []


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer hak_not-a-real-key"},
        {"Authorization": "Bearer hat_1.9999999999.deadbeef"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"Cookie": "hearth_session=hss_forged"},
        {"X-Forwarded-For": "127.0.0.1"},
    ],
)
def test_bad_credentials_are_no_credentials(url: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/api/v1/items", headers=headers).status_code == 401
        page = client.get("/", headers={**headers, "Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"


def test_a_cookie_session_needs_the_csrf_token_to_change_things(url: str, tmp_path: Path) -> None:
    from tests.integration.conftest import ADMIN_NAME, ADMIN_PASSWORD

    with httpx.Client(base_url=url, timeout=30, follow_redirects=False) as browser:
        signed = browser.post(
            "/login",
            data={"username": ADMIN_NAME, "password": ADMIN_PASSWORD, "next": "/libraries"},
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/libraries"
        cookie = signed.cookies.get("hearth_session")
        assert cookie and "httponly" in signed.headers["set-cookie"].lower()
        assert browser.get("/api/v1/scan/status").status_code == 200  # the cookie signs in
        assert browser.post("/api/v1/scan").status_code == 403  # but cannot change things
        home = browser.get("/", headers={"Accept": "text/html"}).text
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', home)
        assert token is not None
        done = browser.post("/api/v1/scan", headers={"X-CSRF-Token": token[1]})
        assert done.status_code == 202
        wrong = browser.post("/api/v1/scan", headers={"X-CSRF-Token": "0" * 32})
        assert wrong.status_code == 403
        bounced = browser.post(
            "/login",
            data={"username": ADMIN_NAME, "password": ADMIN_PASSWORD, "next": "//evil.example/"},
        )
        assert bounced.headers["location"] == "/"  # never a redirect to another site
