"""Trickplay over HTTP: a real Hearth on 127.0.0.1 builds previews after its scan.

The server's ``ctx.trickplay.busy`` (the transcoder's hook) is held True by a gate, so the
run the scan starts waits: the first test sees the API before anything is built, the
``built`` fixture opens the gate and waits for the run to finish.
"""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import AUTH_HEADERS, auth_headers, make_admin

LONG, CHAPTERS = "Long Walk", "Chapter Book"


@pytest.fixture(scope="module")
def gate() -> threading.Event:
    return threading.Event()


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory,
    ffmpeg_binary: str,
    server_runner: Callable[..., AbstractContextManager[str]],
    scan_waiter: Callable[..., dict[str, Any]],
    gate: threading.Event,
) -> Iterator[str]:
    from mediaserver.app import create_app
    from mediaserver.config import load_settings
    from mediaserver.context import build_context

    media = tmp_path_factory.mktemp("trickplay-media")
    make_clip(media / f"{LONG} (2020).mp4", seconds=35, audio=False, ffmpeg=ffmpeg_binary)
    make_clip(
        media / f"{CHAPTERS} (2021).mp4",
        seconds=12,
        audio=False,
        video="smptebars",
        chapters=[(0, 5, "Opening"), (5, 12, "Finale")],
        ffmpeg=ffmpeg_binary,
    )
    data = tmp_path_factory.mktemp("trickplay-data")
    config = data / "hearth.toml"
    config.write_text(
        "[library]\nwatch = false\nscan_interval_minutes = 0\n"
        "[streaming]\ntrickplay = true\ntrickplay_interval_seconds = 10\n"
        '[logging]\nlevel = "warning"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config, {"MEDIASERVER_DATA_DIR": str(data), "MEDIASERVER_MEDIA_DIRS": str(media)}
    )
    key = make_admin(settings)
    ctx = build_context(settings)
    ctx.trickplay.busy = lambda: not gate.is_set()
    with server_runner(create_app(settings, context=ctx)) as url:
        AUTH_HEADERS[url] = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as client:
            scan_waiter(client)
        yield url
        gate.set()


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=auth_headers(base_url), timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def files(client: httpx.Client) -> dict[str, tuple[int, int]]:
    """(item id, file id) by title."""
    found = {}
    for item in client.get("/api/v1/items", params={"kind": "movie"}).json()["items"]:
        detail = client.get(f"/api/v1/items/{item['id']}").json()
        found[item["title"]] = (item["id"], detail["files"][0]["id"])
    assert set(found) == {LONG, CHAPTERS}
    return found


@pytest.fixture(scope="module")
def built(client: httpx.Client, gate: threading.Event, poll: Callable[..., Any]) -> dict[str, Any]:
    gate.set()

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get("/api/v1/trickplay/status").json()
        return status if status["state"] == "idle" and status["last"] else None

    status: dict[str, Any] = poll(finished, 15, "the trickplay run")
    return status


