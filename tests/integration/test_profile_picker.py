"""The profile picker over HTTP on a real server: off by default and then silent about names,
shown only to the home network (a forwarded public address gets the ordinary form), only
people who opted in, PINs, admins sent to the password form, and wrong PINs locking the
account with 429 exactly like wrong passwords."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import httpx
import pytest
from PIL import Image

from mediaserver.api.guard import SESSION_COOKIE
from tests.integration.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    MEMBER_PASSWORD,
    add_member,
    auth_headers,
)

PUBLIC = {"X-Forwarded-For": "8.8.8.8"}
PEOPLE = ("Annika", "Bertil", "Cecilia", "Dagny")  # Cecilia never opts in


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, int]]]:
    media = tmp_path_factory.mktemp("picker-media")
    with hearth_server(tmp_path_factory.mktemp("picker-data"), [media]) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            ids = {name: add_member(client, auth_headers(url), name)[0] for name in PEOPLE}
        yield url, ids


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


@contextmanager
def signed_in(url: str, name: str, password: str) -> Iterator[httpx.Client]:
    """A client with a web session of ``name``, signed in through the ordinary form."""
    with httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post("/login", data={"username": name, "password": password})
        assert answer.status_code == 303, answer.text
        yield client


def post_form(client: httpx.Client, page: str, action: str, **fields: Any) -> httpx.Response:
    """Post a form from ``page`` (a path) with its CSRF token, as the browser would."""
    token = _csrf(client.get(page).text)
    return client.post(action, data={"csrf_token": token, **fields})


def set_picker(url: str, on: bool) -> None:
    with signed_in(url, ADMIN_NAME, ADMIN_PASSWORD) as admin:
        fields = {"profile_picker": "on"} if on else {}
        assert post_form(admin, "/admin/users", "/admin/users/picker", **fields).status_code == 303


def opt_in(url: str, name: str, pin: str = "") -> None:
    with signed_in(url, name, MEMBER_PASSWORD) as person:
        answer = post_form(
            person, "/profile", "/profile/picker", show="on", pin=pin, password=MEMBER_PASSWORD
        )
        assert answer.status_code == 303, answer.text


def pick(url: str, person: int, headers: dict[str, str] | None = None, **more: str) -> Any:
    with httpx.Client(base_url=url, timeout=30, headers=headers) as client:
        answer = client.post("/login/picker", data={"person": str(person), **more})
        return answer, client.cookies.get(SESSION_COOKIE)


def test_off_by_default_no_names_and_no_tile_sign_in(server: tuple[str, dict[str, int]]) -> None:
    url, ids = server
    opt_in(url, "Annika")
    page = httpx.get(url + "/login").text
    assert "picker-tile" not in page and "Annika" not in page
    answer, cookie = pick(url, ids["Annika"])
    assert answer.status_code == 403 and cookie is None
    assert "Sign in with your name and password." in answer.text


def test_the_admin_page_explains_the_rule_and_sees_outside_sign_ins(
    server: tuple[str, dict[str, int]],
) -> None:
    url, _ = server
    with signed_in(url, ADMIN_NAME, ADMIN_PASSWORD) as admin:
        home = admin.get("/admin/users").text
        assert "Only devices on your home network see the picker" in home
        assert "outside-notice" not in home
        outside = admin.get("/admin/users", headers=PUBLIC).text
        assert "Hearth is reachable from outside your home network" in outside
        assert "you are using it from 8.8.8.8 right now" in outside


def test_on_and_from_home_the_picker_shows_only_people_who_opted_in(
    server: tuple[str, dict[str, int]],
) -> None:
    url, _ = server
    opt_in(url, "Bertil", pin="2468")
    opt_in(url, "Dagny", pin="1357")
    set_picker(url, True)
    page = httpx.get(url + "/login").text
    tiles = re.findall(r'<span class="picker-name">([^<]+)</span>', page)
    assert tiles == ["Annika", "Bertil", "Dagny"]  # not Cecilia, not the admin
    assert "Sign in with a password instead" in page
    assert 'name="password"' not in page
    form = httpx.get(url + "/login?password=true").text
    assert 'name="password"' in form and "Choose your profile instead" in form


@pytest.mark.parametrize(
    "headers",
    [PUBLIC, {"X-Forwarded-For": "192.168.1.4, 8.8.4.4"}, {"Forwarded": "for=8.8.8.8"}],
)
def test_a_forwarded_public_address_gets_the_ordinary_form_and_no_names(
    server: tuple[str, dict[str, int]], headers: dict[str, str]
) -> None:
    url, ids = server
    page = httpx.get(url + "/login", headers=headers).text
    assert "picker-tile" not in page and "Annika" not in page and 'name="password"' in page
    answer, cookie = pick(url, ids["Annika"], headers)
    assert answer.status_code == 403 and cookie is None


def test_a_tiles_picture_is_shown_to_the_home_network_only(
    server: tuple[str, dict[str, int]],
) -> None:
    """The signed-out page cannot use the API's picture route; the picker's own follows the
    picker's rule: on, at home, opted in."""
    url, ids = server
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(picture, "PNG")
    for name in ("Annika", "Cecilia"):
        with signed_in(url, name, MEMBER_PASSWORD) as person:
            token = _csrf(person.get("/profile").text)
            sent = person.post(
                "/profile/picture",
                files={"data": ("me.png", picture.getvalue(), "image/png")},
                headers={"X-CSRF-Token": token},
            )
            assert sent.status_code == 303, sent.text
    page = httpx.get(url + "/login").text
    path = f"/login/picker/{ids['Annika']}/picture"
    assert f'src="{path}"' in page
    shown = httpx.get(url + path)
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("image/")
    assert httpx.get(url + path, headers=PUBLIC).status_code == 404
    assert httpx.get(url + f"/login/picker/{ids['Cecilia']}/picture").status_code == 404


