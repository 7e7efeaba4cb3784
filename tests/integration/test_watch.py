"""Watching: a file copied into a library appears without a manual scan, and goes when deleted;
a library added in the web UI later is watched too."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import auth_headers

WITHIN_S = 15.0


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of its own (these tests write to it), empty at first.

    Empty on purpose: its startup scan then ends at once, so a clip copied right after it
    is only seen if the watcher was already watching.
    """
    root = tmp_path_factory.mktemp("watched") / "Watched"
    root.mkdir()
    (root / "notes.txt").write_text("not a video\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the admin may pick folders for a library made in the web UI (empty at start)."""
    return tmp_path_factory.mktemp("web-root")


@pytest.fixture(scope="module")
def client(
    hearth_server: Callable[..., AbstractContextManager[str]],
    watched: Path,
    web_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[httpx.Client]:
    data = tmp_path_factory.mktemp("watch-data")
    env = {"MEDIASERVER_BROWSE_ROOTS": str(web_root)}
    with (
        hearth_server(
            data, [watched], watch=True, debounce_s=0.5, log_level="info", env=env
        ) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as http,
    ):
        first = scan_waiter(http)
        assert first["last"]["files"] == 0
        yield http


def search(client: httpx.Client, q: str) -> list[str]:
    response = client.get("/api/v1/items", params={"q": q})
    assert response.status_code == 200
    return [item["title"] for item in response.json()["items"]]


def test_first_scan_found_nothing(client: httpx.Client) -> None:
    assert search(client, "velvet") == []
    assert client.get("/api/v1/items").json()["total"] == 0


def test_a_copied_clip_appears(
    client: httpx.Client, watched: Path, spare_clip: Path, poll: Callable[..., Any]
) -> None:
    # At once after the startup scan: the watcher must already be watching by then.
    shutil.copy(spare_clip, watched / spare_clip.name)
    poll(lambda: search(client, "velvet") == ["Velvet Comet"], WITHIN_S, "the new clip to appear")
    (item,) = client.get("/api/v1/items", params={"q": "velvet comet"}).json()["items"]
    assert (item["kind"], item["year"]) == ("movie", 2020)


def test_a_deleted_clip_disappears(
    client: httpx.Client,
    watched: Path,
    spare_clip: Path,
    hearth_library: Path,
    poll: Callable[..., Any],
) -> None:
    copied = watched / spare_clip.name
    if not copied.exists():  # run on its own: add it first
        shutil.copy(spare_clip, copied)
    # Another movie stays: a library left with no video at all looks like an unmounted disk,
    # and the scanner rightly keeps its catalogue then.
    shutil.copy(hearth_library / "Movies/Amber Lighthouse.mp4", watched / "Amber Lighthouse.mp4")
    poll(lambda: search(client, "amber") == ["Amber Lighthouse"], WITHIN_S, "the second clip")
    assert search(client, "velvet") == ["Velvet Comet"]
    copied.unlink()
    poll(lambda: search(client, "velvet") == [], WITHIN_S, "the deleted clip to disappear")
    assert search(client, "amber") == ["Amber Lighthouse"]
    assert client.get("/api/v1/items", params={"kind": "movie"}).json()["total"] == 1


def test_a_library_added_in_the_web_ui_is_watched_too(
    client: httpx.Client,
    web_root: Path,
    hearth_library: Path,
    poll: Callable[..., Any],
    scan_waiter: Callable[..., dict[str, Any]],
) -> None:
    folder = web_root / "Later"
    folder.mkdir()
    shutil.copy(hearth_library / "Movies/Amber Lighthouse.mp4", folder / "Amber Lighthouse.mp4")
    before = time.time()
    made = client.post("/api/v1/libraries", json={"name": "Later", "folders": [str(folder)]})
    assert made.status_code == 201, made.text
    scan_waiter(client, started_after=before)  # by now the watcher watches the new folder
    shutil.copy(
        hearth_library / "Movies/Marble.Orchard.2001.mkv", folder / "Marble.Orchard.2001.mkv"
    )
    poll(lambda: search(client, "marble") == ["Marble Orchard"], WITHIN_S, "the clip to appear")
    (item,) = client.get("/api/v1/items", params={"q": "marble"}).json()["items"]
    assert item["library_id"] == made.json()["id"]


def test_a_new_folder_is_watched_too(
    client: httpx.Client, watched: Path, hearth_library: Path, poll: Callable[..., Any]
) -> None:
    """Each folder is watched on its own (never through a link that leads out): a folder
    made after the start is seen, and so is a film copied into it later."""
    folder = watched / "More" / "Quartz Garden (2003)"
    folder.mkdir(parents=True)
    shutil.copy(hearth_library / "Movies/Marble.Orchard.2001.mkv", folder / "Quartz Garden.mkv")
    poll(lambda: search(client, "quartz") == ["Quartz Garden"], WITHIN_S, "the new folder's film")
    zenith = hearth_library / "Shows/Orbit Patrol/Season 2/Orbit.Patrol.S02E01.Zenith.mp4"
    shutil.copy(zenith, folder / "Zenith Point (2011).mp4")
    poll(lambda: search(client, "zenith") == ["Zenith Point"], WITHIN_S, "the film copied later")
