"""The web player in Debian's Chromium against a real Hearth streaming a real clip over HLS.

The clips are Matroska with H.264 video and AC-3 audio: Chromium cannot play AC-3, so the
server remuxes them (video copied, audio to AAC) and the page must play them through hls.js.
The second clip has two audio languages and a text subtitle, for the track menus.
One server and one browser for the module, a fresh page per test.  ``page.route`` fakes
only what the server cannot be made to do on cue (a 503, a 404).  Every page runs under the
server's own Content-Security-Policy (no inline or eval'd script; MSE needs ``blob:`` media,
the hls.js worker loads from its own file) and a violation fails the test.  Waits use
function expressions: string ones are eval'd in the page, which that CSP forbids.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from mediaserver.ffmpeg_tools import find_ffmpeg
from mediaserver.testing import make_clip
from tests.browser.test_ui import (
    CHROMIUM,
    DESKTOP,
    SCREENSHOTS,
    api_headers,
    new_context,
    serve_library,
)

CLIP_SECONDS = 24
MARBLE = "Marble Orchard"  # 24 s, 640x360 (Original, 360p, 240p), chapters at 0 and 12 s
CHAPTERS = """;FFMETADATA1
[CHAPTER]
TIMEBASE=1/1000
START=0
END=12000
title=Opening
[CHAPTER]
TIMEBASE=1/1000
START=12000
END=24000
title=Finale
"""
COBALT = "Cobalt Harbour"  # 12 s, English ("Stereo") and French audio, English SubRip twice

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

# The player object player.js hangs on its box, and the hls.js instance it drives.
PLAYER = "document.querySelector('[data-player]').hearthPlayer"
HLS = PLAYER + ".hls"
VIDEO = "document.getElementById('player')"


def add_chapters(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` with two chapters, "Opening" and "Finale" at 12 s."""
    metadata = source.with_suffix(".chapters.txt")
    metadata.write_text(CHAPTERS, encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    argv = [find_ffmpeg()[0], "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    argv += ["-i", str(source), "-f", "ffmetadata", "-i", str(metadata)]
    argv += ["-map", "0", "-map_chapters", "1", "-c", "copy", str(target)]
    done = subprocess.run(argv, capture_output=True, timeout=60, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    plain = make_clip(
        tmp_path_factory.mktemp("clips") / "marble.mkv",
        seconds=CLIP_SECONDS,
        size="640x360",
        output={"c:a": "ac3"},
    )
    add_chapters(plain, media / "Marble.Orchard.2001.mkv")
    make_clip(
        media / "Cobalt.Harbour.2015.mkv",
        seconds=12,
        size="640x360",
        audio_language="eng",
        extra_audio_languages=("fre",),
        subtitle=True,
        output={"c:a": "ac3", "metadata:s:1": "title=Stereo"},  # the English track's title
    )
    # An English sidecar beside the embedded English track: the menu must tell them apart.
    (media / "Cobalt.Harbour.2015.en.srt").write_text(
        "1\n00:00:00,500 --> 00:00:11,000\nFrom the file beside it\n", encoding="utf-8"
    )
    with serve_library(tmp_path_factory, media) as url:
        yield url


@pytest.fixture(scope="module")
def item_urls(base_url: str) -> dict[str, str]:
    items = httpx.get(base_url + "/api/v1/items", headers=api_headers(base_url), timeout=5).json()[
        "items"
    ]
    return {item["title"]: f"{base_url}/items/{item['id']}" for item in items}


@pytest.fixture(scope="module")
def item_url(item_urls: dict[str, str]) -> str:
    return item_urls[MARBLE]


@contextmanager
def player_page(browser: Browser, base_url: str) -> Iterator[Page]:
    """A fresh page; on the way out: no script errors, no CSP violations, no other host."""
    context = new_context(browser, base_url, viewport=DESKTOP)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    foreign = [u for u in requested if not u.startswith((base_url + "/", "data:", "blob:"))]
    assert foreign == []
    assert errors == []


def current_time(page: Page) -> float:
    return float(page.evaluate(f"{VIDEO}.currentTime"))


def wait_until(page: Page, condition: str, timeout: float = 10_000) -> None:
    """Wait for a JS condition, written as a function so no CSP blocks it."""
    page.wait_for_function(f"() => {condition}", timeout=timeout)


def wait_for_time(page: Page, seconds: float, timeout: float = 15_000) -> None:
    wait_until(page, f"{VIDEO}.currentTime > {seconds}", timeout)


def open_menu(page: Page, name: str) -> None:
    """Click a player menu's button as a person does: the pointer moves over the player
    first, which brings back controls that faded while it played."""
    page.locator("[data-player]").hover()
    page.locator(f"[data-menu={name}] [data-menu-button]").click()


def start(page: Page, item_url: str) -> None:
    """Open the item page and press the big play button."""
    page.goto(item_url)
    expect(page.locator("video#player")).to_have_attribute("data-engine", "hls.js")
    page.locator(".player-big-play").click()
    wait_for_time(page, 0.5)


def test_a_remuxed_file_plays_through_hls_js(
    browser: Browser, base_url: str, item_url: str
) -> None:
    with player_page(browser, base_url) as page:
        response = page.goto(item_url)
        assert response is not None
        assert (
            "script-src 'self' 'wasm-unsafe-eval';" in response.headers["content-security-policy"]
        )
        player = page.locator("video#player")
        expect(player).to_have_attribute("data-engine", "hls.js")
        expect(player).to_have_attribute("data-decision", re.compile("^(remux|transcode)$"))
        expect(page.locator("#player-decision")).to_contain_text(
            "this browser cannot play Dolby Digital (AC-3) audio"
        )
        assert page.evaluate(f"{HLS} instanceof window.Hls")
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.player-spinner')).display")
            == "none"
        )
        page.locator(".player-big-play").click()
        wait_for_time(page, 1.5)
        assert page.evaluate(f"{HLS}.url").startswith(base_url + "/api/v1/items/")
        # hls.js sorts levels by height; it must still start on the variant listed first.
        assert page.evaluate(f"{HLS}.levels[{HLS}.currentLevel].attrs.NAME") == "Original"
        expect(page.locator("[data-player-time]")).to_contain_text(re.compile(r"/ 0:2[34]$"))


def test_the_quality_menu_switches_levels(browser: Browser, base_url: str, item_url: str) -> None:
    with player_page(browser, base_url) as page:
        start(page, item_url)
        open_menu(page, "quality")
        menu = page.locator("[data-menu=quality] [role=menu]")
        expect(menu).to_be_visible()
        expect(menu.locator("[role=menuitemradio]")).to_have_text(
            [re.compile(r"^Auto"), "Original", "360p", "240p"]
        )
        expect(menu.locator("[aria-checked=true]")).to_have_text(re.compile(r"^Auto"))
        menu.get_by_role("menuitemradio", name="240p").click()
        expect(menu).to_be_hidden()
        wait_until(
            page,
            f"{HLS}.currentLevel >= 0 && {HLS}.levels[{HLS}.currentLevel].attrs.NAME === '240p'",
        )
        assert page.evaluate(f"{HLS}.autoLevelEnabled") is False
        expect(page.locator("video#player")).to_have_attribute("data-level", "240p")
        after = current_time(page)
        wait_for_time(page, after + 1.0)
        assert page.evaluate(f"{VIDEO}.videoHeight") == 240

        open_menu(page, "quality")
        expect(menu.locator("[aria-checked=true]")).to_have_text("240p")
        page.evaluate(f"{VIDEO}.pause()")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = page.evaluate(
            """() => { const top = document.querySelector("header.top").offsetHeight;
                       const player = document.querySelector("section.player");
                       window.scrollTo(0, player.offsetTop - top - 12);
                       const box = player.getBoundingClientRect();
                       return {x: 0, y: top, width: window.innerWidth, height: box.height + 24}; }"""
        )
        page.screenshot(path=SCREENSHOTS / "player.png", clip=shot)
        page.keyboard.press("Escape")
        expect(menu).to_be_hidden()
        expect(page.locator("[data-menu=quality] [data-menu-button]")).to_be_focused()


def test_seeking_far_ahead_plays_on_from_there(
    browser: Browser, base_url: str, item_url: str
) -> None:
    with player_page(browser, base_url) as page:
        start(page, item_url)
        # One chapter mark, half-way; hovering previews the time and the chapter there (and
        # a thumbnail once trickplay has made them).
        marks = page.locator("[data-seek] .seek-mark")
        expect(marks).to_have_count(1)
        assert 49.5 < marks.evaluate("(mark) => parseFloat(mark.style.left)") < 50.5
        seek = page.locator("[data-seek]")
        width = seek.bounding_box()["width"]  # type: ignore[index]
        seek.hover(position={"x": 1, "y": 5})
        expect(page.locator("[data-preview]")).to_have_text("0:00 · Opening")
        seek.hover(position={"x": width * 0.75, "y": 5})
        expect(page.locator("[data-preview]")).to_have_text(re.compile(r"^0:1[78] · Finale$"))
        target = round(CLIP_SECONDS * 0.7, 1)
        page.locator("[data-seek-input]").fill(str(target))
        wait_until(page, f"{VIDEO}.currentTime >= {target - 0.5}", timeout=10_000)
        wait_for_time(page, target + 1.0)
        assert page.evaluate(f"{VIDEO}.paused") is False


def test_keyboard_shortcuts(browser: Browser, base_url: str, item_url: str) -> None:
    with player_page(browser, base_url) as page:
        page.goto(item_url)
        expect(page.locator("video#player")).to_have_attribute("data-engine", "hls.js")
        # The page opens with its Play button focused (OK plays); with nothing focused the
        # player takes the keys.
        expect(page.locator(".actions .primary:visible")).to_be_focused()  # Play or Resume
        page.evaluate("document.activeElement.blur()")
        page.keyboard.press("k")
        wait_for_time(page, 0.5)
        page.locator("video#player").click()  # pauses, and focuses the player box
        expect(page.locator("[data-player]")).to_be_focused()
        page.keyboard.press("Space")
        wait_until(page, f"!{VIDEO}.paused")
        page.keyboard.press("Space")
        wait_until(page, f"{VIDEO}.paused")

        before = current_time(page)
        page.keyboard.press("ArrowRight")
        wait_until(page, f"{VIDEO}.currentTime >= {before + 9.5}", timeout=5_000)
        expect(page.locator("[data-player]")).to_be_focused()  # no card navigation

        page.keyboard.press("m")
        wait_until(page, f"{VIDEO}.muted")
        expect(page.locator("[data-action=mute]")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("m")
        wait_until(page, f"!{VIDEO}.muted")
        volume = float(page.evaluate(f"{VIDEO}.volume"))
        page.keyboard.press("ArrowDown")
        wait_until(page, f"{VIDEO}.volume < {volume - 0.05}")

        page.keyboard.press("f")
        wait_until(page, "document.fullscreenElement === document.querySelector('[data-player]')")
        expect(page.locator("[data-action=fullscreen]")).to_have_attribute("aria-pressed", "true")
        page.keyboard.press("f")
        wait_until(page, "document.fullscreenElement === null")

        # On the control bar, arrows go from button to button (a TV remote) instead of seeking.
        page.locator(".player-bar [data-action=play]").focus()
        at = current_time(page)
        page.keyboard.press("ArrowRight")
        expect(page.locator("[data-action=back]")).to_be_focused()
        page.keyboard.press("ArrowRight")
        expect(page.locator("[data-action=forward]")).to_be_focused()
        page.keyboard.press("ArrowRight")
        expect(page.locator("[data-action=mute]")).to_be_focused()
        assert current_time(page) == at

        # Typing in the search box is not a shortcut.
        page.locator("#search-box").press_sequentially("mk")
        assert page.evaluate(f"{VIDEO}.muted") is False
        assert page.evaluate(f"{VIDEO}.paused") is True


def test_a_busy_server_is_explained_and_retried(
    browser: Browser, base_url: str, item_url: str
) -> None:
    busy: list[str] = []

    def refuse(route: Route) -> None:
        busy.append(route.request.url)
        route.fulfill(
            status=503,
            headers={"Retry-After": "2", "Content-Type": "application/json"},
            body='{"status_code": 503, "detail": "too many streams"}',
        )

    with player_page(browser, base_url) as page:
        page.route(re.compile(r"/hls/master\.m3u8"), refuse)
        page.goto(item_url)
        alert = page.locator(".player-error")
        expect(alert).to_be_visible()
        expect(alert).to_contain_text(
            re.compile(r"The server is busy with other streams; trying again in [12] s\.")
        )
        expect(alert.locator("[data-action=retry]")).to_be_hidden()
        assert len(busy) == 1  # the player waited; hls.js did not hammer the server
        page.unroute(re.compile(r"/hls/master\.m3u8"))
        expect(alert).to_be_hidden(timeout=10_000)
        page.locator(".player-big-play").click()
        wait_for_time(page, 0.5)


def test_a_segment_the_server_cannot_make_is_explained_not_retried(
    browser: Browser, base_url: str, item_url: str
) -> None:
    """A 500 for a segment (ffmpeg could not make it, and the server remembers that): the
    player says so in words and stops: asking again would only get the same answer."""
    failed: list[str] = []

    def cannot(route: Route) -> None:
        failed.append(route.request.url)
        route.fulfill(
            status=500,
            headers={"Content-Type": "application/json"},
            body='{"status_code": 500, "detail": "the video could not be converted"}',
        )

    with player_page(browser, base_url) as page:
        page.route(re.compile(r"/api/v1/hls/[0-9a-f]{24}/\d+\.m4s"), cannot)
        page.goto(item_url)
        page.locator(".player-big-play").click()
        alert = page.locator(".player-error")
        expect(alert).to_contain_text(
            "Part of this video could not be converted on the server, so playback stopped."
        )
        assert len(failed) == 1, failed  # not asked again, in this quality or another


def test_an_unplayable_answer_is_explained(browser: Browser, base_url: str, item_url: str) -> None:
    with player_page(browser, base_url) as page:
        page.route(
            re.compile(r"/api/v1/items/\d+/playback"),
            lambda route: route.fulfill(
                status=404,
                headers={"Content-Type": "application/json"},
                body='{"status_code": 404, "detail": "item 1 has no playable file"}',
            ),
        )
        page.goto(item_url)
        alert = page.locator(".player-error")
        expect(alert).to_contain_text(
            "This file is no longer in the library (item 1 has no playable file)."
        )
        expect(alert.get_by_role("button", name="Try again")).to_be_visible()
        expect(alert.get_by_role("link", name="Download the file")).to_be_visible()


def test_subtitle_and_audio_menus(
    browser: Browser, base_url: str, item_urls: dict[str, str]
) -> None:
    with player_page(browser, base_url) as page:
        requests: list[tuple[str, str]] = []
        page.on("request", lambda request: requests.append((request.method, request.url)))
        start(page, item_urls[COBALT])

        # Text subtitles are renditions of the stream: switched in hls.js, no new stream.
        open_menu(page, "subtitles")
        subtitles = page.locator("[data-menu=subtitles] [role=menu]")
        expect(subtitles.locator("[role=menuitemradio]")).to_have_text(
            ["Off", "English (SRT, in the video)", "English (SRT, separate file)"]
        )
        subtitles.get_by_role("menuitemradio", name="English (SRT, in the video)").click()
        wait_until(page, f"{HLS}.subtitleTrack === 0")
        wait_until(
            page,
            f"""[...{VIDEO}.textTracks]
               .some((t) => t.mode === 'showing' && t.cues && t.cues.length > 0)""",
        )
        # The sidecar is a rendition of the stream too, with its own words.
        open_menu(page, "subtitles")
        subtitles.get_by_role("menuitemradio", name="English (SRT, separate file)").click()
        wait_until(
            page,
            f"""[...{VIDEO}.textTracks].some((t) => t.mode === 'showing' && t.cues
                 && [...t.cues].some((c) => c.text === 'From the file beside it'))""",
        )
        open_menu(page, "subtitles")
        subtitles.get_by_role("menuitemradio", name="English (SRT, in the video)").click()

        # Another audio language is another stream: new session, old one stopped, same place.
        old_session = page.evaluate(f"{PLAYER}.answer.session")
        wait_for_time(page, 2.0)
        open_menu(page, "audio")
        audio = page.locator("[data-menu=audio] [role=menu]")
        expect(audio.locator("[role=menuitemradio]")).to_have_text(
            ["Stereo (English)", "French (stereo)"]
        )
        expect(audio.locator("[aria-checked=true]")).to_have_text("Stereo (English)")
        before = current_time(page)
        audio.get_by_role("menuitemradio", name="French (stereo)").click()
        wait_until(page, f"{PLAYER}.answer.session !== {old_session!r}")
        wait_for_time(page, before + 1.0)  # on from where it was, not from the start
        assert page.evaluate(f"{PLAYER}.answer.decision.audio_index") == 2
        assert ("POST", f"{base_url}/api/v1/hls/sessions/{old_session}/stop") in requests
        playback = [url for method, url in requests if "/playback?" in url]
        assert len(playback) == 2 and "audio=2" in playback[1] and "subtitle=3" in playback[1]
        open_menu(page, "audio")
        expect(audio.locator("[aria-checked=true]")).to_have_text("French (stereo)")
        wait_until(page, f"{HLS}.subtitleTrack === 0")  # still showing English
