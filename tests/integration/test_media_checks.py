"""What a file really is, over HTTP: an AV1 film is played as AV1 (its format, not the name
of FFmpeg's decoder), and a film cut short is offered with a warning, listed as a problem
and never counted as watched by playing it out.

One Hearth over a small library: the AV1 clip from ``tests/conftest.py``, a 12 s film cut
off at 1.2 s (a faststart MP4: the header states 12 s) and the whole film it came from.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from tests.conftest import DAMAGED_SECONDS, DAMAGED_WORDS
from tests.integration.conftest import auth_headers, wait_for_scan

FILES = {  # library path -> clip
    "Films/Night Train (2012).mp4": "av1_aac.mp4",
    "Films/Cut Short (2011).mp4": "cut.mp4",
    "Films/Whole Story (2011).mp4": "whole.mp4",
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
    damaged_clips: dict[str, Path],
) -> Iterator[httpx.Client]:
    media = tmp_path_factory.mktemp("checks-media")
    for relative, clip in FILES.items():
        source = damaged_clips.get(clip) or clip_cache / clip
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


def test_a_damaged_film_is_offered_with_a_warning(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    item = client.get(f"/api/v1/items/{ids['Cut Short']}").json()
    (file,) = item["files"]
    assert file["damage"] == "only 0:00:01 of 0:00:12 can be read"
    assert file["duration_s"] == pytest.approx(DAMAGED_SECONDS, abs=0.1)  # what it states
    play = client.get(f"/api/v1/items/{ids['Cut Short']}/playback", params=CHROMIUM_SAYS).json()
    assert play["damage"] == file["damage"]
    page = client.get(f"/items/{ids['Cut Short']}")
    assert page.status_code == 200
    assert (
        "This file is damaged: only 0:00:01 of 0:00:12 can be read, so playback stops there."
        in page.text
    )
    whole = client.get(f"/items/{ids['Whole Story']}")
    assert "damaged" not in whole.text


def test_the_problems_list_names_the_damaged_film(client: httpx.Client) -> None:
    (library,) = client.get("/api/v1/libraries").json()["libraries"]
    answer = client.get(f"/api/v1/libraries/{library['id']}/problems")
    assert answer.status_code == 200
    reasons = {Path(p["path"]).name: p["reason"] for p in answer.json()["problems"]}
    assert reasons == {"Cut Short (2011).mp4": DAMAGED_WORDS}
    page = client.get(f"/libraries/{library['id']}/problems")
    assert "Cut Short (2011).mp4" in page.text and DAMAGED_WORDS in page.text


def test_playing_a_damaged_film_out_does_not_mark_it_watched(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    # At the readable end, then where a browser jumps when the data runs out ("ended").
    for position in (1.1, DAMAGED_SECONDS):
        sent = client.post(
            f"/api/v1/items/{ids['Cut Short']}/progress",
            json={"position_s": position, "state": "stopped"},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["user_data"]["watched"] is False, position
    finished = client.post(
        f"/api/v1/items/{ids['Whole Story']}/progress",
        json={"position_s": DAMAGED_SECONDS, "state": "stopped"},
    )
    assert finished.json()["user_data"]["watched"] is True  # the whole film, played out
