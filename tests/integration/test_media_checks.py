"""What a file really is, over HTTP: an AV1 film is played as AV1, its format, not the name
of FFmpeg's decoder (which is what the catalog used to keep).

One Hearth over a small library: the AV1 clip from ``tests/conftest.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import auth_headers, wait_for_scan

FILES = {  # library path -> clip
    "Films/Night Train (2012).mp4": "av1_aac.mp4",
}
# What Chromium's app.js says it decodes (tests/browser checks the real probe).
CHROMIUM_SAYS = {
    "profile": "browser",
    "vcodec": "h264,vp9,av1,vp8",
    "ten_bit": "vp9,av1",
    "acodec": "aac,mp3,opus,vorbis,flac",
    "container": "mp4,m4v,webm,mkv",
}


@pytest.fixture(scope="module")
def client(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    clip_cache: Path,
) -> Iterator[httpx.Client]:
    media = tmp_path_factory.mktemp("checks-media")
    for relative, clip in FILES.items():
        source = clip_cache / clip
        (media / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, media / relative)
    data = tmp_path_factory.mktemp("checks-data")
    with (
        hearth_server(data, [media]) as url,
        httpx.Client(base_url=url, timeout=30, headers=auth_headers(url)) as http,
    ):
        wait_for_scan(http)
        yield http


@pytest.fixture(scope="module")
def ids(client: httpx.Client) -> dict[str, int]:
    items = client.get("/api/v1/items", params={"limit": 100}).json()["items"]
    return {item["title"]: int(item["id"]) for item in items}


def test_an_av1_film_plays_directly_in_a_browser_that_decodes_av1(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    item = client.get(f"/api/v1/items/{ids['Night Train']}").json()
    codecs = [(s["type"], s["codec"]) for s in item["files"][0]["streams"]]
    assert codecs == [("video", "av1"), ("audio", "aac")]
    answer = client.get(f"/api/v1/items/{ids['Night Train']}/playback", params=CHROMIUM_SAYS)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["decision"]["mode"] == "direct"
    assert body["message"] == "Direct play: this browser plays MP4 with AV1 and AAC."
    # A browser without AV1 gets a transcode, and the reason names the format.
    older = client.get(
        f"/api/v1/items/{ids['Night Train']}/playback", params={**CHROMIUM_SAYS, "vcodec": "h264"}
    ).json()
    assert older["message"] == "Transcoding: this browser cannot play AV1."
    for said in (body["message"], older["message"]):
        assert "dav1d" not in said.lower() and "libaom" not in said.lower()
