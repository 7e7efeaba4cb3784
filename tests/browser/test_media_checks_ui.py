"""What a file really is, in Debian's Chromium against a real Hearth on 127.0.0.1.

Chromium decodes AV1, so an AV1 film plays as it is, and the page says so in the format's
name.  A Matroska film cut short (its header states 12 s, 1.2 s are there) is played out:
Chromium plays what is there, then "ends" with the clock jumped to the stated 12 s, which
used to count as watched.  The page warns about the damage before anyone presses play.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_player import VIDEO, player_page, wait_until
from tests.browser.test_progress_ui import is_progress_report
from tests.browser.test_ui import CHROMIUM, api_headers, serve_library

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

AV1 = "Night Train"
DAMAGED = "Cut Short"


@pytest.fixture(scope="module")
def base_url(
    tmp_path_factory: pytest.TempPathFactory, clip_cache: Path, damaged_clips: dict[str, Path]
) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    media.mkdir()
    shutil.copyfile(clip_cache / "av1_aac.mp4", media / f"{AV1} (2012).mp4")
    shutil.copyfile(damaged_clips["cut.mkv"], media / f"{DAMAGED} (2011).mkv")
    with serve_library(tmp_path_factory, media, problems=1) as url:  # the damaged film
        yield url


@pytest.fixture(scope="module")
def ids(base_url: str) -> dict[str, int]:
    items = httpx.get(base_url + "/api/v1/items", headers=api_headers(base_url), timeout=5)
    return {item["title"]: int(item["id"]) for item in items.json()["items"]}


def test_an_av1_film_plays_directly(browser: Browser, base_url: str, ids: dict[str, int]) -> None:
    with player_page(browser, base_url) as page:
        page.goto(f"{base_url}/items/{ids[AV1]}")
        player = page.locator("video#player")
        expect(player).to_have_attribute("data-decision", "direct")
        expect(page.locator("#player-decision")).to_have_text(
            "Direct play: this browser plays MP4 with AV1 and AAC."
        )
        streams = page.locator("table.streams")
        expect(streams).to_contain_text("av1")
        expect(streams).not_to_contain_text("dav1d")
        page.locator(".player-big-play").click()
        wait_until(page, f"{VIDEO}.currentTime > 0.3")


def test_playing_a_damaged_film_out_is_not_watching_it(
    browser: Browser, base_url: str, ids: dict[str, int]
) -> None:
    with player_page(browser, base_url) as page:
        page.goto(f"{base_url}/items/{ids[DAMAGED]}")
        expect(page.locator(".damaged")).to_have_text(
            "This file is damaged: only 0:00:01 of 0:00:12 can be read, so playback stops there."
        )
        expect(page.locator("video#player")).to_have_attribute("data-decision", "direct")
        with page.expect_response(is_progress_report("stopped"), timeout=20_000) as stopped:
            page.locator(".player-big-play").click()
        assert stopped.value.status == 200
        assert page.evaluate(f"{VIDEO}.ended")
        said = stopped.value.json()["user_data"]
    assert said["watched"] is False, said
    item = httpx.get(
        f"{base_url}/api/v1/items/{ids[DAMAGED]}", headers=api_headers(base_url), timeout=5
    )
    assert item.json()["user_data"]["watched"] is False
