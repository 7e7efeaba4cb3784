"""Issue 16, point 1: a number no SQLite INTEGER can hold is a 400 or 404, never a 500.

``2**63`` in an id or a numeric parameter reached ``sqlite3`` and raised OverflowError (a 500
with a page of traceback), on 38 routes, DLNA's unauthenticated ones included.  The route
table comes from the app itself, so a new route that takes an id without the range-checked
types of ``mediaserver/api/params.py`` fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaserver.app import create_app
from mediaserver.config import load_settings
from tests.integration.conftest import add_member, auth_headers

TOO_BIG = str(2**63)  # one past SQLite's largest INTEGER
# Query parameters that are numbers somewhere (declared, or read by the library filters).
NUMERIC_QUERY = (
    "library_id",
    "parent_id",
    "item_id",
    "file_id",
    "user_id",
    "year",
    "before",
    "after",
    "offset",
    "limit",
    "page",
    "added",
    "width",
    "days",
    "bins",
)
ENDLESS = {"/api/v1/events"}  # an event stream that never ends on its own


def _with(template: str, number: str) -> str:
    """The path with every ``{x:int}`` set to ``number`` and every other parameter to ``x``."""
    return re.sub(
        r"\{[^:}]+:([a-z]+)\}", lambda m: number if m[1] == "int" else "x", template
    ).replace("/{file_path:path}", "/x")


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str]]:
    """(path template, method) of every HTTP route the app has."""
    settings = load_settings(None, {"MEDIASERVER_DATA_DIR": str(tmp_path_factory.mktemp("r"))})
    found = []
    for route in create_app(settings).routes:
        for handler in getattr(route, "route_handlers", None) or []:
            for method in sorted(handler.http_methods - {"OPTIONS"}):
                found.append((route.path, method))
    return found


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[tuple[httpx.Client, dict[str, str], dict[str, str]]]:
    """A client, the admin's headers and those of a member limited to the one library (so
    the catalog guard, which reads ids before the handler does, runs for them)."""
    with hearth_server(tmp_path_factory.mktemp("overflow-data"), [hearth_library]) as url:
        admin = auth_headers(url)
        with httpx.Client(base_url=url, headers=admin, timeout=30) as signed_in:
            scan_waiter(signed_in)
        with httpx.Client(base_url=url, timeout=30) as client:
            library = client.get("/api/v1/libraries", headers=admin).json()["libraries"][0]
            _, member = add_member(client, admin, "kid", libraries=[library["id"]])
            yield client, admin, member


def _failures(responses: list[tuple[str, httpx.Response]]) -> list[str]:
    return [f"{what} -> {r.status_code}" for what, r in responses if r.status_code >= 500]


def test_an_id_too_big_for_sqlite_is_never_a_server_error(
    routes: list[tuple[str, str]], server: tuple[httpx.Client, dict[str, str], dict[str, str]]
) -> None:
    client, admin, member = server
    answered = []
    for template, method in routes:
        if ":int}" not in template:
            continue
        for who, headers in (("admin", admin), ("member", member)):
            response = client.request(method, _with(template, TOO_BIG), headers=headers)
            answered.append((f"{who} {method} {template}", response))
            assert response.status_code in (400, 403, 404, 405), f"{who} {method} {template}"
    assert _failures(answered) == []
    assert len(answered) > 60  # the walk really saw the routes that take ids


def test_a_numeric_query_parameter_too_big_is_never_a_server_error(
    routes: list[tuple[str, str]], server: tuple[httpx.Client, dict[str, str], dict[str, str]]
) -> None:
    client, admin, _ = server
    answered = []
    for template, method in routes:
        if method != "GET" or template in ENDLESS or template.startswith("/static"):
            continue
        for name in NUMERIC_QUERY:
            url = f"{_with(template, '1')}?{name}={TOO_BIG}"
            answered.append((f"GET {url}", client.get(url, headers=admin)))
    assert _failures(answered) == []


def test_the_refusal_names_the_parameter_and_its_range(
    server: tuple[httpx.Client, dict[str, str], dict[str, str]],
) -> None:
    client, admin, member = server
    poster = client.get(f"/dlna/items/{TOO_BIG}/poster.jpg")  # no credentials: a TV asks
    assert poster.status_code == 400
    assert poster.text == "item_id: must be at most 9223372036854775807"
    listing = client.get(f"/api/v1/items?library_id={TOO_BIG}", headers=member)
    assert listing.status_code == 400
    assert listing.json()["detail"] == "library_id: must be at most 9223372036854775807"
    zero = client.get("/api/v1/items/0", headers=admin)
    assert zero.status_code == 400 and zero.json()["detail"] == "item_id: must be at least 1"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/recommendations/not-interested", {"item_id": 2**63}),
        ("POST", "/api/v1/scan", {"library_ids": [2**63]}),
        ("POST", "/api/v1/users", {"name": "big", "password": "x" * 12, "libraries": [2**63]}),
    ],
)
def test_an_id_too_big_in_a_body_is_a_bad_request(
    server: tuple[httpx.Client, dict[str, str], dict[str, str]],
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    client, admin, _ = server
    response = client.request(method, path, json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert "must be at most 9223372036854775807" in response.json()["detail"]
