"""Links inside a library, on a real server: ``Odd/loop -> ..`` must not show a member who
may see only "Odd" the films of "Movies" (issue 16, point 8).  The scan skips a link that
leads out of the library and the Problems page says where it leads; a link re-pointed after
the scan is not served; the admin may allow such links for one library, and taking that back
takes what came through them out of the catalog at the next scan.
"""

from __future__ import annotations

import html
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import add_member, auth_headers, wait_for_scan

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")

SECRET = "Amber Lighthouse"  # a film of Movies only


@dataclass
class Site:
    client: httpx.Client  # the admin (API key)
    srv: Path
    odd: int
    movies: int
    member: dict[str, str]  # may see Odd only

    def rescanned(self, change: Callable[[], httpx.Response]) -> dict[str, Any]:
        asked = time.time()
        answer = change()
        assert answer.status_code in (200, 303), answer.text
        wait_for_scan(self.client, started_after=asked)
        return self.client.get(f"/api/v1/libraries/{self.odd}").json()

    def member_titles(self) -> set[str]:
        listed = self.client.get(
            "/api/v1/items", params={"library_id": self.odd}, headers=self.member
        )
        assert listed.status_code == 200, listed.text
        return {i["title"] for i in listed.json()["items"]}

    def odd_files(self) -> dict[str, int]:
        """Every file of Odd's films by path (the admin sees paths): {path: item id}."""
        items = self.client.get("/api/v1/items", params={"library_id": self.odd}).json()["items"]
        found: dict[str, int] = {}
        for item in items:
            for file in self.client.get(f"/api/v1/items/{item['id']}").json()["files"]:
                found[file["path"]] = int(item["id"])
        return found


@pytest.fixture(scope="module")
def site(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    srv = tmp_path_factory.mktemp("links-srv")
    (srv / "Movies").mkdir()
    shutil.copyfile(hearth_library / "Movies/Amber Lighthouse.mp4", srv / f"Movies/{SECRET}.mp4")
    (srv / "Odd" / "Favourites").mkdir(parents=True)
    shutil.copyfile(hearth_library / "Movies/Marble.Orchard.2001.mkv", srv / "Odd/Marble.mkv")
    (srv / "Odd" / "loop").symlink_to("..")  # leads to srv: Movies and Odd itself
    # The household's own link, inside the library: it keeps working.
    (srv / "Odd" / "Favourites" / "Marble Again.mkv").symlink_to("../Marble.mkv")
    data = tmp_path_factory.mktemp("links-data")
    env = {"MEDIASERVER_BROWSE_ROOTS": str(srv)}
    with (
        hearth_server(data, [srv / "Movies"], env=env) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=30) as client,
    ):
        wait_for_scan(client)
        movies = client.get("/api/v1/libraries").json()["libraries"][0]["id"]
        asked = time.time()
        made = client.post("/api/v1/libraries", json={"name": "Odd", "folders": [str(srv / "Odd")]})
        assert made.status_code == 201, made.text
        assert made.json()["follow_outside_links"] is False  # off unless allowed
        wait_for_scan(client, started_after=asked)
        odd = int(made.json()["id"])
        _, member = add_member(client, auth_headers(url), "oddkid", libraries=[odd])
        yield Site(client, srv, odd, int(movies), member)


def test_a_member_of_odd_cannot_list_or_play_movies_films_through_the_link(site: Site) -> None:
    assert SECRET not in site.member_titles()
    found = site.client.get("/api/v1/items", params={"q": "amber"}, headers=site.member)
    assert found.json()["items"] == []
    files = site.odd_files()
    assert not [p for p in files if "/loop/" in p], files  # nothing came through the link
    # Everything the member may play in Odd is Odd's own: no byte of Movies' film.
    secret = (site.srv / f"Movies/{SECRET}.mp4").read_bytes()
    for item_id in set(files.values()):
        played = site.client.get(f"/api/v1/items/{item_id}/file", headers=site.member)
        assert played.status_code == 200 and played.content != secret
    # The inside link still works.
    assert str(site.srv / "Odd/Favourites/Marble Again.mkv") in files


