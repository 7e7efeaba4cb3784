"""What a household meets in its first hour, in Debian's Chromium at a laptop's, a phone's
(touch) and a TV's (keyboard only) size: the player's layout while it plays, the phone's
big play button, the line that says why a stream is what it is, and the library's menus.

One server for the module over four small H.264/AAC MP4s that Chromium plays as they are.
"Meadow Lane" is 20 s at 640x360 and about 0.7 Mb/s: a 360p transcode of it would carry
more bits than the file itself, the case where Auto once chose the transcode.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from mediaserver.testing import make_clip
from tests.browser.test_ui import (
    CHROMIUM,
    SCREENSHOTS,
    api_headers,
    new_context,
    serve_library,
)

LAPTOP: ViewportSize = {"width": 1366, "height": 850}
PHONE: ViewportSize = {"width": 390, "height": 844}
TV: ViewportSize = {"width": 1920, "height": 1080}
SIZES = {"laptop": LAPTOP, "phone": PHONE, "tv": TV}
LONG_TITLE = "Supercalifragilisticexpialidociouslyunbreakablyverylongtitle"
VIDEO = "document.getElementById('player')"
PLAYER = "document.querySelector('[data-player]').hearthPlayer"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


def _film(
    folder: Path,
    title: str,
    year: int,
    genre: str,
    *,
    seconds: float = 4,
    size: str = "320x180",
    output: dict[str, str] | None = None,
) -> None:
    path = folder / f"{title} ({year})" / f"{title} ({year}).mp4"
    options = {"movflags": "+faststart", **(output or {})}
    make_clip(path, seconds=seconds, size=size, output=options)
    path.with_suffix(".nfo").write_text(
        f"<movie><title>{title}</title><year>{year}</year><genre>{genre}</genre></movie>",
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Films"
    _film(
        media,
        "Meadow Lane",
        2012,
        "Drama",
        seconds=20,
        size="640x360",
        output={"b:v": "600k", "maxrate": "650k", "bufsize": "1200k", "b:a": "96k"},
    )
    _film(media, "Harbour Lights", 1998, "Comedy")
    _film(media, "Quiet Hills", 2005, "Drama")
    _film(media, LONG_TITLE, 2001, "Comedy")
    with serve_library(tmp_path_factory, media) as url:
        yield url


@pytest.fixture(scope="module")
def items(base_url: str) -> dict[str, dict[str, object]]:
    found = httpx.get(base_url + "/api/v1/items", headers=api_headers(base_url), timeout=5)
    return {item["title"]: item for item in found.json()["items"]}


@pytest.fixture(scope="module")
def library_url(base_url: str) -> str:
    found = httpx.get(base_url + "/api/v1/libraries", headers=api_headers(base_url), timeout=5)
    return f"{base_url}/libraries/{found.json()['libraries'][0]['id']}"


@contextmanager
def open_page(browser: Browser, base_url: str, size: str) -> Iterator[Page]:
    """A fresh context at ``size`` (a phone has touch); no script errors on the way out."""
    touch = size == "phone"
    context = new_context(browser, base_url, viewport=SIZES[size], has_touch=touch, is_mobile=touch)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert errors == []


def wait_until(page: Page, condition: str, timeout: float = 10_000) -> None:
    """Wait for a JS condition, written as a function so the page's CSP allows it."""
    page.wait_for_function(f"() => {condition}", timeout=timeout)


def boxes(page: Page) -> dict[str, dict[str, float]]:
    return page.evaluate(
        """() => Object.fromEntries(Object.entries({
                 box: "[data-player]", video: "#player", played: ".seek-played",
                 rail: ".seek-rail"}).map(([name, selector]) => {
                 const r = document.querySelector(selector).getBoundingClientRect();
                 return [name, {x: r.x, y: r.y, width: r.width, height: r.height}]; }))"""
    )


def press_play(page: Page, size: str) -> None:
    if size == "phone":
        page.locator(".player-big-play").tap()
    elif size == "tv":
        page.keyboard.press("Enter")  # Play (or Resume) has the focus when the page opens
    else:
        page.locator(".player-big-play").click()


