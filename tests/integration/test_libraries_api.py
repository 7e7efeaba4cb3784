"""Libraries and the folder browser over the API, on a real server: add, rename, re-folder,
rescan and remove; bad input and paths that try to leave the browse roots; members refused;
the config file's library read-only.  A second server shows the demo giving way for good.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaserver.library.demo import DEMO_MARKER, demo_library_path
from tests.integration.conftest import (
    BROKEN_FILE,
    add_member,
    auth_headers,
    wait_for_scan,
    wait_until,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")


@dataclass
class Server:
    client: httpx.Client  # the admin (API key)
    srv: Path  # the browse root
    config_library: Path
    member: dict[str, str]

    def titles(self, library_id: int) -> set[str]:
        items = self.client.get(
            "/api/v1/items", params={"library_id": library_id, "kind": "movie,show"}
        )
        return {i["title"] for i in items.json()["items"]}

    def scanned(self, started_after: float) -> None:
        wait_for_scan(self.client, started_after=started_after)


def copy_films(source: Path, target: Path, names: list[str]) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(source / "Movies" / name, target / name)


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    srv = tmp_path_factory.mktemp("srv")
    copy_films(hearth_library, srv / "Films", ["Amber Lighthouse.mp4"])
    copy_films(hearth_library, srv / "More films", ["Marble.Orchard.2001.mkv"])
    (srv / "Empty").mkdir()
    (srv / "Films" / "escape").symlink_to("/etc")
    data = tmp_path_factory.mktemp("libraries-data")
    env = {"MEDIASERVER_BROWSE_ROOTS": str(srv)}
    with (
        hearth_server(data, [hearth_library], env=env) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=30) as client,
    ):
        wait_for_scan(client)
        _, member = add_member(client, auth_headers(url), "kid")
        yield Server(client, srv, hearth_library, member)


def test_the_config_library_is_listed_as_such(server: Server) -> None:
    listed = server.client.get("/api/v1/libraries").json()
    (library,) = listed["libraries"]
    assert library["source"] == "config" and library["kind"] == "mixed"
    assert library["path"] == str(server.config_library)  # the old contract holds
    assert library["folders"] == [str(server.config_library)]
    assert listed["demo"] is False


def test_add_rename_refolder_rescan_and_remove(server: Server) -> None:
    client, srv = server.client, server.srv
    before = time.time()
    made = client.post(
        "/api/v1/libraries",
        json={"name": "Films", "kind": "films", "folders": [str(srv / "Films")]},
    )
    assert made.status_code == 201, made.text
    library = made.json()
    assert (library["source"], library["kind"], library["folders"]) == (
        "web",
        "films",
        [str(srv / "Films")],
    )
    server.scanned(before)
    assert server.titles(library["id"]) == {"Amber Lighthouse"}

    renamed = client.patch(f"/api/v1/libraries/{library['id']}", json={"name": "Cinema"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Cinema"

    before = time.time()
    folders = [str(srv / "Films"), str(srv / "More films")]
    refoldered = client.patch(f"/api/v1/libraries/{library['id']}", json={"folders": folders})
    assert refoldered.status_code == 200 and refoldered.json()["folders"] == folders
    server.scanned(before)
    assert server.titles(library["id"]) == {"Amber Lighthouse", "Marble Orchard"}

    before = time.time()
    rescan = client.post(f"/api/v1/libraries/{library['id']}/scan")
    assert rescan.status_code == 202
    assert library["id"] in rescan.json()["queued"] or rescan.json()["state"] != "idle"
    done = wait_for_scan(client, started_after=before)
    assert done["last"]["library"] == "Cinema" and done["last"]["unchanged"] == 2

    removed = client.delete(f"/api/v1/libraries/{library['id']}")
    assert removed.status_code == 200, removed.text
    assert removed.json()["removed"] == {
        "films": 2,
        "shows": 0,
        "episodes": 0,
        "collections": 0,
        "files": 2,
        "progress": 0,
    }
    assert "kept" in removed.json()["files_on_disk"]
    assert (srv / "Films" / "Amber Lighthouse.mp4").is_file()
    assert client.get(f"/api/v1/libraries/{library['id']}").status_code == 404
    assert [lib["name"] for lib in client.get("/api/v1/libraries").json()["libraries"]] == [
        server.config_library.name
    ]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"folders": ["{srv}/Empty"]}, 400, "name"),
        ({"name": "X", "folders": ["{srv}/Empty"], "colour": "red"}, 400, "colour"),
        ({"name": "X", "kind": "music", "folders": ["{srv}/Empty"]}, 400, "kind"),
        ({"name": "X", "folders": []}, 400, "at least one folder"),
        ({"name": "X", "folders": ["Empty"]}, 400, "must start with /"),
        ({"name": "X", "folders": ["/etc"]}, 403, "outside the folders Hearth may browse"),
        ({"name": "X", "folders": ["{srv}/../../../etc"]}, 403, "outside"),
        ({"name": "X", "folders": ["{srv}/Films/escape"]}, 403, "outside"),
        ({"name": "X", "folders": ["{srv}/Empty\u0000/etc"]}, 400, "NUL"),
        ({"name": "X", "folders": ["{srv}/Nowhere"]}, 400, "folders: There is no folder"),
        ({"name": "X", "folders": ["{srv}/Films/Amber Lighthouse.mp4"]}, 400, "not a folder"),
        ({"name": "X", "folders": ["{config}"]}, 403, "outside"),
        ({"name": "  ", "folders": ["{srv}/Empty"]}, 400, "give the library a name"),
        ({"name": "Test Library", "folders": ["{srv}/Empty"]}, 409, "already a library"),
        ({"name": "X", "folders": ["{srv}/Empty", "{srv}"]}, 400, "is inside"),
    ],
)
def test_bad_new_libraries_are_refused_in_words(
    server: Server, body: dict[str, Any], status: int, words: str
) -> None:
    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, str):
            return value.format(srv=server.srv, config=server.config_library)
        return value

    answer = server.client.post("/api/v1/libraries", json={k: fill(v) for k, v in body.items()})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"], answer.text
    assert len(server.client.get("/api/v1/libraries").json()["libraries"]) == 1  # nothing made


def test_a_folder_of_another_library_is_a_conflict(server: Server) -> None:
    client, srv = server.client, server.srv
    made = client.post("/api/v1/libraries", json={"name": "Shows", "folders": [str(srv / "Empty")]})
    assert made.status_code == 201, made.text
    try:
        again = client.post("/api/v1/libraries", json={"name": "Two", "folders": [str(srv)]})
        assert again.status_code == 409
        assert "a folder of the library Shows" in again.json()["detail"]
    finally:
        assert client.delete(f"/api/v1/libraries/{made.json()['id']}").status_code == 200


def test_the_config_library_cannot_be_changed_and_the_answer_says_where(server: Server) -> None:
    library_id = server.client.get("/api/v1/libraries").json()["libraries"][0]["id"]
    for method, body in (("PATCH", {"name": "Mine"}), ("DELETE", None)):
        answer = server.client.request(method, f"/api/v1/libraries/{library_id}", json=body)
        assert answer.status_code == 403, answer.text
        assert "config file" in answer.json()["detail"]
        assert "MEDIASERVER_MEDIA_DIRS" in answer.json()["detail"]
    assert server.client.post(f"/api/v1/libraries/{library_id}/scan").status_code == 202
    assert server.client.patch("/api/v1/libraries/999999", json={}).status_code == 404
    assert server.client.post("/api/v1/libraries/999999/scan").status_code == 404
    assert server.client.delete("/api/v1/libraries/999999").status_code == 404


def test_members_may_not_add_change_browse_or_see_folders(server: Server) -> None:
    client, member = server.client, server.member
    library_id = client.get("/api/v1/libraries").json()["libraries"][0]["id"]
    for method, path, body in [
        ("POST", "/api/v1/libraries", {"name": "X", "folders": [str(server.srv)]}),
        ("PATCH", f"/api/v1/libraries/{library_id}", {"name": "X"}),
        ("DELETE", f"/api/v1/libraries/{library_id}", None),
        ("POST", f"/api/v1/libraries/{library_id}/scan", None),
        ("GET", "/api/v1/folders", None),
        ("GET", f"/api/v1/folders?path={server.srv}", None),
    ]:
        answer = client.request(method, path, json=body, headers=member)
        assert answer.status_code == 403, (method, path, answer.text)
    (seen,) = client.get("/api/v1/libraries", headers=member).json()["libraries"]
    assert "path" not in seen and "folders" not in seen  # no file paths for members
    one = client.get(f"/api/v1/libraries/{library_id}", headers=member).json()
    assert "path" not in one and "folders" not in one


def test_the_folder_browser_lists_only_inside_the_roots(server: Server) -> None:
    client, srv = server.client, server.srv
    roots = client.get("/api/v1/folders").json()
    assert roots["path"] is None and roots["roots"] == [str(srv)]
    assert [f["path"] for f in roots["folders"]] == [str(srv)]
    inside = client.get("/api/v1/folders", params={"path": str(srv)}).json()
    assert [f["name"] for f in inside["folders"]] == ["Empty", "Films", "More films"]
    films = client.get("/api/v1/folders", params={"path": str(srv / "Films")}).json()
    assert films["parent"] == str(srv) and films["videos"] == 1
    (escape,) = films["folders"]
    assert escape["name"] == "escape" and escape["readable"] is False
    assert "outside" in escape["reason"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/etc", 403),
        ("{srv}/Films/escape", 403),
        ("{srv}/../../../../etc", 403),
        ("{srv}/Films/escape/passwd", 403),
        ("../etc", 400),
        ("file:///etc/passwd", 400),
        ("{srv}/Nowhere", 404),
        ("{srv}/Films/Amber Lighthouse.mp4", 400),
    ],
)
def test_the_folder_browser_refuses_paths_that_leave_or_are_not_folders(
    server: Server, path: str, status: int
) -> None:
    answer = server.client.get("/api/v1/folders", params={"path": path.format(srv=server.srv)})
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"]


def test_a_nul_byte_in_the_path_is_400(server: Server) -> None:
    answer = server.client.get(f"/api/v1/folders?path={server.srv}%00/etc")
    assert answer.status_code == 400 and "NUL" in answer.json()["detail"]


def test_broken_file_problem_shows_for_the_config_library(server: Server) -> None:
    library_id = server.client.get("/api/v1/libraries").json()["libraries"][0]["id"]
    problems = server.client.get(f"/api/v1/libraries/{library_id}/problems").json()["problems"]
    assert any(p["path"].endswith(Path(BROKEN_FILE).name) for p in problems)


# -- the demo gives way for good ----------------------------------------------------------


def test_a_web_library_replaces_the_demo_and_it_stays_away(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = tmp_path_factory.mktemp("demo-gives-way")
    demo = demo_library_path(data)  # a ready demo (one clip): no ffmpeg run at start-up
    copy_films(hearth_library, demo / "Films", ["Amber Lighthouse.mp4"])
    (demo / DEMO_MARKER).write_text("1\n", encoding="utf-8")
    srv = tmp_path_factory.mktemp("demo-srv")
    copy_films(hearth_library, srv / "Films", ["Marble.Orchard.2001.mkv"])
    env = {"MEDIASERVER_BROWSE_ROOTS": str(srv)}

    with (
        hearth_server(data, env=env) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=30) as client,
    ):
        wait_until(lambda: client.get("/health").json()["startup"] == "ready", 60, "start-up")
        listed = client.get("/api/v1/libraries").json()
        assert listed["demo"] is True
        assert [(lib["name"], lib["source"]) for lib in listed["libraries"]] == [
            ("Demo library", "demo")
        ]
        demo_id = listed["libraries"][0]["id"]
        assert client.delete(f"/api/v1/libraries/{demo_id}").status_code == 403
        home = client.get("/").text
        assert "This is a demo." in home
        assert '<a href="/admin/libraries">Add your own films →</a>' in home
        assert 'Hearth is not set up yet. <a href="/setup/server">' in home
        _, member = add_member(client, auth_headers(url), "kid")
        theirs = client.get("/", headers=member).text
        assert "This is a demo." in theirs
        assert "ask the person who runs Hearth to add them" in theirs
        assert "/admin/libraries" not in theirs
        asked = time.time()
        made = client.post(
            "/api/v1/libraries", json={"name": "Films", "folders": [str(srv / "Films")]}
        )
        assert made.status_code == 201, made.text
        listed = client.get("/api/v1/libraries").json()
        assert listed["demo"] is False
        assert [lib["name"] for lib in listed["libraries"]] == ["Films"]
        assert "This is a demo." not in client.get("/").text
        wait_for_scan(client, started_after=asked)

    # After a restart the web library is still there, scanned, and the demo stays away.
    with (
        hearth_server(data, env=env) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=30) as client,
    ):
        wait_for_scan(client)
        listed = client.get("/api/v1/libraries").json()
        assert (listed["demo"], [lib["name"] for lib in listed["libraries"]]) == (False, ["Films"])
        films = listed["libraries"][0]
        assert films["counts"] == {"movie": 1}
        assert client.delete(f"/api/v1/libraries/{films['id']}").status_code == 200
        # The last library gone: an empty server (the pages offer to add one), no demo.
        assert client.get("/api/v1/libraries").json() == {"libraries": [], "demo": False}
        home = client.get("/").text
        assert "This is a demo." not in home
        assert 'No libraries yet. <a href="/admin/libraries">Add your films →</a>' in home
        assert "How to lay out your files" in home