def test_the_problems_page_names_the_skipped_link_and_where_it_leads(site: Site) -> None:
    link = site.srv / "Odd" / "loop"
    problems = site.client.get(f"/api/v1/libraries/{site.odd}/problems").json()["problems"]
    (skipped,) = [p for p in problems if p["path"] == str(link)]
    assert f"leading to {site.srv};" in skipped["reason"]
    page = html.unescape(site.client.get(f"/libraries/{site.odd}/problems").text)
    assert str(link) in page
    assert f"a link to a folder outside this library, leading to {site.srv}; not followed" in page
    assert "Admin → Libraries can allow" in page


def test_a_link_re_pointed_after_the_scan_is_not_served(site: Site) -> None:
    link = site.srv / "Odd" / "Favourites" / "Marble Again.mkv"
    item_id = site.odd_files()[str(link)]
    file_id = next(
        f["id"]
        for f in site.client.get(f"/api/v1/items/{item_id}").json()["files"]
        if f["path"] == str(link)
    )
    link.unlink()
    link.symlink_to(f"../../Movies/{SECRET}.mp4")  # no scan has seen this yet
    try:
        played = site.client.get(
            f"/api/v1/items/{item_id}/file", params={"file_id": file_id}, headers=site.member
        )
        assert played.status_code == 404, played.status_code
        assert "outside its library" in played.json()["detail"]
        master = site.client.get(
            f"/api/v1/items/{item_id}/hls/master.m3u8",
            params={"file_id": file_id},
            headers=site.member,
        )
        assert master.status_code == 404, master.text
    finally:
        link.unlink()
        link.symlink_to("../Marble.mkv")


def test_the_admin_allows_outside_links_for_one_library_and_takes_it_back(site: Site) -> None:
    client = site.client
    allowed = site.rescanned(
        lambda: client.patch(f"/api/v1/libraries/{site.odd}", json={"follow_outside_links": True})
    )
    assert allowed["follow_outside_links"] is True
    assert SECRET in site.member_titles()  # the admin chose so
    through = str(site.srv / f"Odd/loop/Movies/{SECRET}.mp4")
    item_id = site.odd_files()[through]
    played = client.get(f"/api/v1/items/{item_id}/file", headers=site.member)
    assert played.content == (site.srv / f"Movies/{SECRET}.mp4").read_bytes()
    edit = client.get(f"/admin/libraries/{site.odd}").text
    assert 'name="follow_outside_links" checked' in edit

    # The form without the box ticked: the next scan takes the film out of Odd again.
    form = {"name": "Odd", "kind": "mixed", "folder": [str(site.srv / "Odd")]}
    taken_back = site.rescanned(lambda: client.post(f"/admin/libraries/{site.odd}", data=form))
    assert taken_back["follow_outside_links"] is False
    assert SECRET not in site.member_titles()
    assert through not in site.odd_files()
    assert client.get(f"/api/v1/items/{item_id}", headers=site.member).status_code == 404


def test_a_config_file_library_takes_the_links_choice_but_nothing_else(site: Site) -> None:
    url = f"/api/v1/libraries/{site.movies}"
    assert site.client.patch(url, json={"name": "Mine"}).status_code == 403
    on = site.client.patch(url, json={"follow_outside_links": True})
    assert on.status_code == 200 and on.json()["follow_outside_links"] is True
    saved = site.client.post(f"/admin/libraries/{site.movies}/links", data={})
    assert (saved.status_code, saved.headers["location"]) == (303, "/admin/libraries?done=saved")
    assert site.client.get(url).json()["follow_outside_links"] is False
    members_view = site.client.get(f"/api/v1/libraries/{site.odd}", headers=site.member).json()
    assert "follow_outside_links" not in members_view