def raw_get(base_url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` verbatim: httpx would normalise dots and percent-escapes away."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request("GET", path, headers=auth_headers(base_url))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_nothing_is_served_before_the_run_has_built_it(
    client: httpx.Client, files: dict[str, tuple[int, int]], poll: Callable[..., Any]
) -> None:
    # The scan's end started a run; the busy hook holds it before its first file.
    poll(lambda: client.get("/api/v1/trickplay/status").json()["state"] == "paused", 10, "pause")
    status = client.get("/api/v1/trickplay/status").json()
    assert (status["files_done"], status["files_total"]) == (0, 2)
    item_id, file_id = files[LONG]
    response = client.get(f"/api/v1/items/{item_id}/trickplay.vtt", params={"file_id": file_id})
    assert response.status_code == 404
    assert response.json()["detail"] == f"previews for file {file_id} are not built yet"
    sheet = client.get(f"/api/v1/items/{item_id}/trickplay/{file_id}/0.jpg")
    assert sheet.status_code == 404
    chapters = client.get(f"/api/v1/items/{files[CHAPTERS][0]}/chapters").json()
    assert [c["image_url"] for c in chapters["chapters"]] == [None, None]


def test_vtt_and_sprites_are_served_after_the_run(
    client: httpx.Client, files: dict[str, tuple[int, int]], built: dict[str, Any]
) -> None:
    assert (built["files_done"], built["files_total"], built["failed"]) == (2, 2, 0)
    item_id, file_id = files[LONG]
    response = client.get(f"/api/v1/items/{item_id}/trickplay.vtt", params={"file_id": file_id})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/vtt")
    text = response.text
    assert text.startswith("WEBVTT\n")
    times = re.findall(r"^(\S+) --> (\S+)$", text, re.MULTILINE)
    assert times == [
        ("00:00:00.000", "00:00:10.000"),
        ("00:00:10.000", "00:00:20.000"),
        ("00:00:20.000", "00:00:30.000"),
        ("00:00:30.000", "00:00:35.000"),
    ]
    urls = re.findall(r"^(/\S+)#xywh=(\d+),(\d+),(\d+),(\d+)$", text, re.MULTILINE)
    assert [tuple(map(int, u[1:])) for u in urls] == [(x, 0, 320, 180) for x in (0, 320, 640, 960)]
    (url,) = {u[0] for u in urls}
    assert url.startswith(f"/api/v1/items/{item_id}/trickplay/{file_id}/0.jpg?v=")
    image = client.get(url)
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.headers["cache-control"] == "public, max-age=86400"
    assert image.content[:2] == b"\xff\xd8"
    head = client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(image.content))
    assert client.get(url, headers={"If-None-Match": image.headers["etag"]}).status_code == 304
    # The VTT without file_id is the item's first file's.
    assert client.get(f"/api/v1/items/{item_id}/trickplay.vtt").text == text


def test_chapter_images_are_listed_and_served(
    client: httpx.Client, files: dict[str, tuple[int, int]], built: dict[str, Any]
) -> None:
    item_id, file_id = files[CHAPTERS]
    chapters = client.get(f"/api/v1/items/{item_id}/chapters").json()["chapters"]
    assert [(c["title"], c["start_s"], c["end_s"]) for c in chapters] == [
        ("Opening", 0, 5),
        ("Finale", 5, 12),
    ]
    for n, chapter in enumerate(chapters):
        assert chapter["image_url"].startswith(
            f"/api/v1/items/{item_id}/chapters/{file_id}/{n}.jpg"
        )
        image = client.get(chapter["image_url"])
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
        assert image.headers["cache-control"] == "public, max-age=86400"
    assert client.get(f"/api/v1/items/{item_id}/chapters/{file_id}/2.jpg").status_code == 404
    long_item = files[LONG][0]
    assert client.get(f"/api/v1/items/{long_item}/chapters").json() == {"chapters": []}


@pytest.mark.parametrize(
    "name",
    [
        *("-1.jpg", "../x.jpg", "%2e%2e%2fcatalog.sqlite3", "..%2f..%2fcatalog.sqlite3"),
        *("1.png", "01x.jpg", "01.jpg", "1.jpg.", "1", "7.jpg", "0.jpg%00"),
    ],
)
@pytest.mark.parametrize("kind", ["trickplay", "chapters"])
def test_bad_image_names_are_404(
    base_url: str, files: dict[str, tuple[int, int]], built: dict[str, Any], kind: str, name: str
) -> None:
    item_id, file_id = files[CHAPTERS]
    status, body = raw_get(base_url, f"/api/v1/items/{item_id}/{kind}/{file_id}/{name}")
    assert status == 404
    assert b"SQLite" not in body and not body.startswith(b"\xff\xd8")


def test_a_file_of_another_item_or_no_item_is_404(
    client: httpx.Client, files: dict[str, tuple[int, int]], built: dict[str, Any]
) -> None:
    (long_item, long_file), (chapters_item, _) = files[LONG], files[CHAPTERS]
    assert client.get(f"/api/v1/items/{long_item}/trickplay/{long_file}/0.jpg").status_code == 200
    wrong = client.get(f"/api/v1/items/{chapters_item}/trickplay/{long_file}/0.jpg")
    assert wrong.status_code == 404
    missing = client.get("/api/v1/items/999999/trickplay.vtt")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no item with id 999999"