@pytest.mark.parametrize("size", sorted(SIZES))
def test_the_picture_fills_the_player_while_it_plays(
    browser: Browser, base_url: str, items: dict[str, dict[str, object]], size: str
) -> None:
    """The video once took the width of the share played: a strip that grew from the left."""
    film = items["Meadow Lane"]["id"]
    # From the start at every size, not from where the last size left it.
    httpx.post(
        f"{base_url}/api/v1/items/{film}/progress",
        json={"position_s": 0, "state": "stopped"},
        headers=api_headers(base_url),
        timeout=5,
    ).raise_for_status()
    with open_page(browser, base_url, size) as page:
        page.goto(f"{base_url}/items/{film}")
        expect(page.locator("video#player")).to_have_attribute("data-engine", "direct")
        page.evaluate(f"{VIDEO}.muted = true")
        press_play(page, size)
        wait_until(page, f"{VIDEO}.currentTime > 2")
        first = boxes(page)
        wait_until(page, f"{VIDEO}.currentTime > 4")
        second = boxes(page)
        for seen in (first, second):
            box, video = seen["box"], seen["video"]
            assert abs(video["width"] - box["width"]) <= 1, seen
            assert abs(video["height"] - box["height"]) <= 1, seen
            assert box["width"] >= SIZES[size]["width"] * (0.9 if size == "phone" else 0.6), seen
        # The played part of the seek bar shows, and grows.
        assert 0 < first["played"]["width"] < second["played"]["width"] < second["rail"]["width"]
        if size == "phone":  # phones play in the whole window
            assert second["box"] == {"x": 0, "y": 0, "width": 390, "height": 844}
        page.evaluate(f"{VIDEO}.pause()")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"player-{size}.png")


def test_a_phone_tap_on_the_big_play_button_plays(
    browser: Browser, base_url: str, items: dict[str, dict[str, object]]
) -> None:
    with open_page(browser, base_url, "phone") as page:
        page.goto(f"{base_url}/items/{items['Meadow Lane']['id']}")
        expect(page.locator("video#player")).to_have_attribute("data-engine", "direct")
        big = page.locator(".player-big-play")
        big.scroll_into_view_if_needed()
        # What a finger at the button's centre touches is the button, not a bar laid over it.
        assert big.evaluate(
            """(button) => { const r = button.getBoundingClientRect();
                             const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
                             return button.contains(hit); }"""
        )
        big.tap()
        wait_until(page, f"{VIDEO}.currentTime > 0.5 && !{VIDEO}.paused")
        expect(page.locator("[data-player]")).to_have_attribute("data-window", "")

        # Every control a finger uses is at least 44 px each way.
        sizes = page.evaluate(
            """() => [...document.querySelectorAll(
                        ".player-bar button, .player-close, [data-seek]")]
                     .filter((el) => el.offsetParent !== null)
                     .map((el) => ({name: el.getAttribute("aria-label") || el.textContent.trim()
                                           || el.className,
                                    width: el.getBoundingClientRect().width,
                                    height: el.getBoundingClientRect().height}))"""
        )
        names = {s["name"] for s in sizes}
        assert {"Back 10 seconds", "Forward 10 seconds", "Close the player"} <= names, names
        small = [s for s in sizes if s["height"] < 44 or (s["width"] < 44 and s["name"] != "seek")]
        assert small == []
        # The picture is not covered by the bar: the big button's place is free while paused.
        before = float(page.evaluate(f"{VIDEO}.currentTime"))
        page.get_by_role("button", name="Forward 10 seconds").tap()
        wait_until(page, f"{VIDEO}.currentTime >= {before + 9}")
        page.get_by_role("button", name="Close the player").tap()
        expect(page.locator("[data-player]")).not_to_have_attribute("data-window", "")
        assert page.evaluate(f"{VIDEO}.paused") is True


