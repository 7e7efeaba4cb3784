"""A clip whose own clock starts an hour in, in Debian's Chromium against a real Hearth.

Phones and cameras often write MP4s whose picture starts late on the file's clock (an edit
list with an empty hour before the picture).  Chromium plays such a file from 1:00:00, so
the player showed 1:00:03, seeks landed at the start and every progress report was past
the end.  Hearth streams it instead, from 0:00: the page shows 0:00-based times, a seek to
the middle lands there, and the position comes back as "Resume from".  One server with
that one clip, one browser for the module (``player_page``: no CSP violation, no script
error, no other host).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Response, expect

from mediaserver.testing import make_clip
from tests.browser.test_player import VIDEO, player_page, wait_for_time, wait_until
from tests.browser.test_ui import CHROMIUM, api_headers, serve_library

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

SECONDS = 12  # H.264 and AAC in MP4: what Chromium would play as it is, but for the hour


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    make_clip(media / "Phone.Hour.2010.mp4", seconds=SECONDS, output={"output_ts_offset": 3600})
    with serve_library(tmp_path_factory, media) as url:
        yield url


@pytest.fixture(scope="module")
def item_url(base_url: str) -> str:
    answer = httpx.get(base_url + "/api/v1/items", headers=api_headers(base_url), timeout=5)
    (item,) = answer.json()["items"]
    return f"{base_url}/items/{item['id']}"


def paused_report(response: Response) -> bool:
    request = response.request
    return (
        request.method == "POST"
        and request.url.endswith("/progress")
        and '"paused"' in (request.post_data or "")
    )


def test_a_clip_an_hour_late_plays_seeks_and_resumes_from_zero(
    browser: Browser, base_url: str, item_url: str
) -> None:
    shown = re.compile(r"^0:0[67] / 0:1[12]$")  # the middle of 0:12, not 1:00:06 of 1:00:12
    with player_page(browser, base_url) as page:
        page.goto(item_url)
        expect(page.locator("video#player")).to_have_attribute("data-decision", "remux")
        expect(page.locator("#player-decision")).to_contain_text(
            "the file's own clock starts at 1:00:00"
        )
        page.locator(".player-big-play").click()
        wait_for_time(page, 0.5)
        expect(page.locator("[data-player-time]")).to_have_text(re.compile(r"^0:0\d / 0:1[12]$"))

        page.locator("[data-seek-input]").fill(str(SECONDS / 2))
        wait_until(page, f"{VIDEO}.currentTime >= {SECONDS / 2 - 0.1}")
        with page.expect_response(paused_report) as reported:
            page.evaluate(f"{VIDEO}.pause()")
        assert reported.value.status == 200, reported.value.text()
        assert SECONDS / 2 - 0.1 <= float(page.evaluate(f"{VIDEO}.currentTime")) < SECONDS * 0.9
        expect(page.locator("[data-player-time]")).to_have_text(shown)

        page.goto(item_url)  # the same person, later: the item offers to go on from there
        resume = page.locator("[data-resume]")
        expect(resume).to_be_visible()
        expect(resume.locator("[data-action=resume]")).to_have_text(
            re.compile(r"^Resume from 0:0[67]$")
        )
        resume.locator("[data-action=resume]").click()
        wait_for_time(page, SECONDS / 2)
        assert float(page.evaluate(f"{VIDEO}.currentTime")) < SECONDS * 0.9  # not from 0:00
        expect(page.locator("[data-player-time]")).to_have_text(
            re.compile(r"^0:(0[6-9]|1[01]) / 0:1[12]$")
        )
