"""Browsing a library in Debian's Chromium at a phone's, a laptop's and a TV's size: the
filters (folded under "Filters" on a phone), the A-Z bar, grid and list, and a favourite
that shows up in the Favourites filter and on the home page.

One server for the module over 51 films, two for each letter but X and one that starts
with a digit: more than one page (48), so a letter jump has a "More…" to page on to.
The films are copies of one tiny clip with an NFO each (titles, years, genres).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from mediaserver.testing import make_clip
from tests.browser.test_first_hour import SIZES, open_page
from tests.browser.test_ui import CHROMIUM, SCREENSHOTS, api_headers, serve_library

WORDS = """Amber Coast, Atlas Road, Blue Harbour, Bright Field, Cedar Hill, Copper Moon,
Dawn Patrol, Desert Song, Echo Valley, Ember Lake, Falcon Ridge, Frost Line, Glass River,
Golden Hour, Harbour Lights, Hollow Oak, Iron Gate, Ivory Tower, Jade Garden, Juniper Lane,
Kestrel Bay, Kings Rest, Lantern Row, Lost Meadow, Maple Street, Midnight Train, Night Market,
North Star, Ocean Drive, Olive Grove, Paper Kites, Pine Hollow, Quarry Road, Quiet Hills,
Red Canyon, River Bend, Silver Lining, Stone Bridge, Tidal Wave, Tin Roof, Umber Fields,
Upper Deck, Velvet Night, Violet Sky, Willow Creek, Winter Road, Yellow Door, Yonder Hills,
Zephyr Sky, Zinc Town"""
TITLES = ["9 Lives", *(w.strip() for w in WORDS.split(","))]
# Every other film a comedy, one a year from 1960.
FILMS = {t: (1960 + n, "Comedy" if n % 2 else "Drama") for n, t in enumerate(TITLES)}
COMEDIES = sorted((t for t, (_, g) in FILMS.items() if g == "Comedy"), key=str.casefold)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Films"
    clip = make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1)
    for title, (year, genre) in FILMS.items():
        folder = media / f"{title} ({year})"
        folder.mkdir(parents=True)
        shutil.copyfile(clip, folder / f"{title} ({year}).mp4")
        (folder / f"{title} ({year}).nfo").write_text(
            f"<movie><title>{title}</title><year>{year}</year><genre>{genre}</genre></movie>",
            encoding="utf-8",
        )
    with serve_library(tmp_path_factory, media) as url:
        yield url


@pytest.fixture(scope="module")
def library_url(base_url: str) -> str:
    found = httpx.get(base_url + "/api/v1/libraries", headers=api_headers(base_url), timeout=5)
    return f"{base_url}/libraries/{found.json()['libraries'][0]['id']}"


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def focused(page: Page) -> str:
    """What has the focus: its data-nav kind and its title, text or (a menu's) name."""
    return str(
        page.evaluate(
            """() => { const el = document.activeElement;
                       const what = el.querySelector(".card-title")?.textContent || el.name
                                    || el.textContent.trim();
                       return `${el.dataset.nav || el.tagName}:${what}`; }"""
        )
    )


def open_filters(page: Page, size: str) -> None:
    """A phone folds the filters after each choice: one tap opens them again."""
    if size == "phone":
        page.get_by_text(re.compile(r"^Filters")).tap()


@pytest.mark.parametrize("size", list(SIZES))
def test_filter_jump_list_and_favourite(
    browser: Browser, base_url: str, library_url: str, size: str
) -> None:
    phone = size == "phone"
    with open_page(browser, base_url, size) as page:
        page.goto(library_url)
        cards = page.locator("#grid .card")
        expect(cards).to_have_count(48)  # a page; the rest come as it scrolls
        genre = page.get_by_label("Genre")
        if phone:  # folded: one tap opens the filters
            expect(genre).to_be_hidden()
            open_filters(page, size)
            expect(genre).to_be_visible()
            shoot(page, f"library-filters-{size}")
        else:
            expect(genre).to_be_visible()
            expect(page.get_by_text("Filters", exact=True)).to_be_hidden()
        with page.expect_navigation():
            genre.select_option("Comedy")
        assert query(page) == {"genre": ["Comedy"]}
        expect(cards).to_have_count(len(COMEDIES))
        expect(page.locator(".filter-panel summary")).to_have_text("Filters (1)")
        open_filters(page, size)
        with page.expect_navigation():
            page.get_by_label("Show").select_option(label="Unwatched")
        assert query(page) == {"status": ["unwatched"], "genre": ["Comedy"]}
        expect(cards).to_have_count(len(COMEDIES))  # nothing watched yet
        shoot(page, f"library-{size}")

        # A-Z: only letters with a comedy are links; a jump keeps the filters.
        letters = page.get_by_role("navigation", name="Jump to a letter")
        expect(letters.get_by_role("link")).to_have_count(len({t[0] for t in COMEDIES}))
        first_h = next(t for t in COMEDIES if t.startswith("H"))
        letters.get_by_role("link", name="Titles from H").click()
        page.wait_for_url(re.compile(r"starts=H"))
        assert query(page) == {"status": ["unwatched"], "genre": ["Comedy"], "starts": ["H"]}
        expect(cards.first).to_contain_text(first_h)
        expect(cards).to_have_count(len(COMEDIES) - COMEDIES.index(first_h))

        page.get_by_role("link", name="List", exact=True).click()
        page.wait_for_url(re.compile(r"view=list"))
        rows = page.locator("table.list-view tbody tr")
        expect(rows.first.get_by_role("rowheader")).to_have_text(first_h)
        expect(page.get_by_role("columnheader", name="Rating")).to_be_visible()
        shoot(page, f"library-list-{size}")

        # A favourite, from the item page; then the Favourites filter and the home row.
        rows.first.get_by_role("link").click()
        button = page.get_by_role("button", name="Favourite")
        expect(button).to_have_attribute("aria-pressed", "false")
        button.tap() if phone else button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
        shoot(page, f"item-favourite-{size}")
        page.goto(library_url)
        open_filters(page, size)
        with page.expect_navigation():
            page.get_by_label("Favourites only").check()
        assert query(page) == {"favourite": ["1"]}
        expect(cards).to_have_text([re.compile(re.escape(first_h))])
        page.goto(base_url + "/")
        row = page.get_by_role("region", name="Favourites")
        expect(row.locator(".card-title")).to_have_text([first_h])
        shoot(page, f"home-favourites-{size}")

        # Taken back: gone from the row.
        row.get_by_role("link").first.click()
        page.get_by_role("button", name="Favourite").click()
        expect(page.get_by_role("button", name="Favourite")).to_have_attribute(
            "aria-pressed", "false"
        )
        page.goto(base_url + "/")
        expect(page.get_by_role("region", name="Favourites")).to_have_count(0)


def test_a_letter_jump_pages_on_and_the_address_follows(
    browser: Browser, base_url: str, library_url: str
) -> None:
    with open_page(browser, base_url, "laptop") as page:
        page.goto(library_url)
        expect(page.locator(".letters .letter-off")).to_have_text(["X"])  # no X titles
        page.get_by_role("link", name="Titles from A").click()
        page.wait_for_url(re.compile(r"starts=A"))
        cards = page.locator("#grid .card")
        expect(cards).to_have_count(48)  # Amber Coast onwards: one less than all but 9 Lives
        expect(cards.first).to_contain_text("Amber Coast")
        page.get_by_role("link", name="Back to the first title").wait_for()
        entries = page.evaluate("history.length")
        page.locator(".more").scroll_into_view_if_needed()
        expect(cards).to_have_count(len(TITLES) - 1)  # the next page came in below
        expect(cards.last).to_contain_text("Zinc Town")
        expect(page).to_have_url(re.compile(r"starts=A&page=2$"))
        assert page.evaluate("history.length") == entries  # followed, with no new entries
        page.reload()  # the address alone gives the page back: the second page of the jump
        expect(cards).to_have_count(2)
        expect(cards.first).to_contain_text("Zephyr Sky")


def test_arrow_keys_reach_the_letters_and_the_filters(
    browser: Browser, base_url: str, library_url: str
) -> None:
    """A TV remote has arrows and OK: no Tab, no pointer.  From the top: the filters, the
    A-Z bar, then the cards; menus are passed over, never changed, by the arrows."""
    with open_page(browser, base_url, "tv") as page:
        page.goto(library_url)
        page.keyboard.press("ArrowDown")
        assert focused(page) == "filter:sort"  # where the page's content starts
        page.keyboard.press("ArrowDown")
        assert focused(page).startswith("letter:")  # the A-Z bar, under the menus
        for _ in range(27):  # along the bar to its start
            if focused(page) == "letter:#":
                break
            page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowDown")
        assert focused(page) == "card:9 Lives"
        page.keyboard.press("ArrowRight")
        assert focused(page) == "card:Amber Coast"
        page.keyboard.press("ArrowUp")
        assert focused(page).startswith("letter:")  # back up to the letters above it
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        assert focused(page).startswith("letter:")
        page.keyboard.press("ArrowUp")
        assert focused(page).startswith("filter:"), focused(page)  # the menus above
        before = page.url
        for key in ("ArrowRight", "ArrowLeft", "ArrowDown"):  # move, never change a menu
            page.keyboard.press(key)
        assert page.url == before
        assert not focused(page).startswith("filter:"), focused(page)
        for _ in range(3):  # below them: back up to the bar
            if focused(page).startswith("letter:"):
                break
            page.keyboard.press("ArrowUp")
        letter = focused(page).split(":")[1]
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert query(page) == {"starts": [letter]}
        expect(page.get_by_role("link", name=f"Titles from {letter}")).to_have_attribute(
            "aria-current", "true"
        )
        first = page.locator("#grid .card").first
        expect(first).to_contain_text(next(t for t in TITLES if t.startswith(letter)))
        page.keyboard.press("ArrowDown")  # the menus, then the letters, the link back, the cards
        assert focused(page) == "filter:sort"
        for expected in ("letter:", "A:Back to the first title", "card:"):
            page.keyboard.press("ArrowDown")
            assert focused(page).startswith(expected), focused(page)
        expect(first).to_be_focused()
        expect(page.get_by_label("Sort")).to_have_value("title")
        shoot(page, "library-keys-tv")