def test_the_why_line_follows_the_quality_and_auto_starts_from_the_original(
    browser: Browser, base_url: str, items: dict[str, dict[str, object]]
) -> None:
    with open_page(browser, base_url, "laptop") as page:
        page.goto(f"{base_url}/items/{items['Meadow Lane']['id']}")
        why = page.locator("#player-decision")
        expect(why).to_have_text(re.compile(r"^Direct play: "))
        page.evaluate(f"{VIDEO}.muted = true")
        page.locator(".player-big-play").click()
        wait_until(page, f"{VIDEO}.currentTime > 0.5")

        quality = page.locator("[data-menu=quality]")
        page.locator("[data-player]").hover()  # the controls fade while it plays
        quality.locator("[data-menu-button]").click()
        menu = quality.locator("[role=menu]")
        # A 360p transcode of this 0.7 Mb/s 360p file would carry more bits: not offered.
        expect(menu.locator("[role=menuitemradio]")).to_have_text(
            [re.compile(r"^Auto"), "Original", "240p"]
        )
        menu.get_by_role("menuitemradio", name="240p").click()
        wait_until(page, f"{VIDEO}.dataset.level === '240p' && {VIDEO}.currentTime > 1", 20_000)
        expect(why).to_have_text("Transcoding to 240p: you chose 240p.")

        page.locator("[data-player]").hover()  # the controls fade while it plays
        quality.locator("[data-menu-button]").click()
        menu.get_by_role("menuitemradio", name=re.compile(r"^Auto")).click()
        wait_until(page, f"{VIDEO}.dataset.level === 'Original'", 20_000)
        expect(why).to_have_text(re.compile(r"^Streaming the original, nothing re-encoded"))
        played = float(page.evaluate(f"{VIDEO}.currentTime"))
        wait_until(page, f"{VIDEO}.currentTime > {played + 3}", 20_000)
        assert page.evaluate(f"{VIDEO}.dataset.level") == "Original"  # Auto stayed on it
        assert page.evaluate(f"{PLAYER}.hls.autoLevelEnabled") is True


def test_the_library_menus_filter_without_an_error(
    browser: Browser, base_url: str, library_url: str
) -> None:
    """Sort and Genre once sent ``year=`` and the page answered 400."""
    with open_page(browser, base_url, "laptop") as page:
        page.goto(library_url)
        cards = page.locator("#grid .card")
        expect(cards).to_have_count(4)
        with page.expect_navigation():
            page.get_by_label("Sort").select_option(label="Newest")
        assert page.url == library_url + "?sort=-year"  # empty fields stay out of the address
        expect(cards.first).to_contain_text("Meadow Lane")
        with page.expect_navigation():
            page.get_by_label("Genre").select_option("Comedy")
        assert page.url == library_url + "?sort=-year&genre=Comedy"
        expect(cards).to_have_count(2)
        # The Year box applies itself once typing pauses: no Enter.
        with page.expect_navigation():
            page.get_by_label("Year").press_sequentially("1950", delay=30)
        expect(page.get_by_role("status")).to_have_text(
            "No titles match the genre “Comedy” and the year 1950. Show everything"
        )
        page.get_by_role("link", name="Show everything").click()
        expect(cards).to_have_count(4)
        assert page.request.get(library_url + "?sort=title&genre=&year=").status == 200
        bad = page.request.get(library_url + "?year=abc")
        assert bad.status == 400 and "“abc” is not a year; type one like 1999." in bad.text()


def test_a_long_title_stays_inside_a_phone_screen(
    browser: Browser, base_url: str, items: dict[str, dict[str, object]], library_url: str
) -> None:
    with open_page(browser, base_url, "phone") as page:
        for url in (f"{base_url}/items/{items[LONG_TITLE]['id']}", library_url, base_url + "/"):
            page.goto(url)
            expect(page.get_by_text(LONG_TITLE).first).to_be_attached()
            # A phone widens its layout to fit what overflows (innerWidth grows with it):
            # measure against the screen's own 390 px.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], (url, width)
