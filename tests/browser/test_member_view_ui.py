"""What a member with a rating limit sees of a collection, in Debian's Chromium.

One server and one browser for the module over two one-second films of the collection "Sea
Saga": the older one rated PG-13 (an admin's collection card shows its poster), the other
PG.  Robin may see up to PG and signs in through the real form: the collection is "1 film"
with the PG film's poster, and its page holds one card (issue 15, bug 4).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, expect

from mediaserver.testing import make_clip
from tests.browser.test_accounts_ui import sign_in, signed_in_as
from tests.browser.test_csp import goto, strict_page
from tests.browser.test_ui import CHROMIUM, api_headers, serve_library

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

PASSWORD = "a long household password"
FILMS = {"Sea Dragon": (2001, "PG-13", "red"), "Sea Picnic": (2002, "PG", "blue")}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Films"
    for title, (year, rating, colour) in FILMS.items():
        video = media / f"{title} ({year})" / f"{title} ({year}).mp4"
        make_clip(video, seconds=1, size="96x54", video=f"color=c={colour}", audio=False)
        video.with_suffix(".nfo").write_text(
            f"<movie><title>{title}</title><year>{year}</year><mpaa>{rating}</mpaa>"
            "<set><name>Sea Saga</name></set></movie>",
            encoding="utf-8",
        )
    with serve_library(tmp_path_factory, media) as url:
        with httpx.Client(base_url=url, headers=api_headers(url), timeout=10) as api:
            made = api.post(
                "/api/v1/users", json={"name": "Robin", "password": PASSWORD, "max_rating": "PG"}
            )
            assert made.status_code == 201, made.text
        yield url


def test_a_member_sees_one_film_in_a_collection_of_two(browser: Browser, base_url: str) -> None:
    with httpx.Client(base_url=base_url, headers=api_headers(base_url), timeout=10) as api:
        ids = {i["title"]: i["id"] for i in api.get("/api/v1/items").json()["items"]}
    with strict_page(browser, base_url, signed_in=False) as page:
        sign_in(page, base_url, "Robin", PASSWORD)
        signed_in_as(page, base_url, "Robin")
        card = page.locator("section[aria-labelledby=collections] .card")
        expect(card).to_have_count(1)
        expect(card.locator(".card-title")).to_have_text("Sea Saga")
        expect(card.locator(".card-sub")).to_have_text("1 film")
        poster = card.locator("img")
        expect(poster).to_have_attribute(
            "src", f"/api/v1/items/{ids['Sea Picnic']}/image/poster?width=300"
        )
        poster.scroll_into_view_if_needed()
        loaded = "img => img.complete && img.naturalWidth > 0"
        page.wait_for_function(loaded, arg=poster.element_handle())

        card.click()
        page.wait_for_url(f"{base_url}/items/{ids['Sea Saga']}")
        expect(page.locator("main h1")).to_have_text("Sea Saga (1 film)")
        films = page.locator("main .grid .card")
        expect(films).to_have_count(1)
        expect(films.locator(".card-title")).to_have_text("Sea Picnic")
        expect(page.locator("main")).not_to_contain_text("Sea Dragon")

        goto(page, base_url + "/search?q=sea")
        expect(page.locator("main .card")).to_have_count(2)  # the PG film and its collection
        expect(page.locator("main .kind-collection .card-sub")).to_have_text("1 film")
        expect(page.locator("main")).not_to_contain_text("Sea Dragon")
