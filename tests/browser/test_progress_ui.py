"""Viewing progress in Debian's Chromium against a real Hearth on 127.0.0.1.

The player reports where you are (and a closing page says so with a beacon); "Resume from"
and "Start over" start playback where they say, through the file itself and through hls.js;
a second browser signed in as the same person follows along over Server-Sent Events; the
home page's rows and the library's cards show what is started and what is watched.

One server and one browser for the module.  The clips are ten minutes of a plain colour at
1 fps (a different colour each, so fingerprints differ): long enough for real resume points
(under 30 s is none), made in well under a second.  Each test has its own films, so the
order they run in does not matter.  The pages run under ``strict_page``: a CSP violation
or a console error fails the test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from mediaserver.testing import make_clip
from tests.browser.test_accounts_ui import sign_in, signed_in_as
from tests.browser.test_csp import goto, strict_page
from tests.browser.test_player import VIDEO, current_time, wait_until
from tests.browser.test_ui import CHROMIUM, api_headers, serve_library
from tests.integration.conftest import ADMIN_NAME, ADMIN_PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

LENGTH = 600  # seconds
# file in the library -> lavfi colour; MP4s are H.264 without audio (direct play).
CLIPS = {
    "Long Walk (2020).mp4": "black",  # two browsers
    "Slow River (2021).mp4": "navy",  # resume, direct play
    "Quiet Lake (2019).mp4": "maroon",  # reporting
    "Far Hills (2018).mp4": "olive",  # Continue watching
    "Done Deal (2017).mp4": "teal",  # watched
    "Still Pond (2016).mp4": "purple",  # under the CSP
    "Bright Day (2015).mp4": "lime",  # playback events
    "Late Bus (2014).mp4": "silver",  # marked watched while it plays
    "Tide/Season 1/Tide S01E01.mp4": "red",
    "Tide/Season 1/Tide S01E02.mp4": "green",
}
MARBLE = "Marble.Orchard.2001.mkv"  # AC-3 audio: Chromium plays it remuxed, through hls.js
PAUSE = "k"  # the player's play/pause key (no control bar to find while it fades)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    tiny = {"r": 1, "preset": "ultrafast"}
    for name, colour in CLIPS.items():
        make_clip(media / name, seconds=LENGTH, size="64x36", video=f"color=c={colour}",
                  audio=False, output=tiny)  # fmt: skip
    (media / "Tide" / "tvshow.nfo").write_text(
        "<tvshow><title>Tide</title></tvshow>", encoding="utf-8"
    )
    make_clip(media / MARBLE, seconds=LENGTH, size="64x36", video="color=c=gray",
              output={**tiny, "c:a": "ac3", "g": 6})  # fmt: skip
    with serve_library(tmp_path_factory, media) as url:
        yield url


@pytest.fixture
def api(base_url: str) -> Iterator[httpx.Client]:
    """``httpx`` as the admin (API key): the same person the browsers are signed in as."""
    with httpx.Client(base_url=base_url, headers=api_headers(base_url), timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def ids(base_url: str) -> dict[str, int]:
    """Title -> item id; episodes also as "E1", "E2"."""
    answer = httpx.get(
        base_url + "/api/v1/items", params={"limit": 500}, headers=api_headers(base_url)
    )
    found: dict[str, int] = {}
    for item in answer.json()["items"]:
        found[item["title"]] = int(item["id"])
        if item["kind"] == "episode":
            found[f"E{item['episode_number']}"] = int(item["id"])
    return found


def user_data(api: httpx.Client, item_id: int) -> dict[str, Any]:
    answer = api.get(f"/api/v1/items/{item_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["user_data"])


def report(api: httpx.Client, item_id: int, position_s: float) -> None:
    """A position stored the quick way, as another device would."""
    sent = api.post(
        f"/api/v1/items/{item_id}/progress", json={"position_s": position_s, "state": "paused"}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["user_data"]["position_s"] == position_s


def clock(seconds: float) -> str:
    """What the page shows for a position: whole seconds, rounded down."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def is_progress_report(state: str) -> Any:
    """A predicate for ``expect_response``: the player's report with this ``state``."""

    def matches(response: Any) -> bool:
        request = response.request
        return (
            request.method == "POST"
            and request.url.endswith("/progress")
            and f'"state":"{state}"' in (request.post_data or "")
        )

    return matches


def wait_until_stored(api: httpx.Client, item_id: int, beyond: float, timeout: float = 5) -> float:
    """The stored position once it is past ``beyond`` (a beacon is not answered to the page)."""
    deadline = time.monotonic() + timeout
    while (stored := float(user_data(api, item_id)["position_s"])) <= beyond:
        if time.monotonic() > deadline:
            raise AssertionError(f"still at {stored} s after {timeout} s, not past {beyond} s")
        time.sleep(0.1)
    return stored


