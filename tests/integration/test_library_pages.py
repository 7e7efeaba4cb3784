"""Admin → Libraries and the set-up wizard as pages, on a real server: forms that add, change
and remove a library (a refused one comes back filled in, with the reason), the removal
page that says what goes, the naming help of an empty library, the config file's library
read-only, and members kept out.  The browser test walks the same pages in Chromium.
"""

from __future__ import annotations

import html
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import add_member, auth_headers, wait_for_scan

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")


@dataclass
class Site:
    client: httpx.Client  # the admin
    member: dict[str, str]
    srv: Path


@pytest.fixture(scope="module")
def site(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    clip_cache: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Site]:
    srv = tmp_path_factory.mktemp("pages-srv")
    (srv / "Films").mkdir()
    shutil.copyfile(hearth_library / "Movies/Amber Lighthouse.mp4", srv / "Films/Amber (2001).mp4")
    (srv / "Empty").mkdir()
    (srv / "Tongues").mkdir()  # English (the default) and French audio, English subtitles
    shutil.copyfile(clip_cache / "two_audio_sub.mkv", srv / "Tongues/Two Tongues (2021).mkv")
    data = tmp_path_factory.mktemp("pages-data")
    env = {"MEDIASERVER_BROWSE_ROOTS": str(srv)}
    with (
        hearth_server(data, [hearth_library], env=env) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=30) as client,
    ):
        wait_for_scan(client)
        _, member = add_member(client, auth_headers(url), "teen")
        yield Site(client, member, srv)


def alerts(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'role="alert">([^<]*)<', page)]


def library_id(site: Site, name: str) -> int:
    libraries = site.client.get("/api/v1/libraries").json()["libraries"]
    return next(int(lib["id"]) for lib in libraries if lib["name"] == name)


@contextmanager
def scanned_library(site: Site, name: str, folder: str) -> Iterator[int]:
    """A library added through the API, with its own scan finished (not an earlier scan
    that was already idle); removed again afterwards.  Yields its id."""
    asked = time.time()
    made = site.client.post("/api/v1/libraries", json={"name": name, "folders": [folder]})
    assert made.status_code == 201, made.text
    try:
        wait_for_scan(site.client, started_after=asked)
        yield int(made.json()["id"])
    finally:
        site.client.delete(f"/api/v1/libraries/{made.json()['id']}")


def test_members_get_none_of_the_admin_pages(site: Site) -> None:
    for path in ("/admin/libraries", "/admin/folders", "/setup/server", "/setup/libraries"):
        assert site.client.get(path, headers=site.member).status_code == 403, path
    answer = site.client.post("/admin/libraries", data={"name": "X"}, headers=site.member)
    assert answer.status_code == 403


def test_the_config_library_is_shown_read_only(site: Site) -> None:
    page = site.client.get("/admin/libraries").text
    assert "Set in the config file" in page
    assert "change [library] media_dirs there (or MEDIASERVER_MEDIA_DIRS) and restart" in page
    edit = site.client.get(f"/admin/libraries/{library_id(site, 'Test Library')}").text
    assert "cannot be changed here" in edit and 'name="name"' not in edit


def test_a_refused_library_comes_back_filled_in_with_the_reason(site: Site) -> None:
    answer = site.client.post(
        "/admin/libraries",
        data={"name": "Cinema", "kind": "shows", "folder": ["/etc"], "typed_folder": ""},
    )
    assert answer.status_code == 400
    (reason,) = alerts(answer.text)
    assert reason.startswith("/etc is outside the folders Hearth may browse")
    assert 'value="Cinema"' in answer.text
    assert re.search(r'value="shows"\s+checked', answer.text)
    assert 'name="folder" value="/etc"' in answer.text  # the chosen folder is still there


def test_add_edit_and_remove_through_the_forms(site: Site) -> None:
    client, srv = site.client, site.srv
    asked = time.time()
    added = client.post(
        "/admin/libraries",
        data={"name": "Films", "kind": "films", "typed_folder": str(srv / "Films")},
    )
    assert (added.status_code, added.headers["location"]) == (303, "/admin/libraries?done=added")
    films = library_id(site, "Films")
    wait_for_scan(client, started_after=asked)  # the new library's scan, not an earlier one
    listing = client.get("/admin/libraries?done=added").text
    assert "Library added. Hearth is scanning it now." in listing
    assert "1 film, 0 shows" in listing
    saved = client.post(
        f"/admin/libraries/{films}",
        data={"name": "Cinema", "kind": "mixed", "folder": [str(srv / "Films")]},
    )
    assert (saved.status_code, saved.headers["location"]) == (303, "/admin/libraries?done=saved")
    confirm = client.get(f"/admin/libraries/{films}/remove").text
    assert "Remove Cinema?" in confirm
    assert "<li>1 film</li>" in confirm
    assert "Your files stay on the disk, untouched" in confirm
    gone = client.post(f"/admin/libraries/{films}/remove")
    assert (gone.status_code, gone.headers["location"]) == (303, "/admin/libraries?done=removed")
    assert (srv / "Films/Amber (2001).mp4").is_file()
    assert "Cinema" not in client.get("/admin/libraries").text


