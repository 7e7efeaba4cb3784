"""An item's page as a household meets it, in Debian's Chromium at a laptop's, a phone's and
a TV's size: Play first, the choices before playing, the cast, and a show's episodes with
Next up, previous and next in the player, and the "Up next" countdown that plays the next
episode (its start fetched while the credits run).

One server for the module: a film with two audio languages, a sidecar subtitle, a backdrop
and a cast; a show with two 4 s episodes.  Screenshots of each page at each size are saved.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from mediaserver.config import LibrarySettings, LoggingSettings, Settings
from mediaserver.testing import make_clip
from tests.browser.test_first_hour import SIZES, open_page, wait_until
from tests.browser.test_ui import CHROMIUM, SCREENSHOTS, api_headers, serve_hearth

VIDEO = "document.getElementById('player')"
FILM = "Lantern Bay"
SHOW = "Tide Pool"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

FILM_NFO = f"""<movie><title>{FILM}</title><year>2019</year><genre>Drama</genre>
<plot>A lighthouse keeper's daughter keeps the lamp lit through one long winter.</plot>
<director>Ada Lind</director>
<actor><name>Maren Holt</name><role>Ingrid</role></actor>
<actor><name>Tomas Berg</name><role>The keeper</role></actor></movie>"""


def _media(root: Path) -> tuple[Path, Path]:
    films, shows = root / "Films", root / "Shows"
    film = films / f"{FILM} (2019)" / f"{FILM} (2019).mp4"
    make_clip(
        film,
        seconds=12,
        size="640x360",
        audio_language="eng",
        extra_audio_languages=("fre",),
        output={"movflags": "+faststart"},
    )
    film.with_suffix(".nfo").write_text(FILM_NFO, encoding="utf-8")
    film.with_suffix(".en.srt").write_text(
        "1\n00:00:00,500 --> 00:00:10,000\nThe lamp is lit\n", encoding="utf-8"
    )
    backdrop = Image.linear_gradient("L").resize((1280, 720)).convert("RGB")
    backdrop.save(film.parent / "fanart.jpg", quality=85)
    season = shows / SHOW / "Season 01"
    for n in (1, 2):
        make_clip(
            season / f"Tide.Pool.S01E0{n}.mp4",
            seconds=4,
            video="testsrc" if n == 1 else "smptebars",
            output={"movflags": "+faststart"},
        )
    return films, shows


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    films, shows = _media(tmp_path_factory.mktemp("media"))
    settings = Settings(
        data_dir=str(tmp_path_factory.mktemp("data")),
        library=LibrarySettings(
            media_dirs=(str(films), str(shows)), watch=False, scan_interval_minutes=0
        ),
        logging=LoggingSettings(level="warning"),
    )
    with serve_hearth(settings) as url:
        yield url


@pytest.fixture(scope="module")
def ids(base_url: str) -> dict[str, int]:
    found = httpx.get(
        base_url + "/api/v1/items",
        params={"kind": "movie,show,episode"},
        headers=api_headers(base_url),
        timeout=5,
    ).json()["items"]
    return {item["title"]: int(item["id"]) for item in found}


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_the_item_page_leads_with_play(
    browser: Browser, base_url: str, ids: dict[str, int], size: str
) -> None:
    with open_page(browser, base_url, size) as page:
        page.goto(f"{base_url}/items/{ids[FILM]}")
        # "Play", or "Resume from ..." once an earlier size has played it.
        play = page.locator(".actions .primary:visible")
        expect(play).to_have_text(re.compile(r"^\s*(Play|Resume from \d:\d\d)\s*$"))
        expect(play).to_be_focused()  # the first thing a remote's OK does
        expect(play).to_be_in_viewport()
        box = play.bounding_box()
        assert box is not None and box["height"] >= 44
        page.wait_for_function(
            "() => { const b = document.querySelector('.hero .backdrop');"
            " return b && b.complete && b.naturalWidth > 0; }"
        )
        # The choices are there before playing, in words.
        audio = page.get_by_role("combobox", name="Audio")
        expect(audio.locator("option")).to_have_text(["English (stereo)", "French (stereo)"])
        subtitles = page.get_by_role("combobox", name="Subtitles")
        expect(subtitles.locator("option")).to_have_text(["Off", "English"])
        cast = page.locator(".cast .person")
        expect(cast).to_have_count(2)
        expect(cast.first).to_contain_text("Maren Holt")
        expect(cast.first.locator(".person-initials")).to_have_text("MH")
        shoot(page, f"item-{size}.png")

        # French chosen before playing is what plays.
        audio.select_option(label="French (stereo)")
        wait_until(
            page,
            "document.querySelector('[data-player]').hearthPlayer.answer.decision.audio_index === 2",
        )
        page.evaluate(f"{VIDEO}.muted = true")
        if size == "phone":
            play.tap()
        else:
            page.keyboard.press("Enter")
        wait_until(page, f"{VIDEO}.currentTime > 1 && !{VIDEO}.paused", 20_000)
        answer = page.evaluate("document.querySelector('[data-player]').hearthPlayer.answer")
        assert answer["decision"]["audio_index"] == 2
        player = page.locator("[data-player]").bounding_box()
        assert player is not None
        if size == "phone":  # the whole window
            assert (player["width"], player["height"]) == (390, 844)
        else:  # in view, and large
            assert player["y"] >= 0 and player["y"] + player["height"] <= SIZES[size]["height"]
            assert player["height"] >= SIZES[size]["height"] * 0.6
            expect(page.locator("[data-player]")).to_be_focused()
        shoot(page, f"player-open-{size}.png")


def test_a_tv_remote_opens_a_film_and_plays_it_with_ok(
    browser: Browser, base_url: str, ids: dict[str, int]
) -> None:
    """Arrows reach the film's card; OK opens it with Play (or Resume) already focused, so
    playing takes no key press beyond OK: the measure is at most two from opening an item."""
    card = "document.activeElement.matches('[data-nav=card]') && document.activeElement.textContent"
    with open_page(browser, base_url, "tv") as page:
        page.goto(base_url + "/")
        presses = 0
        same_row = f"""() => {{ const row = document.activeElement.closest('.row, .libraries');
                              return !!row && row.textContent.includes({FILM!r}); }}"""
        while FILM not in (page.evaluate(card) or ""):
            # Down to the row with the film, then along it: as a remote's arrows would.
            page.keyboard.press("ArrowRight" if page.evaluate(same_row) else "ArrowDown")
            presses += 1
            assert presses < 12, "the film's card is not reachable with arrows"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base_url}/items/{ids[FILM]}")
        expect(page.locator(".actions .primary:visible")).to_be_focused()
        page.evaluate(f"{VIDEO}.muted = true")
        page.keyboard.press("Enter")  # the one press
        wait_until(page, f"{VIDEO}.currentTime > 0.5 && !{VIDEO}.paused", 20_000)


def test_a_show_offers_its_next_episode_and_plays_on_to_it(
    browser: Browser, base_url: str, ids: dict[str, int]
) -> None:
    with open_page(browser, base_url, "laptop") as page:
        page.goto(f"{base_url}/items/{ids[SHOW]}")
        first = page.get_by_role("link", name=re.compile(r"^Play S1:E1"))
        expect(first).to_be_focused()
        shoot(page, "show-laptop.png")
        first.click()
        page.wait_for_url(re.compile(r"/items/\d+$"))  # ?autoplay=1 is dropped once used
        episode_one = page.url
        wait_until(page, f"{VIDEO}.currentTime > 0.5")
        expect(page.get_by_role("link", name=re.compile(r"^Next episode: "))).to_have_attribute(
            "href", re.compile(r"^/items/\d+\?autoplay=1$")
        )
        # The credits: the next episode's start is fetched before the end.
        expect(page.locator("[data-player]")).to_have_attribute("data-next-warm", "ready")
        card = page.locator("[data-up-next]")
        expect(card).to_be_visible(timeout=30_000)  # a 4 s episode played out
        expect(card).to_contain_text(re.compile(r"playing in \d+ s"))
        shoot(page, "up-next-laptop.png")
        page.wait_for_url(lambda url: url != episode_one, timeout=15_000)
        wait_until(page, f"{VIDEO}.currentTime > 0.5", 15_000)
        expect(page.locator(".hero")).to_contain_text("Season 1, episode 2")
        # The first episode is watched now: the show's button moves on.
        page.goto(f"{base_url}/items/{ids[SHOW]}")
        expect(
            page.get_by_role("link", name=re.compile(r"^(Resume|Next up:) S1:E2"))
        ).to_be_visible()
        expect(page.locator(".episodes li").first.locator(".watched-tick")).to_be_visible()


def test_the_countdown_can_be_cancelled_and_switched_off(
    browser: Browser, base_url: str, ids: dict[str, int]
) -> None:
    api = httpx.Client(base_url=base_url, headers=api_headers(base_url), timeout=5)
    me = api.get("/api/v1/auth/me").json()["id"]
    with open_page(browser, base_url, "laptop") as page:
        page.clock.install()  # the countdown's seconds pass when the test says so
        page.goto(f"{base_url}/items/{ids[SHOW]}")
        page.locator(".episodes a").first.click()
        episode = page.url
        page.evaluate(f"{VIDEO}.muted = true")
        page.locator(".actions .primary:visible").click()  # Play, or Start over's neighbour
        card = page.locator("[data-up-next]")
        expect(card).to_be_visible(timeout=30_000)  # a 4 s episode played out
        expect(card).to_contain_text("playing in 10 s")
        card.get_by_role("button", name="Cancel").click()
        expect(card).to_be_hidden()
        page.clock.run_for(15_000)
        assert page.url == episode

        preferences = api.get(f"/api/v1/users/{me}/preferences").json()
        saved = api.put(
            f"/api/v1/users/{me}/preferences", json={**preferences, "autoplay_next": False}
        )
        assert saved.status_code == 200, saved.text
        try:
            page.goto(f"{episode}?autoplay=1")
            expect(card).to_be_visible(timeout=30_000)  # a 4 s episode played out
            expect(card.get_by_role("link", name="Play now")).to_be_focused()
            page.clock.run_for(15_000)
            assert page.url == episode
            expect(card).not_to_contain_text("playing in")
        finally:
            api.put(f"/api/v1/users/{me}/preferences", json=preferences)


@pytest.mark.parametrize("size", sorted(SIZES))
def test_home_leads_with_what_to_watch(browser: Browser, base_url: str, size: str) -> None:
    with open_page(browser, base_url, size) as page:
        page.goto(base_url + "/")
        headings = page.locator("main h2").all_inner_texts()
        # Each library's new titles before the list of libraries; no scan status for admins.
        assert headings.index("Recently added in Films") < headings.index("Libraries"), headings
        assert "Recently added in Shows" in headings
        expect(page.locator("#scan-status")).to_have_count(0)
        card = page.locator(".home-row .card").first.bounding_box()
        assert card is not None
        if size == "tv":  # posters a sofa can see
            assert card["width"] >= 220, card
        widths = page.evaluate("document.documentElement.scrollWidth")
        assert widths <= SIZES[size]["width"]
        shoot(page, f"home-{size}.png")


def test_arrows_reach_every_control_not_only_cards(
    browser: Browser, base_url: str, ids: dict[str, int]
) -> None:
    with open_page(browser, base_url, "tv") as page:
        page.goto(f"{base_url}/items/{ids[FILM]}")
        primary = page.locator(".actions .primary:visible")
        expect(primary).to_be_focused()
        seen = []
        for key in (
            "ArrowRight",
            "ArrowDown",
            "ArrowDown",
            "ArrowUp",
            "ArrowUp",
            "ArrowUp",
            "ArrowUp",
        ):
            page.keyboard.press(key)
            seen.append(
                page.evaluate(
                    "document.activeElement.getAttribute('aria-label')"
                    " || document.activeElement.closest('label')?.textContent.trim().split(/\\s/)[0]"
                    " || document.activeElement.textContent.trim()"
                )
            )
        # Right to the next button, down to the choices (a closed menu is passed over like a
        # button, without changing it), down again to the director (a link to their page),
        # and back up to the choices and the buttons, and on into the header.
        assert seen[0] in ("Start over", "Mark watched", "Watched ✓"), seen
        assert seen[1] in ("Audio", "Subtitles"), seen
        assert seen[2] == "Ada Lind", seen
        assert seen[3] in ("Audio", "Subtitles"), seen
        assert page.evaluate("!!document.activeElement.closest('header')"), seen
        assert (
            page.evaluate("document.querySelector('[data-player]').hearthPlayer.choice.audio") == 1
        )


def test_the_settings_panel_changes_speed_and_subtitles_and_tells_the_stream(
    browser: Browser, base_url: str, ids: dict[str, int]
) -> None:
    track = f"[...{VIDEO}.textTracks].find((t) => t.mode === 'showing')"
    with open_page(browser, base_url, "laptop") as page:
        page.goto(f"{base_url}/items/{ids[FILM]}")
        page.get_by_role("combobox", name="Subtitles").select_option(label="English")
        page.evaluate(f"{VIDEO}.muted = true")
        page.locator(".actions .primary:visible").click()
        wait_until(
            page, f"{VIDEO}.currentTime > 0.6 && !!{track} && {track}.cues.length > 0", 20_000
        )
        start = float(page.evaluate(f"{track}.cues[0].startTime"))

        page.locator("[data-player]").hover()
        page.get_by_role("button", name="Playback settings").click()
        panel = page.get_by_role("dialog", name="Playback settings")
        expect(panel).to_be_visible()
        panel.get_by_label("Speed").select_option("1.5")
        assert page.evaluate(f"{VIDEO}.playbackRate") == 1.5
        panel.get_by_label("Subtitle size").select_option("large")
        expect(page.locator("[data-player]")).to_have_attribute("data-subtitle-size", "large")
        panel.get_by_label("Subtitle position").select_option("raised")
        wait_until(page, f"{track}.cues[0].line === -4")
        panel.get_by_role("button", name="Subtitles later by half a second").click()
        panel.get_by_role("button", name="Subtitles later by half a second").click()
        expect(panel.locator("output")).to_have_text("+1.0 s")
        wait_until(page, f"Math.abs({track}.cues[0].startTime - {start + 1.0}) < 0.01")
        panel.get_by_role("button", name="Subtitles earlier by half a second").click()
        wait_until(page, f"Math.abs({track}.cues[0].startTime - {start + 0.5}) < 0.01")

        panel.get_by_role("button", name="Stream info").click()
        info = page.locator("[data-stream-info]")
        expect(info).to_contain_text("Direct play: the file as it is")
        expect(info).to_contain_text("640×360")
        expect(info).to_contain_text("1.5×")
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        page.evaluate(f"{VIDEO}.pause()")
        page.locator("[data-player]").scroll_into_view_if_needed()
        shoot(page, "player-settings-laptop.png")