def open_item(page: Page, base_url: str, item_id: int, engine: str = "direct") -> None:
    """The item page, once the server has said how to play it and the stream is listened to."""
    with page.expect_response(lambda r: r.url == base_url + "/api/v1/events") as stream:
        goto(page, f"{base_url}/items/{item_id}")
    assert stream.value.status == 200
    assert stream.value.headers["content-type"].startswith("text/event-stream")
    expect(page.locator("video#player")).to_have_attribute("data-engine", engine)


def play_at(page: Page, seconds: float) -> None:
    """Press play, move the seek bar to ``seconds``, and wait until it plays on from there."""
    page.locator(".player-big-play").click()
    wait_until(page, f"!{VIDEO}.paused && {VIDEO}.currentTime > 0")
    page.locator("[data-seek-input]").fill(str(seconds))
    wait_until(page, f"!{VIDEO}.paused && {VIDEO}.currentTime > {seconds + 0.5}")


def pause(page: Page) -> float:
    """Pause with the keyboard once its report is answered; the video's time."""
    with page.expect_response(is_progress_report("paused")) as answer:
        page.keyboard.press(PAUSE)
    assert answer.value.status == 200
    wait_until(page, f"{VIDEO}.paused")
    return current_time(page)


def test_a_second_browser_follows_along(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    """The issue: the same person's other browser sees the new position and the watched
    mark within 5 s, without reloading."""
    walk = ids["Long Walk"]
    with (
        strict_page(browser, base_url) as here,
        strict_page(browser, base_url, signed_in=False) as there,
    ):
        sign_in(there, base_url, ADMIN_NAME, ADMIN_PASSWORD)  # a session of its own
        signed_in_as(there, base_url, ADMIN_NAME)
        open_item(there, base_url, walk)
        panel = there.locator("[data-resume]")
        expect(panel).to_be_hidden()
        watched = there.locator(".hero [data-action=watched]")
        expect(watched).to_have_text("Mark watched")
        expect(watched).to_have_attribute("aria-pressed", "false")

        open_item(here, base_url, walk)
        play_at(here, 200)
        at = pause(here)
        assert 200 <= at < 205, at
        expect(panel).to_be_visible(timeout=5_000)
        expect(panel.locator("[data-action=resume]")).to_have_text(
            f"Resume from {clock(at)}", timeout=5_000
        )
        expect(panel.locator("[data-action=start-over]")).to_have_text("Start over")
        # The panel's Resume goes to the position it was told of, not the one it was made with.
        there.locator("[data-action=resume]").click()
        wait_until(there, f"!{VIDEO}.paused && {VIDEO}.currentTime > {at + 0.5}")
        assert at < current_time(there) < at + 5
        pause(there)

        mark = here.locator(".hero [data-action=watched]")
        with here.expect_response(lambda r: r.url.endswith(f"/items/{walk}/watched")) as done:
            mark.click()
        assert done.value.status == 200 and done.value.request.method == "POST"
        expect(mark).to_have_text("Watched ✓")
        expect(watched).to_have_text("Watched ✓", timeout=5_000)
        expect(watched).to_have_attribute("aria-pressed", "true")
        expect(panel).to_be_hidden(timeout=5_000)

        # Leaving the paused pages has nothing new to say: no beacon may undo the mark.
        for page in (here, there):
            goto(page, base_url + "/")
        here.wait_for_timeout(1_000)  # a beacon would have landed by now
        goto(here, base_url + "/")
        continuing = here.locator("section[aria-labelledby=continue] .card")
        expect(continuing.filter(has_text="Long Walk")).to_have_count(0)
    data = user_data(api, walk)
    assert data["watched"] is True and data["position_s"] == 0 and data["play_count"] == 1, data


def test_resume_and_start_over_playing_the_file(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    river = ids["Slow River"]
    report(api, river, 150.0)
    with strict_page(browser, base_url) as page:
        open_item(page, base_url, river, "direct")
        panel = page.locator("[data-resume]")
        expect(panel).to_be_visible()
        expect(panel.locator("[data-action=resume]")).to_have_text("Resume from 2:30")
        panel.locator("[data-action=resume]").click()
        expect(panel).to_be_hidden()
        wait_until(page, f"!{VIDEO}.paused && {VIDEO}.currentTime > 150.5")
        assert 150 < current_time(page) < 155

        open_item(page, base_url, river, "direct")  # the last report (2:30 or later) shows
        expect(panel.locator("[data-action=resume]")).to_have_text(
            re.compile(r"^Resume from 2:[345]\d$")
        )
        panel.locator("[data-action=start-over]").click()
        expect(panel).to_be_hidden()
        wait_until(page, f"!{VIDEO}.paused && {VIDEO}.currentTime > 0.5")
        assert current_time(page) < 5


def test_resume_and_start_over_through_hls_js(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    marble = ids["Marble Orchard"]
    report(api, marble, 150.0)
    with strict_page(browser, base_url) as page:
        # Resume pressed before the server has said how to play the file still resumes.
        held: list[Route] = []
        page.route(re.compile(r"/api/v1/items/\d+/playback\?"), lambda route: held.append(route))
        goto(page, f"{base_url}/items/{marble}")
        panel = page.locator("[data-resume]")
        expect(panel.locator("[data-action=resume]")).to_have_text("Resume from 2:30")
        panel.locator("[data-action=resume]").click()
        for _ in range(100):  # the route hears of the request a moment after the page
            if held:
                break
            page.wait_for_timeout(20)
        assert len(held) == 1
        held[0].continue_()
        expect(page.locator("video#player")).to_have_attribute("data-engine", "hls.js")
        wait_until(page, f"!{VIDEO}.paused && {VIDEO}.currentTime > 150.5", timeout=15_000)
        assert 150 < current_time(page) < 160
        assert page.evaluate(f"{VIDEO}.src").startswith("blob:")
        page.unroute(re.compile(r"/api/v1/items/\d+/playback\?"))

        open_item(page, base_url, marble, "hls.js")
        panel.locator("[data-action=start-over]").click()
        wait_until(page, f"!{VIDEO}.paused && {VIDEO}.currentTime > 0.5", timeout=15_000)
        assert current_time(page) < 10


def test_the_player_reports_and_a_closing_page_says_where(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    lake = ids["Quiet Lake"]
    with strict_page(browser, base_url) as page:
        open_item(page, base_url, lake)
        expect(page.locator("[data-resume]")).to_be_hidden()
        play_at(page, 100)
        wait_until(page, f"{VIDEO}.currentTime > 102")  # a couple of seconds on
        at = pause(page)
        stored = user_data(api, lake)["position_s"]
        assert abs(stored - at) < 1 and stored > 101.5, (stored, at)

        # Seek on while playing (reported at once), play on a few seconds (not reported
        # again for 10 s), then leave: the beacon carries the last position.
        with page.expect_response(is_progress_report("playing")):
            page.keyboard.press(PAUSE)
        sought = seek_while_playing(page, 300)
        wait_until(page, f"{VIDEO}.currentTime > {sought + 3}")
        at = current_time(page)
        goto(page, base_url + "/")
        stored = wait_until_stored(api, lake, beyond=sought + 2)
        assert abs(stored - at) < 1, (stored, at)

        # The same when the tab is closed.
        closing = page.context.new_page()
        open_item(closing, base_url, lake)
        expect(closing.locator("[data-action=resume]")).to_have_text(f"Resume from {clock(stored)}")
        play_at(closing, 400)
        sought = seek_while_playing(closing, 450)
        wait_until(closing, f"{VIDEO}.currentTime > {sought + 3}")
        at = current_time(closing)
        closing.close()
        stored = wait_until_stored(api, lake, beyond=sought + 2)
        assert abs(stored - at) < 1, (stored, at)


def seek_while_playing(page: Page, seconds: float) -> float:
    """Move the seek bar while playing; the position the server stored for the seek."""
    with page.expect_response(is_progress_report("playing")) as seeked:
        page.locator("[data-seek-input]").fill(str(seconds))
    stored = float(seeked.value.json()["user_data"]["position_s"])
    assert seconds <= stored < seconds + 2, stored
    return stored


def test_home_rows_and_watched_cards(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    report(api, ids["Far Hills"], 200.0)  # a third of the way: data-fraction 7 of 20
    assert api.post(f"/api/v1/items/{ids['Done Deal']}/watched").status_code == 200
    with strict_page(browser, base_url) as page:
        goto(page, f"{base_url}/items/{ids['E1']}")
        mark = page.locator(".hero [data-action=watched]")
        expect(mark).to_have_text("Mark watched")
        mark.click()
        expect(mark).to_have_text("Watched ✓")
        expect(mark).to_have_attribute("aria-pressed", "true")
        assert user_data(api, ids["E1"])["watched"] is True
        goto(page, f"{base_url}/items/{ids['Tide']}")  # one of two episodes: not all watched
        expect(page.locator(".hero [data-action=watched]")).to_have_text("Mark all watched")

        goto(page, base_url + "/")
        started = page.locator("section[aria-labelledby=continue] .card")
        hills = started.filter(has_text="Far Hills")
        expect(hills).to_have_count(1)
        expect(hills.locator(".progress-bar")).to_have_attribute("title", "Resume from 3:20")
        expect(hills.locator(".progress-bar [data-fraction]")).to_have_attribute(
            "data-fraction", "7"
        )
        share = hills.locator(".progress-bar").evaluate(
            "(bar) => bar.firstElementChild.getBoundingClientRect().width"
            " / bar.getBoundingClientRect().width"
        )
        assert abs(share - 0.35) < 0.01, share
        expect(hills.locator(".watched-mark")).to_have_count(0)
        expect(started.filter(has_text="Done Deal")).to_have_count(0)
        expect(started.filter(has_text="Tide")).to_have_count(0)

        up = page.locator("section[aria-labelledby=next-up] .card")
        expect(up).to_have_count(1)
        expect(up.locator(".card-sub")).to_have_text("Tide · S01E02")
        expect(up).to_have_attribute("href", f"/items/{ids['E2']}")
        # As on a TV, → at the end of a row stays there; it never jumps to another row.
        last = started.last
        last.focus()
        page.keyboard.press("ArrowRight")
        expect(last).to_be_focused()

        page.locator("a.library", has_text="Library").click()
        page.wait_for_url(re.compile(r"/libraries/\d+$"))
        cards = page.locator("#grid .card")
        done = cards.filter(has_text="Done Deal")
        expect(done.locator(".watched-mark")).to_be_visible()
        expect(done.locator(".progress-bar")).to_have_count(0)
        expect(cards.filter(has_text="Far Hills").locator(".progress-bar")).to_be_visible()
        expect(cards.filter(has_text="Far Hills").locator(".watched-mark")).to_have_count(0)


def test_a_film_marked_watched_while_it_plays_stays_out_of_continue_watching(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    """Issue 15, bug 9: the page playing on after "Mark watched" says nothing more, so
    neither its next report nor its closing beacon puts the film back as started."""
    bus = ids["Late Bus"]
    with strict_page(browser, base_url) as page:
        open_item(page, base_url, bus)
        play_at(page, 100)
        mark = page.locator(".hero [data-action=watched]")
        with page.expect_response(lambda r: r.url.endswith(f"/items/{bus}/watched")) as done:
            mark.click()
        assert done.value.ok
        expect(mark).to_have_text("Watched ✓")
        wait_until(page, f"{VIDEO}.currentTime > {current_time(page) + 1}")  # it plays on
        page.evaluate(
            """() => { window.hearthBeacons = [];
                 const send = navigator.sendBeacon.bind(navigator);
                 navigator.sendBeacon = (url, body) => { hearthBeacons.push(url); return send(url, body); }; }"""
        )
        page.evaluate("window.dispatchEvent(new Event('pagehide'))")  # what leaving does first
        assert [u for u in page.evaluate("hearthBeacons") if u.endswith("/progress")] == []
        goto(page, base_url + "/")
        continuing = page.locator("section[aria-labelledby=continue] .card")
        expect(continuing.filter(has_text="Late Bus")).to_have_count(0)
    data = user_data(api, bus)
    assert data["watched"] is True and data["position_s"] == 0, data


def test_reporting_and_the_event_stream_run_under_the_policy(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    pond = ids["Still Pond"]
    with strict_page(browser, base_url) as page:
        open_item(page, base_url, pond)
        play_at(page, 60)
        at = pause(page)
        assert abs(user_data(api, pond)["position_s"] - at) < 1
        mark = page.locator(".hero [data-action=watched]")
        # Another device marks it watched, then not: the stream brings both.
        assert api.post(f"/api/v1/items/{pond}/watched").status_code == 200
        expect(mark).to_have_text("Watched ✓", timeout=5_000)
        expect(mark).to_have_attribute("aria-pressed", "true")
        assert api.delete(f"/api/v1/items/{pond}/watched").status_code == 200
        expect(mark).to_have_text("Mark watched", timeout=5_000)
        expect(mark).to_have_attribute("aria-pressed", "false")


def test_a_viewing_leaves_its_playback_events(
    browser: Browser, base_url: str, ids: dict[str, int], api: httpx.Client
) -> None:
    item = ids["Bright Day"]
    with strict_page(browser, base_url) as page:
        open_item(page, base_url, item)
        play_at(page, 120)  # play, then a seek from near the start to 120 s
        pause(page)
        goto(page, base_url + "/")  # leaving: "stop" and the rest go by beacon

    def kinds() -> list[str]:
        events = api.get("/api/v1/playback/events", params={"item_id": item}).json()["events"]
        return [e["type"] for e in reversed(events)]

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "stop" not in kinds():
        time.sleep(0.2)
    seen = kinds()
    assert seen[0] == "play" and {"seek", "pause", "stop"} <= set(seen), seen
    events = api.get("/api/v1/playback/events", params={"item_id": item}).json()["events"]
    seek = next(e for e in events if e["type"] == "seek")
    assert seek["from_s"] < 5 and 120 <= seek["to_s"] < 122, seek
    assert {e["decision"] for e in events} == {"direct"}
    assert all(e["session"] for e in events)