def test_a_tile_without_a_pin_signs_in_at_once(server: tuple[str, dict[str, int]]) -> None:
    url, ids = server
    with httpx.Client(base_url=url, timeout=30) as client:
        answer = client.post("/login/picker", data={"person": str(ids["Annika"])})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert client.get("/api/v1/auth/me").json()["name"] == "Annika"


def test_someone_not_on_the_picker_cannot_sign_in_by_tile(
    server: tuple[str, dict[str, int]],
) -> None:
    url, ids = server
    for person in (ids["Cecilia"], 999_999):
        answer, cookie = pick(url, person)
        assert answer.status_code == 404 and cookie is None
        assert "Cecilia" not in answer.text


def test_another_sites_post_is_refused(server: tuple[str, dict[str, int]]) -> None:
    url, ids = server
    answer, cookie = pick(url, ids["Annika"], {"Origin": "https://evil.example"})
    assert answer.status_code == 403 and cookie is None


def test_an_admin_tile_asks_for_the_password(server: tuple[str, dict[str, int]]) -> None:
    url, _ = server
    with signed_in(url, ADMIN_NAME, ADMIN_PASSWORD) as admin:
        admin_id = admin.get("/api/v1/auth/me").json()["id"]
        post_form(admin, f"/admin/users/{admin_id}", f"/admin/users/{admin_id}/picker", show="on")
    answer, cookie = pick(url, admin_id, pin="")
    assert answer.status_code == 200 and cookie is None
    assert "always sign in with their password" in answer.text
    assert f'value="{ADMIN_NAME}"' in answer.text and 'name="password"' in answer.text


def test_a_pin_tile_asks_for_the_pin_and_the_right_one_signs_in(
    server: tuple[str, dict[str, int]],
) -> None:
    url, ids = server
    step, cookie = pick(url, ids["Bertil"])
    assert step.status_code == 200 and cookie is None
    assert 'inputmode="numeric"' in step.text and 'autocomplete="off"' in step.text
    wrong, cookie = pick(url, ids["Bertil"], pin="1111")
    assert wrong.status_code == 401 and cookie is None and "That PIN is wrong." in wrong.text
    right, cookie = pick(url, ids["Bertil"], pin="2468")
    assert right.status_code == 303 and cookie is not None


# Last: it leaves Dagny and 127.0.0.1 locked for a while.


def test_a_burst_of_wrong_pins_locks_the_account_with_429(
    server: tuple[str, dict[str, int]],
) -> None:
    url, ids = server
    statuses = [pick(url, ids["Dagny"], pin=f"900{n}")[0].status_code for n in range(5)]
    assert statuses == [401] * 5
    locked, cookie = pick(url, ids["Dagny"], pin="1357")  # the right PIN has to wait too
    assert locked.status_code == 429 and cookie is None
    assert "Too many failed sign-ins; try again in" in locked.text
    # The same lock as the password's: the account is locked for both.
    password = httpx.post(url + "/login", data={"username": "Dagny", "password": MEMBER_PASSWORD})
    assert password.status_code == 429