def test_an_empty_library_shows_how_to_name_files(site: Site) -> None:
    client = site.client
    with scanned_library(site, "Later", str(site.srv / "Empty")) as later:
        page = client.get(f"/libraries/{later}").text
        assert "How to lay out your files" in page
        assert "Films/Alien (1979)/Alien (1979).mkv" in page
        assert "Shows/Show Name/Season 01/Show Name S01E01.mkv" in page
        assert "Film.en.srt" in page
        member_view = client.get(f"/libraries/{later}", headers=site.member).text
        assert "How to lay out your files" in member_view and "/admin/libraries" not in member_view


def test_the_folder_browser_fragment_shows_the_reason_and_stays_inside(site: Site) -> None:
    fragment = site.client.get("/admin/folders", params={"path": "/etc"})
    assert fragment.status_code == 200  # a fragment htmx swaps in, with the reason
    assert "outside the folders Hearth may browse" in html.unescape(fragment.text)
    assert "passwd" not in fragment.text
    inside = site.client.get("/admin/folders", params={"path": str(site.srv)}).text
    assert 'data-path="{}"'.format(site.srv / "Films") in inside
    assert "Use this folder" in inside


def test_the_wizard_names_the_server_and_sets_the_languages(site: Site) -> None:
    client = site.client
    refused = client.post("/setup/server", data={"name": "x" * 64})
    assert refused.status_code == 400 and alerts(refused.text) == ["Name: at most 63 characters."]
    named = client.post("/setup/server", data={"name": "The Den"})
    assert (named.status_code, named.headers["location"]) == (303, "/setup/libraries")
    assert ">The Den</a>" in client.get("/").text  # the top bar says it
    # It has films already, so the home page points at the step still to do.
    assert 'Set-up is nearly done. <a href="/setup/languages">' in client.get("/").text
    done = client.post(
        "/setup/languages", data={"metadata_language": "fra", "subtitle_language": "eng"}
    )
    assert (done.status_code, done.headers["location"]) == (303, "/setup/done")
    assert "Set-up is nearly done" not in client.get("/").text
    page = client.get("/setup/languages").text
    assert re.search(r'value="fra"\s+selected', page) and re.search(r'value="eng"\s+selected', page)


def test_the_households_languages_choose_tracks_for_people_who_chose_none(site: Site) -> None:
    client = site.client
    with scanned_library(site, "Tongues", str(site.srv / "Tongues")), languages_reset(client):
        film = client.get("/api/v1/items", params={"q": "two tongues"}).json()["items"][0]
        streams = client.get(f"/api/v1/items/{film['id']}").json()["files"][0]["streams"]
        audio = {s["language"]: s["idx"] for s in streams if s["type"] == "audio"}

        def audio_for(headers: dict[str, str]) -> int:
            answer = client.get(f"/api/v1/items/{film['id']}/playback", headers=headers)
            assert answer.status_code == 200, answer.text
            return int(answer.json()["decision"]["audio_index"])

        client.post("/setup/languages", data={"metadata_language": "", "subtitle_language": ""})
        assert audio_for(site.member) == audio["eng"]  # the file's default
        client.post("/setup/languages", data={"metadata_language": "fra", "subtitle_language": ""})
        assert audio_for(site.member) == audio["fra"]  # the household's language
        me = client.get("/api/v1/auth/me", headers=site.member).json()["id"]
        own = client.put(
            f"/api/v1/users/{me}/preferences",
            json={"audio_language": "eng"},
            headers=site.member,
        )
        assert own.status_code == 200, own.text
        assert audio_for(site.member) == audio["eng"]  # a person's own choice wins


@contextmanager
def languages_reset(client: httpx.Client) -> Iterator[None]:
    """The household's languages back to none when the block ends."""
    try:
        yield
    finally:
        client.post("/setup/languages", data={"metadata_language": "", "subtitle_language": ""})
