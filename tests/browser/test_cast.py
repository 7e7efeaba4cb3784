"""An item page's cast and "More like this" in Debian's Chromium at a laptop's size.

Three films: "Lantern Bay", whose cast has photos in Kodi's ``.actors`` folder (one name
with an accent, one file named without it) and one actor without; "Harbour Watch", a drama
with one of the same actors; "Loud Hall", a comedy like neither.  The recommendation job has
not run: "More like this" is the catalog's own answer.  Screenshots of both are saved.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, expect

from mediaserver.testing import make_clip
from tests.browser.test_item_page import SIZES, open_page, shoot
from tests.browser.test_ui import CHROMIUM, api_headers, serve_library

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

FILM, LIKE, UNLIKE = "Lantern Bay", "Harbour Watch", "Loud Hall"
CAST = [
    ("Maren Holt", "Ingrid", "Maren_Holt.jpg", "#c0392b"),
    ("Jonas Tørnqvist", "The keeper", "Jonas_Tornqvist.jpg", "#2e86c1"),
    ("Ada Lind", "The ferry captain", None, ""),
]


def _face(colour: str) -> bytes:
    """A portrait: a head and shoulders on a coloured ground, 600×900 like a camera's."""
    picture = Image.new("RGB", (600, 900), colour)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((180, 180, 420, 460), fill="#f1d3b3")
    draw.ellipse((90, 520, 510, 1100), fill="#1b2631")
    out = io.BytesIO()
    picture.save(out, "JPEG")
    return out.getvalue()


def _nfo(title: str, genre: str, cast: list[tuple[str, str]]) -> str:
    actors = "".join(f"<actor><name>{n}</name><role>{r}</role></actor>" for n, r in cast)
    return f"<movie><title>{title}</title><genre>{genre}</genre>{actors}</movie>"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    films = tmp_path_factory.mktemp("media") / "Films"
    for title, genre, cast, video in (
        (FILM, "Drama", [(n, r) for n, r, _, _ in CAST], "testsrc2"),
        (LIKE, "Drama", [("Maren Holt", "Signe")], "smptebars"),
        (UNLIKE, "Comedy", [("Ola Dahl", "Herself")], "rgbtestsrc"),
    ):
        clip = films / title / f"{title}.mp4"
        make_clip(clip, seconds=1, size="320x180", video=video)
        clip.with_suffix(".nfo").write_text(_nfo(title, genre, cast), encoding="utf-8")
    photos = films / FILM / ".actors"
    photos.mkdir()
    for _, _, name, colour in CAST:
        if name:
            (photos / name).write_bytes(_face(colour))
    with serve_library(tmp_path_factory, films) as url:
        yield url


def _id(base_url: str, title: str) -> int:
    found = httpx.get(
        base_url + "/api/v1/items", params={"q": title}, headers=api_headers(base_url), timeout=5
    ).json()["items"]
    return int(next(i["id"] for i in found if i["title"] == title))


def test_the_cast_shows_faces_and_characters_and_more_like_this_leads_on(
    browser: Browser, base_url: str
) -> None:
    with open_page(browser, base_url, "laptop") as page:
        assert SIZES["laptop"] == {"width": 1366, "height": 850}
        page.goto(f"{base_url}/items/{_id(base_url, FILM)}")
        people = page.locator(".cast .person")
        expect(people).to_have_count(3)
        for n, (name, character, photo, _) in enumerate(CAST):
            person = people.nth(n)
            expect(person.locator(".person-name")).to_have_text(name)
            expect(person.locator(".person-role")).to_have_text(character)
            if photo:
                face = person.locator("img")
                face.scroll_into_view_if_needed()
                # Loaded, and no larger than the server's cast photos (400 px wide).
                page.wait_for_function(
                    "img => img.complete && img.naturalWidth > 0", arg=face.element_handle()
                )
                assert face.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [400, 600]
            else:
                expect(person.locator("img")).to_have_count(0)
                expect(person.locator(".person-initials")).to_have_text("AL")
        page.locator(".cast").scroll_into_view_if_needed()
        shoot(page, "cast-laptop.png")

        more = page.locator("section.similar")
        expect(more.get_by_role("heading", name="More like this")).to_be_visible()
        cards = more.locator(".card")
        expect(cards).to_have_count(1)  # the other drama; the comedy is like nothing here
        expect(cards.first).to_contain_text(LIKE)
        more.scroll_into_view_if_needed()
        shoot(page, "more-like-this-laptop.png")

        cards.first.click()
        page.wait_for_url(f"{base_url}/items/{_id(base_url, LIKE)}")
        expect(page.locator("h1")).to_contain_text(LIKE)
        expect(page.locator("section.similar .card").first).to_contain_text(FILM)
