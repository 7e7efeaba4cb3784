"""Per-user limits over HTTP: content ratings, library access, admin-only routes, and one
user never reaching another's account (bad-input suite, point 2)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import add_member, auth_headers, wait_for_scan

PASSWORD = "a long household password"
MOVIES = {  # title -> content rating ("" = none)
    "Bunny Picnic": "G",
    "Dragon School": "PG",
    "Night Harbour": "R",
    "Home Movie": "",
}


# title -> its one actor: someone in a hidden film only, someone in a film for everyone
ACTORS = {"Night Harbour": "Harriet Vane", "Bunny Picnic": "Harriet Bunter"}


def _movie(root: Path, clip: Path, title: str, rating: str, genre: str) -> None:
    folder = root / f"{title} (2020)"
    folder.mkdir(parents=True)
    shutil.copyfile(clip, folder / f"{title} (2020).mp4")
    mpaa = f"<mpaa>{rating}</mpaa>" if rating else ""
    actor = f"<actor><name>{ACTORS[title]}</name></actor>" if title in ACTORS else ""
    (folder / f"{title} (2020).nfo").write_text(
        f"<movie><title>{title}</title><year>2020</year>{mpaa}<genre>{genre}</genre>"
        f"{actor}</movie>",
        encoding="utf-8",
    )


@dataclass
class Household:
    client: httpx.Client
    admin: dict[str, str]
    libraries: dict[str, int]
    ids: dict[str, int]

    def user(self, name: str, **limits: Any) -> dict[str, str]:
        """A member with these limits; the headers of their access token."""
        return add_member(self.client, self.admin, name, **limits)[1]


@pytest.fixture(scope="module")
def home(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    clip_cache: Path,
) -> Iterator[Household]:
    media = tmp_path_factory.mktemp("access-media")
    films, kids = media / "films", media / "kids"
    clip = clip_cache / "h264_aac.mp4"
    for title, rating in MOVIES.items():
        _movie(films, clip, title, rating, "Horror" if rating == "R" else "Family")
    _movie(kids, clip, "Counting Sheep", "TV-Y", "Family")
    show = films / "Grim Street"
    (show / "Season 1").mkdir(parents=True)
    (show / "tvshow.nfo").write_text(
        "<tvshow><title>Grim Street</title><mpaa>TV-MA</mpaa></tvshow>", encoding="utf-8"
    )
    shutil.copyfile(clip, show / "Season 1" / "Grim Street S01E01.mp4")
    data = tmp_path_factory.mktemp("access-data")
    with hearth_server(data, [films, kids]) as url, httpx.Client(base_url=url, timeout=30) as c:
        admin = auth_headers(url)
        c.headers.update({"accept": "application/json"})
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        libraries = {
            lib["name"]: lib["id"]
            for lib in c.get("/api/v1/libraries", headers=admin).json()["libraries"]
        }
        items = c.get("/api/v1/items?limit=500", headers=admin).json()["items"]
        yield Household(c, admin, libraries, {i["title"]: i["id"] for i in items})


def _titles(home: Household, headers: dict[str, str], query: str = "") -> set[str]:
    answer = home.client.get(f"/api/v1/items?limit=500{query}", headers=headers)
    assert answer.status_code == 200, answer.text
    return {i["title"] for i in answer.json()["items"]}


def test_a_child_sees_only_what_their_rating_allows(home: Household) -> None:
    child = home.user("Mia", max_rating="PG")
    assert _titles(home, child, "&kind=movie") == {
        "Bunny Picnic",
        "Dragon School",
        "Counting Sheep",
    }
    assert _titles(home, child, "&q=night") == set()  # search hides it too
    assert _titles(home, child, "&kind=show,episode") == set()  # TV-MA show and its episode
    genres = home.client.get("/api/v1/genres", headers=child).json()["genres"]
    assert genres == ["Family"]  # "Horror" belongs to the hidden film only
    recent = home.client.get("/", headers={**child, "accept": "text/html"})
    assert "Dragon School" in recent.text and "Night Harbour" not in recent.text


def test_a_child_never_finds_a_hidden_title_person_or_genre(home: Household) -> None:
    child = home.user("Ivy", max_rating="PG")

    def search(q: str, headers: dict[str, str]) -> dict[str, Any]:
        answer = home.client.get("/api/v1/search", params={"q": q}, headers=headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    for q in ("night harbour", "nigt harbor", "harriet vane", "hariet vane", "horror", "horor"):
        found = search(q, child)
        assert (found["items"], found["people"], found["genres"]) == ([], [], []), q
        assert _titles(home, child, f"&q={q}") == set()
    everything = search("hariet vane", home.admin)
    assert [p["name"] for p in everything["people"]] == ["Harriet Vane"]
    assert [g["name"] for g in search("horor", home.admin)["genres"]] == ["Horror"]
    # Harriet Bunter is in a film the child may see: found, with only what they may see.
    (bunter,) = search("harriet", child)["people"]
    assert (bunter["name"], bunter["title_count"]) == ("Harriet Bunter", 1)
    # The pages of a hidden person and a hidden genre are 404s, like a hidden title's.
    vane = everything["people"][0]["id"]
    html = {"accept": "text/html"}
    assert home.client.get(f"/people/{vane}", headers={**child, **html}).status_code == 404
    assert home.client.get(f"/api/v1/people/{vane}", headers=child).status_code == 404
    assert home.client.get(f"/people/{vane}", headers={**home.admin, **html}).status_code == 200
    assert home.client.get("/genres/Horror", headers={**child, **html}).status_code == 404
    family = home.client.get("/genres/Family", headers={**child, **html})
    assert family.status_code == 200 and "Night Harbour" not in family.text
    fragment = home.client.get("/search?q=nigt", headers={**child, **html, "HX-Request": "true"})
    assert "Night Harbour" not in fragment.text and "Harriet Vane" not in fragment.text


def test_a_hidden_item_is_a_404_on_every_route_like_a_missing_one(home: Household) -> None:
    child = home.user("Leo", max_rating="TV-Y7")
    hidden, missing = home.ids["Night Harbour"], 987654
    routes = [
        "/api/v1/items/{}",
        "/api/v1/items/{}/children",
        "/api/v1/items/{}/image/poster",
        "/api/v1/items/{}/cast/0/photo",
        "/api/v1/items/{}/similar",
        "/api/v1/items/{}/file",
        "/api/v1/items/{}/playback",
        "/api/v1/items/{}/hls/master.m3u8",
        "/api/v1/items/{}/subtitles/0.vtt",
        "/api/v1/items/{}/trickplay.vtt",
        "/api/v1/items/{}/chapters",
        "/items/{}",
    ]
    for route in routes:
        for item_id in (hidden, missing):
            answer = home.client.get(route.format(item_id), headers=child)
            assert answer.status_code == 404, (route, item_id, answer.text)
            assert str(missing) not in answer.text or item_id == missing
    # The admin gets the same film.
    assert home.client.get(f"/api/v1/items/{hidden}", headers=home.admin).status_code == 200
    assert home.client.get(f"/api/v1/items/{hidden}/file", headers=home.admin).status_code == 200


def test_unrated_items_are_hidden_from_a_restricted_user_unless_allowed(home: Household) -> None:
    strict = home.user("Ava", max_rating="PG-13")
    relaxed = home.user("Noah", max_rating="PG-13", show_unrated=True)
    assert "Home Movie" not in _titles(home, strict)
    assert "Home Movie" in _titles(home, relaxed)
    unrated = home.ids["Home Movie"]
    assert home.client.get(f"/api/v1/items/{unrated}", headers=strict).status_code == 404
    assert home.client.get(f"/api/v1/items/{unrated}", headers=relaxed).status_code == 200


def test_library_access_limits_lists_ids_and_library_pages(home: Household) -> None:
    kids_only = home.user("Ella", libraries=[home.libraries["kids"]])
    films = home.libraries["films"]
    assert _titles(home, kids_only) == {"Counting Sheep"}
    names = [
        lib["name"]
        for lib in home.client.get("/api/v1/libraries", headers=kids_only).json()["libraries"]
    ]
    assert names == ["kids"]
    assert home.client.get(f"/api/v1/libraries/{films}", headers=kids_only).status_code == 404
    assert _titles(home, kids_only, f"&library_id={films}") == set()
    dragon = home.ids["Dragon School"]
    assert home.client.get(f"/api/v1/items/{dragon}", headers=kids_only).status_code == 404


def test_an_admin_changes_limits_and_they_apply_at_once(home: Household) -> None:
    teen = home.user("Sam", max_rating="PG")
    user_id = home.client.get("/api/v1/auth/me", headers=teen).json()["id"]
    assert "Night Harbour" not in _titles(home, teen)
    changed = home.client.patch(
        f"/api/v1/users/{user_id}", json={"max_rating": None}, headers=home.admin
    )
    assert changed.status_code == 200 and changed.json()["max_rating"] is None
    assert "Night Harbour" in _titles(home, teen)


def test_members_do_not_see_file_paths_and_cannot_use_admin_routes(home: Household) -> None:
    member = home.user("Olivia")
    item = home.client.get(f"/api/v1/items/{home.ids['Dragon School']}", headers=member).json()
    assert item["files"] and all("path" not in f for f in item["files"])
    admin_view = home.client.get(f"/api/v1/items/{home.ids['Dragon School']}", headers=home.admin)
    assert all(f["path"].endswith(".mp4") for f in admin_view.json()["files"])
    films = home.libraries["films"]
    for method, path in [
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/scan"),
        ("GET", "/api/v1/scan/status"),
        ("GET", "/api/v1/hls/jobs"),
        ("GET", f"/api/v1/libraries/{films}/problems"),
        ("GET", "/metrics"),
        ("GET", "/admin/users"),
        ("GET", "/admin/sessions"),
    ]:
        answer = home.client.request(method, path, headers=member)
        assert answer.status_code == 403, (path, answer.text)


def test_one_user_never_reaches_another_users_account(home: Household) -> None:
    a = home.user("Alex")
    b = home.user("Blake")
    a_id = home.client.get("/api/v1/auth/me", headers=a).json()["id"]
    a_sessions = home.client.get("/api/v1/auth/sessions", headers=a).json()["sessions"]
    assert a_sessions
    nobody = 99_999
    for method, path, body in [
        ("GET", "/api/v1/users/{}", None),
        ("PATCH", "/api/v1/users/{}", {"max_rating": "G"}),
        ("GET", "/api/v1/users/{}/avatar", None),
        ("DELETE", "/api/v1/users/{}/avatar", None),
    ]:
        theirs = home.client.request(method, path.format(a_id), json=body, headers=b)
        absent = home.client.request(method, path.format(nobody), json=body, headers=b)
        assert theirs.status_code == absent.status_code == 404, (path, theirs.text)
        assert theirs.json()["detail"].replace(str(a_id), "N") == absent.json()["detail"].replace(
            str(nobody), "N"
        )
    for session in a_sessions:
        revoked = home.client.delete(f"/api/v1/auth/sessions/{session['id']}", headers=b)
        assert revoked.status_code == 404
    # A's sign-in still works and B's lists show none of A's.
    assert home.client.get("/api/v1/auth/me", headers=a).status_code == 200
    b_ids = {
        s["id"] for s in home.client.get("/api/v1/auth/sessions", headers=b).json()["sessions"]
    }
    assert not b_ids & {s["id"] for s in a_sessions}
    mine = home.client.get(f"/api/v1/users/{a_id}", headers=a)
    assert mine.status_code == 200 and mine.json()["name"] == "Alex"


def test_the_users_api_refuses_bad_changes_and_keeps_one_admin(home: Household) -> None:
    bad = home.client.post(
        "/api/v1/users",
        json={"name": "Zed", "password": PASSWORD, "max_rating": "nonsense"},
        headers=home.admin,
    )
    assert bad.status_code == 400 and "not a content rating" in bad.json()["detail"]
    names = [
        u["name"] for u in home.client.get("/api/v1/users", headers=home.admin).json()["users"]
    ]
    assert "Zed" not in names  # refused limits leave no half-made account
    weak = home.client.post(
        "/api/v1/users", json={"name": "Weak", "password": "password1"}, headers=home.admin
    )
    assert weak.status_code == 400
    hostile = home.client.post(  # bad-input point 8: markup never becomes a name
        "/api/v1/users",
        json={"name": '"><img src=x onerror=alert(1)>', "password": PASSWORD},
        headers=home.admin,
    )
    assert hostile.status_code == 400 and "user name" in hostile.json()["detail"]
    unknown_library = home.client.post(
        "/api/v1/users",
        json={"name": "Lib", "password": PASSWORD, "libraries": [424242]},
        headers=home.admin,
    )
    assert unknown_library.status_code == 400 and "no library" in unknown_library.json()["detail"]
    me = home.client.get("/api/v1/auth/me", headers=home.admin).json()
    demote = home.client.patch(
        f"/api/v1/users/{me['id']}", json={"is_admin": False}, headers=home.admin
    )
    assert demote.status_code == 400 and "only admin" in demote.json()["detail"]
    assert home.client.delete(f"/api/v1/users/{me['id']}", headers=home.admin).status_code == 400


def test_an_admin_password_reset_signs_the_user_out_everywhere(home: Household) -> None:
    member = home.user("Riley")
    user_id = home.client.get("/api/v1/auth/me", headers=member).json()["id"]
    reset = home.client.post(
        f"/api/v1/users/{user_id}/password",
        json={"password": "another long household password"},
        headers=home.admin,
    )
    assert reset.status_code == 200 and reset.json()["revoked"] >= 1
    assert home.client.get("/api/v1/auth/me", headers=member).status_code == 401
    credentials = home.client.get(f"/api/v1/users/{user_id}/credentials", headers=home.admin)
    assert credentials.json() == {"credentials": []}


def test_removing_a_user_removes_their_sign_ins(home: Household) -> None:
    member = home.user("Jordan")
    user_id = home.client.get("/api/v1/auth/me", headers=member).json()["id"]
    assert home.client.delete(f"/api/v1/users/{user_id}", headers=home.admin).status_code == 204
    assert home.client.get("/api/v1/auth/me", headers=member).status_code == 401
    assert home.client.get(f"/api/v1/users/{user_id}", headers=home.admin).status_code == 404
