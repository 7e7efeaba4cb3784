"""The search box in Debian's Chromium: a title typed with a typo and the other spelling
found as you type, ↓ into the results and Enter to open one at a laptop's size, and the
whole round by keyboard alone at a TV's 1920x1080 (arrows between results, ↑ back to the
box, Escape to close), with people and genres in their own sections.

One server for the module over four tiny films with cast and genres in their NFOs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from mediaserver.testing import make_clip
from tests.browser.test_ui import CHROMIUM, SCREENSHOTS, open_page, serve_library

LAPTOP: ViewportSize = {"width": 1366, "height": 850}
TV: ViewportSize = {"width": 1920, "height": 1080}
FILMS = {  # title -> (year, genre, actor)
    "Moonlight Harbour": (2012, "Drama", "Ines Harbord"),
    "Harbour Lights": (1998, "Comedy", "Tom Quill"),
    "Silent Meadow": (2005, "Drama", "Tom Quill"),
    "Quiet Hills": (2001, "Western", "Ada Vance"),
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Films"
    for title, (year, genre, actor) in FILMS.items():
        path = media / f"{title} ({year})" / f"{title} ({year}).mp4"
        make_clip(path, seconds=1, output={"movflags": "+faststart"})
        path.with_suffix(".nfo").write_text(
            f"<movie><title>{title}</title><year>{year}</year><genre>{genre}</genre>"
            f"<actor><name>{actor}</name></actor></movie>",
            encoding="utf-8",
        )
    with serve_library(tmp_path_factory, media) as url:
        yield url


def focused(page: Page) -> str:
    """What has the focus: the search box, or a result's link and text."""
    return str(
        page.evaluate(
            """() => { const el = document.activeElement;
                       if (el.id === "search-box") return "box";
                       return `${el.getAttribute("href")} ${el.innerText.split("\\n")[0]}`; }"""
        )
    )


def test_a_typo_then_down_and_enter_opens_the_title(browser: Browser, base_url: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with open_page(browser, base_url, LAPTOP) as page:
        page.goto(base_url + "/")
        box = page.locator("#search-box")
        box.click()
        box.press_sequentially("moonlihgt harbor", delay=30)  # two letters swapped, US spelling
        results = page.locator("#search-results")
        expect(results.locator("a.card").first).to_contain_text("Moonlight Harbour")
        page.screenshot(path=SCREENSHOTS / "search.png")
        box.press("ArrowDown")
        assert re.fullmatch(r"/items/\d+ Moonlight Harbour", focused(page))
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/items/\d+$"))
        expect(page.locator("h1")).to_contain_text("Moonlight Harbour")


def test_keyboard_only_at_tv_size(browser: Browser, base_url: str) -> None:
    with open_page(browser, base_url, TV) as page:
        page.goto(base_url + "/")
        page.keyboard.press("/")
        assert focused(page) == "box"
        page.keyboard.type("harbor", delay=30)
        results = page.locator("#search-results")
        titles = results.locator("[aria-labelledby=found-titles] a.card")
        expect(titles).to_have_count(2)
        expect(results.locator("[aria-labelledby=found-people]")).to_contain_text("Ines Harbord")
        first, second = (titles.nth(n).inner_text().split("\n")[0] for n in (0, 1))
        page.screenshot(path=SCREENSHOTS / "search-tv.png")

        page.keyboard.press("ArrowDown")  # into the results: the first title
        assert focused(page).endswith(first)
        page.keyboard.press("ArrowRight")  # the next poster in the row
        assert focused(page).endswith(second)
        page.keyboard.press("ArrowLeft")
        assert focused(page).endswith(first)
        page.keyboard.press("ArrowDown")  # the row below: People
        assert re.fullmatch(r"/people/\d+ .*", focused(page)), focused(page)
        page.keyboard.press("ArrowUp")
        assert focused(page).endswith(first)
        page.keyboard.press("ArrowUp")  # from the top row: back to the box
        assert focused(page) == "box"

        page.keyboard.press("Escape")  # closes the results, the box keeps the words
        expect(results).to_be_empty()
        assert focused(page) == "box"
        expect(page.locator("#search-box")).to_have_value("harbor")
        page.keyboard.press("ArrowDown")  # asks again and goes in when the answer is there
        expect(titles).to_have_count(2)
        page.wait_for_function("() => document.activeElement.matches('#search-results a.card')")
        page.keyboard.press("Escape")  # from a result: closed, back in the box
        assert focused(page) == "box"
        page.keyboard.press("Escape")  # nothing open: the box lets go
        assert page.evaluate("document.activeElement === document.body")

        page.keyboard.press("/")
        page.keyboard.press("Control+A")
        page.keyboard.type("dram", delay=30)  # a genre's beginning
        genre = results.locator("[aria-labelledby=found-genres] a.chip")
        expect(genre).to_have_text(re.compile(r"^Drama\s+2$"))
        for _ in range(4):  # down through the sections to the genre
            page.keyboard.press("ArrowDown")
            if "/genres/" in focused(page):
                break
        assert focused(page).startswith("/genres/Drama")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r"/genres/Drama$"))
        cards = page.locator("main a.card")
        expect(cards).to_have_count(2)
        expect(cards.first).to_contain_text("Moonlight Harbour")
