"""Recommendations on the home page, in Debian's Chromium against a real Hearth.

One server and one browser for the module, over seven ten-second clips of a plain colour
at 1 fps, given genres by NFO files: four comedies and three horror films.  Pat and Quin
(members) watched most of them, Mira (a member) two comedies; their viewing goes through
``/api/v1/items/{id}/progress`` and the admin runs the job through the tasks API.  Mira
signs in, sees rows with a reason under every title, and says "Not interested" to one: the
card goes without a reload (htmx) and stays gone after one.  Pat turns down every pick of
"Recommended for you": the row goes, heading and all.  Neo, new, is asked "What do
you like?", ticks Horror, and (once the run the form starts is over) finds "Picked for you".
Pages run under ``strict_page``: a CSP violation or a console error fails the test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from mediaserver.config import LibrarySettings, LoggingSettings, RecommendationSettings, Settings
from mediaserver.testing import make_clip
from tests.browser.test_accounts_ui import sign_in, signed_in_as
from tests.browser.test_csp import goto, strict_page
from tests.browser.test_ui import CHROMIUM, api_headers, serve_hearth
from tests.integration.test_recommendations_api import job_state, run_job

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

LENGTH = 10.0
PASSWORD = "a long household password"
# title -> (genre, lavfi colour)
FILMS = {
    "Banana Peel": ("Comedy", "yellow"),
    "Custard Pie": ("Comedy", "orange"),
    "Rubber Chicken": ("Comedy", "red"),
    "Silly Walk": ("Comedy", "pink"),
    "Black Cellar": ("Horror", "black"),
    "Grave Hour": ("Horror", "gray"),
    "Night Crawler": ("Horror", "navy"),
}
VIEWING = {  # member -> films watched to the end
    "Pat": ["Banana Peel", "Custard Pie", "Rubber Chicken", "Silly Walk", "Black Cellar"],
    "Quin": ["Banana Peel", "Custard Pie", "Silly Walk", "Grave Hour", "Night Crawler"],
    "Mira": ["Banana Peel", "Custard Pie"],
}


@dataclass
class Home:
    url: str
    http: httpx.Client
    admin: dict[str, str]
    ids: dict[str, int]

    def run(self) -> None:
        run_job(self.http, self.admin)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    media = tmp_path_factory.mktemp("media") / "Library"
    for n, (title, (genre, colour)) in enumerate(FILMS.items()):
        path = media / f"{title} ({2010 + n}).mp4"
        make_clip(path, seconds=LENGTH, size="64x36", video=f"color=c={colour}", audio=False,
                  output={"r": 1, "preset": "ultrafast"})  # fmt: skip
        path.with_suffix(".nfo").write_text(
            f"<movie><title>{title}</title><year>{2010 + n}</year><genre>{genre}</genre>"
            f"<mpaa>PG</mpaa><plot>A {genre.lower()} film, number {n}.</plot></movie>",
            encoding="utf-8",
        )
    settings = Settings(
        data_dir=str(tmp_path_factory.mktemp("data")),
        library=LibrarySettings(media_dirs=(str(media),), watch=False, scan_interval_minutes=0),
        logging=LoggingSettings(level="warning"),
        recommendations=RecommendationSettings(after_events=0),  # runs only when asked
    )
    with serve_hearth(settings) as url, httpx.Client(base_url=url, timeout=10) as http:
        admin = api_headers(url)
        items = http.get("/api/v1/items", params={"limit": 500}, headers=admin).json()["items"]
        ids = {item["title"]: int(item["id"]) for item in items}
        assert set(ids) == set(FILMS), ids
        for name in (*VIEWING, "Neo"):
            made = http.post("/api/v1/users", json={"name": name, "password": PASSWORD},
                             headers=admin)  # fmt: skip
            assert made.status_code == 201, made.text
        for name, titles in VIEWING.items():
            login = http.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
            assert login.status_code == 200, login.text
            member = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for title in titles:
                answer = http.post(f"/api/v1/items/{ids[title]}/progress", headers=member,
                                   json={"position_s": LENGTH - 0.4, "state": "stopped"})  # fmt: skip
                assert answer.status_code == 200 and answer.json()["user_data"]["watched"]
        home = Home(url, http, admin, ids)
        home.run()
        yield home


def reload_until(page: Page, selector: str, what: str, timeout: float = 30.0) -> None:
    """Reload the page until ``selector`` is on it (a background job is filling it in)."""
    deadline = time.monotonic() + timeout
    while not page.locator(selector).count():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        page.wait_for_timeout(250)
        goto(page, page.url)


def test_not_interested_takes_a_card_away_for_good(browser: Browser, home: Home) -> None:
    with strict_page(browser, home.url, signed_in=False) as page:
        sign_in(page, home.url, "Mira", PASSWORD)
        signed_in_as(page, home.url, "Mira")
        rows = page.locator("section.recommendations")
        expect(rows.first).to_have_attribute("data-row", "for-you")
        expect(rows.first.locator("h2")).to_have_text("Recommended for you")
        for row in rows.all():
            cards = row.locator(".rec")
            assert cards.count() >= 1, row.get_attribute("data-row")
            for card in cards.all():
                reason = card.locator("p.reason").inner_text().strip()
                assert reason, card.inner_text()
                title = card.locator(".card-title").inner_text()
                assert title not in VIEWING["Mira"], (title, "was watched already")
        picks = rows.first.locator(".rec")
        count = picks.count()
        assert count >= 2, count
        first = picks.first
        title = first.locator(".card-title").inner_text()
        button = first.get_by_role("button", name=f"Not interested in {title}")
        page.evaluate("window.hearthNoReload = true")
        with page.expect_response(
            lambda r: (
                r.request.method == "POST"
                and r.url == f"{home.url}/recommendations/{home.ids[title]}/not-interested"
            )
        ) as answer:
            button.click()
        assert answer.value.ok and answer.value.status != 204  # htmx swaps on 2xx but 204
        expect(picks).to_have_count(count - 1)
        expect(rows.first.locator(".card-title", has_text=title)).to_have_count(0)
        assert page.evaluate("window.hearthNoReload === true"), "the page was reloaded"

        goto(page, home.url + "/")
        expect(rows.first).to_have_attribute("data-row", "for-you")
        expect(rows.locator(".card-title").filter(has_text=title)).to_have_count(0)
        expect(page.get_by_role("button", name=f"Not interested in {title}")).to_have_count(0)


def test_a_row_whose_last_card_goes_goes_with_its_heading(browser: Browser, home: Home) -> None:
    """Issue 15, point 11: no empty "Recommended for you" heading is left behind; a title
    taken out of one row leaves the others too."""
    with strict_page(browser, home.url, signed_in=False) as page:
        sign_in(page, home.url, "Pat", PASSWORD)  # two films left that Pat has not seen
        signed_in_as(page, home.url, "Pat")
        rows = page.locator("section.recommendations")
        expect(rows.first).to_have_attribute("data-row", "for-you")
        page.evaluate("window.hearthNoReload = true")
        mine = page.locator("section[data-row=for-you]")
        titles = mine.locator(".rec .card-title").all_inner_texts()
        assert titles, "Pat has picks"
        for title in titles:
            card = mine.locator(".rec", has_text=title)
            with page.expect_response(lambda r: r.url.endswith("/not-interested")) as answer:
                card.get_by_role("button", name=f"Not interested in {title}").click()
            assert answer.value.ok
            expect(rows.locator(".card-title").filter(has_text=title)).to_have_count(0)
        expect(mine).to_have_count(0)
        expect(page.get_by_role("heading", name="Recommended for you")).to_have_count(0)
        for row in rows.all():  # whatever rows are left still hold a card each
            expect(row.locator(".rec").first).to_be_visible()
        assert page.evaluate("window.hearthNoReload === true"), "the page was reloaded"


def test_a_newcomer_picks_genres_and_gets_picks(browser: Browser, home: Home) -> None:
    with strict_page(browser, home.url, signed_in=False) as page:
        sign_in(page, home.url, "Neo", PASSWORD)
        signed_in_as(page, home.url, "Neo")
        likes = page.locator("section.likes")
        expect(likes.get_by_role("heading", name="What do you like?")).to_be_visible()
        expect(page.locator("section[data-row=likes]")).to_have_count(0)
        expect(
            page.locator("section.recommendations[data-row=trending] .rec").first
        ).to_be_visible()
        choices = likes.get_by_role("checkbox")
        expect(choices).to_have_count(2)  # Comedy and Horror
        likes.get_by_label("Horror").check()
        # The form starts the job; one already running would not see Neo's genres.
        assert job_state(home.http, home.admin)["running_since"] is None
        likes.get_by_role("button", name="Suggest something").click()
        page.wait_for_url(home.url + "/?picked=1")
        expect(page.get_by_role("status")).to_contain_text("your picks are being worked out")

        reload_until(page, "section[data-row=likes]", "the 'Picked for you' row")
        picked = page.locator("section[data-row=likes]")
        expect(picked.locator("h2")).to_have_text("Picked for you")
        titles = picked.locator(".card-title").all_inner_texts()
        horror = [t for t, (genre, _) in FILMS.items() if genre == "Horror"]
        assert titles and set(titles) <= set(horror), titles
        expect(picked.locator("p.reason")).to_have_text(
            ["In genres you like: Horror"] * len(titles)
        )
        expect(page.get_by_role("heading", name="What do you like?")).to_have_count(0)
