"""Styled (ASS/SSA) subtitles in Debian's Chromium, under the server's own CSP.

The track puts red text at the top for three seconds, then blue text at the bottom; WebVTT
would show both white at the bottom.  The pixels of libass's canvas say where and in what
colour it drew, and, because the film carries a font whose letters are solid blocks, with
which font.  The Matroska film has AC-3 audio, so it plays remuxed through hls.js; the MP4
beside an ``.ass`` file plays directly.  When the renderer cannot start, the WebVTT version
shows instead and the line under the player says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from mediaserver.testing import make_clip
from tests.browser.test_csp import REPORT_VIOLATIONS, goto, strict_page
from tests.browser.test_ui import (
    CHROMIUM,
    DESKTOP,
    FFMPEG,
    SCREENSHOTS,
    api_headers,
    new_context,
    serve_library,
)
from tests.styled_media import BACKGROUND, SECONDS, STYLED_ASS, make_styled_film

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

STYLED, SIDECAR = "Styled Film", "Sidecar Film"
BOX = "document.querySelector('[data-player]')"
PLAYER = BOX + ".hearthPlayer"
VIDEO = "document.getElementById('player')"
# Red and blue pixels of libass's canvas per third of its height (top, middle, bottom), and
# how much of the box around the red ones is red: about 0.8 for the solid letters of the
# attached "Hearth Blocks", under 0.5 for ordinary letters.
CANVAS = """() => {
  const canvas = document.querySelector('.libassjs-canvas');
  if (!canvas || !canvas.width || !canvas.height) return null;
  const { width, height } = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const red = [0, 0, 0], blue = [0, 0, 0];
  let left = width, top = height, right = -1, bottom = -1;
  for (let y = 0; y < height; y++) {
    const third = Math.min(2, Math.floor((3 * y) / height));
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x), r = data[i], g = data[i + 1], b = data[i + 2];
      if (data[i + 3] < 200) continue;
      if (r > 180 && g < 80 && b < 80) {
        red[third]++;
        left = Math.min(left, x); right = Math.max(right, x);
        top = Math.min(top, y); bottom = Math.max(bottom, y);
      } else if (b > 180 && r < 80 && g < 80) blue[third]++;
    }
  }
  const area = right < 0 ? 0 : (right - left + 1) * (bottom - top + 1);
  return { red, blue, redFill: area ? (red[0] + red[1] + red[2]) / area : 0 };
}"""
# How far libass's canvas is from the picture (object-fit: contain) in the video element.
OFF_PICTURE = """() => {
  const video = document.getElementById('player'), box = video.getBoundingClientRect();
  const ratio = video.videoWidth / video.videoHeight;
  let width = box.width, height = box.height;
  if (width / height > ratio) width = height * ratio; else height = width / ratio;
  const c = document.querySelector('.libassjs-canvas').getBoundingClientRect();
  return Math.max(Math.abs(c.width - width), Math.abs(c.height - height),
    Math.abs(c.left + c.width / 2 - (box.left + box.width / 2)),
    Math.abs(c.top + c.height / 2 - (box.top + box.height / 2)));
}"""
RED_AT_THE_TOP = f"() => {{ const s = ({CANVAS})(); return s && s.red[0] > 400 ? s : null; }}"
BLUE_AT_THE_BOTTOM = (
    f"() => {{ const s = ({CANVAS})(); return s && s.blue[2] > 400 && !s.red[0] ? s : null; }}"
)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    make_styled_film(media / f"{STYLED} (2020).mkv", FFMPEG, audio_codec="ac3")
    make_clip(media / f"{SIDECAR} (2021).mp4", seconds=SECONDS, video=BACKGROUND, ffmpeg=FFMPEG)
    (media / f"{SIDECAR} (2021).en.ass").write_text(STYLED_ASS, encoding="utf-8")
    with serve_library(tmp_path_factory, media) as url:
        yield url


@pytest.fixture(scope="module")
def item_urls(base_url: str) -> dict[str, str]:
    items = httpx.get(base_url + "/api/v1/items", headers=api_headers(base_url), timeout=5)
    return {item["title"]: f"{base_url}/items/{item['id']}" for item in items.json()["items"]}


def start_with_the_track(page: Page, engine: str) -> None:
    """Play, choose the one subtitle track, then hold still at 1 s (the red line)."""
    expect(page.locator("video#player")).to_have_attribute("data-engine", engine)
    page.locator(".player-big-play").click()
    page.wait_for_function(f"() => {VIDEO}.currentTime > 0.2")
    before = page.evaluate(f"{PLAYER}.answer.session")
    page.locator("[data-menu=subtitles] [data-menu-button]").click()
    page.locator("[data-menu=subtitles] [role=menuitemradio]").nth(1).click()
    # Direct play reloads (a new answer) to add the track's <track> and plays on: wait until
    # the new source is there, or a pause and seek made now would be undone by it.
    page.wait_for_function(
        f"""() => {PLAYER}.hls ? {PLAYER}.hls.subtitleTrack >= 0
            : {PLAYER}.answer.session !== {before!r} && {VIDEO}.readyState >= 2
              && Array.from({VIDEO}.textTracks).some((t) => t.mode !== 'disabled')"""
    )
    hold_at(page, 1)


def hold_at(page: Page, seconds: float) -> None:
    page.evaluate(f"() => {{ {VIDEO}.pause(); {PLAYER}.seekTo({seconds}); }}")
    page.wait_for_function(
        f"() => {VIDEO}.paused && Math.abs({VIDEO}.currentTime - {seconds}) < 0.05"
    )


def webvtt_showing(page: Page) -> bool:
    return bool(
        page.evaluate(
            f"""() => Array.from({VIDEO}.textTracks).some((t) => t.mode === 'showing')
                || Boolean({PLAYER}.hls && {PLAYER}.hls.subtitleDisplay
                           && {PLAYER}.hls.subtitleTrack >= 0)"""
        )
    )


def test_the_track_is_drawn_in_its_colour_place_and_font_over_hls(
    browser: Browser, base_url: str, item_urls: dict[str, str]
) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, item_urls[STYLED])
        start_with_the_track(page, "hls.js")
        expect(page.locator("[data-player]")).to_have_attribute("data-styled-subtitles", "")
        stats = page.wait_for_function(RED_AT_THE_TOP).json_value()
        assert stats["red"][1] == stats["red"][2] == 0 and sum(stats["blue"]) == 0, stats
        assert stats["redFill"] > 0.6, stats  # solid blocks: the font the film carries
        assert not webvtt_showing(page)  # one set of subtitles, not two
        page.screenshot(path=SCREENSHOTS / "styled-hls.png", full_page=True)
        hold_at(page, 4)  # it follows a seek: the blue line
        page.wait_for_function(BLUE_AT_THE_BOTTOM)
        expect(page.locator("#player-decision")).not_to_contain_text("styling")


def test_a_sidecar_plays_directly_and_the_drawing_follows_resizes_and_full_screen(
    browser: Browser, base_url: str, item_urls: dict[str, str]
) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, item_urls[SIDECAR])
        start_with_the_track(page, "direct")
        stats = page.wait_for_function(RED_AT_THE_TOP).json_value()
        assert stats["red"][2] == 0 and stats["redFill"] < 0.5, stats  # the fallback font
        assert not webvtt_showing(page)
        page.screenshot(path=SCREENSHOTS / "styled-direct.png", full_page=True)
        assert page.evaluate(OFF_PICTURE) < 2
        page.set_viewport_size({"width": 900, "height": 700})
        page.wait_for_function(f"() => ({OFF_PICTURE})() < 2")
        page.locator("[data-action=fullscreen]").click()
        page.wait_for_function(f"() => document.fullscreenElement === {BOX}")
        page.wait_for_function(f"() => ({OFF_PICTURE})() < 2")
        page.wait_for_function(RED_AT_THE_TOP)
        page.evaluate("() => document.exitFullscreen()")
        # The ⚙ panel's timing moves the drawing too: a second later, 3.5 s is still red.
        page.locator("[data-settings-button]").click()
        for _ in range(2):
            page.locator("[data-setting=later]").click()
        expect(page.locator("[data-setting-value=offset]")).to_have_text("+1.0 s")
        hold_at(page, 3.5)
        page.wait_for_function(RED_AT_THE_TOP)


@contextmanager
def violations_only(browser: Browser, base_url: str) -> Iterator[tuple[Page, list[str]]]:
    """A page whose CSP violations are counted (the renderer's failure logs errors)."""
    context = new_context(browser, base_url, viewport=DESKTOP)
    violations: list[str] = []
    context.expose_function("reportViolation", lambda text: violations.append(text))
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield page, errors
        page.wait_for_timeout(300)
    finally:
        context.close()
    assert violations == []


@pytest.mark.parametrize("failure", ["wasm missing", "no WebAssembly"])
def test_when_the_renderer_cannot_start_the_webvtt_version_shows(
    browser: Browser, base_url: str, item_urls: dict[str, str], failure: str
) -> None:
    with violations_only(browser, base_url) as (page, errors):
        if failure == "wasm missing":
            page.route("**/subtitles-octopus-worker.wasm", lambda route: route.fulfill(status=404))
            reason = "the renderer stopped"
        else:
            page.add_init_script("delete window.WebAssembly")
            reason = "this browser cannot run the renderer"
        goto(page, item_urls[SIDECAR])
        start_with_the_track(page, "direct")
        expect(page.locator("#player-decision")).to_contain_text(
            f"Direct play: this browser plays MP4 with H.264 and AAC. "
            f"Subtitles without their styling: {reason}."
        )
        # The plain track is the one showing, with the cue (whether its moment has passed by
        # now depends on how fast the renderer gave up: the track, not the instant, is checked).
        page.wait_for_function(
            f"""() => Array.from({VIDEO}.textTracks).some((t) => t.mode === 'showing'
                && t.cues && Array.from(t.cues).some((c) => c.text === 'Top red'))"""
        )
        expect(page.locator(".libassjs-canvas")).to_have_count(0)
        expect(page.locator("[data-player]")).not_to_have_attribute("data-styled-subtitles", "")
        page.screenshot(path=SCREENSHOTS / f"styled-{failure.split()[0]}.png", full_page=True)
    if failure == "no WebAssembly":
        assert errors == []  # nothing was tried, so nothing failed
