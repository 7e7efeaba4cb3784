"""The activity log page in Debian's Chromium against a real Hearth on 127.0.0.1.

An admin who signs in through the form finds that sign-in on ``/admin/activity``, a failed
one marked as a warning, filters by kind without leaving the page, sees a new entry arrive
on its own (htmx polling) and pages back with "Older".  The page runs under
``strict_page``: a CSP violation or a console error fails the test.
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
from tests.integration.conftest import ADMIN_NAME, ADMIN_PASSWORD

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

PLAYS = 60  # more than a page (50): "Older" has something to show


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    make_clip(media / "Slow River (2021).mp4", seconds=1, size="64x36")
    with serve_library(tmp_path_factory, media) as url:
        yield url


def test_the_activity_page_filters_pages_and_follows_along(browser: Browser, base_url: str) -> None:
    api = httpx.Client(base_url=base_url, headers=api_headers(base_url), timeout=10)
    film = api.get("/api/v1/items").json()["items"][0]["id"]
    plays = [{"type": "play", "item_id": film, "session": f"s{n}"} for n in range(PLAYS)]
    assert api.post("/api/v1/playback/events", json={"events": plays}).status_code == 202
    wrong = {"username": ADMIN_NAME, "password": "not the admin's password"}
    assert httpx.post(base_url + "/api/v1/auth/login", json=wrong).status_code == 401

    with strict_page(browser, base_url, signed_in=False) as page:
        sign_in(page, base_url, ADMIN_NAME, ADMIN_PASSWORD)
        signed_in_as(page, base_url, ADMIN_NAME)
        page.locator("nav.account").get_by_role("link", name="Activity").click()
        page.wait_for_url(base_url + "/admin/activity")
        entries = page.locator("#activity tr.activity-entry")
        newest = entries.first
        expect(newest).to_contain_text(f"{ADMIN_NAME} signed in from Chrome on Linux at 127.0.0.1")
        failed = entries.filter(has_text=f"Failed sign-in as {ADMIN_NAME} from 127.0.0.1")
        expect(failed).to_have_class("activity-entry severity-warning")
        expect(failed.locator(".severity")).to_have_text("warning")
        expect(entries).to_have_count(50)
        page.evaluate("() => { window.stillHere = true; }")  # gone if the page reloads

        # Filter: the list is swapped in place and the address says what it shows.
        page.get_by_label("Kind").select_option(label="Sign-ins")
        page.wait_for_url(base_url + "/admin/activity?kind=sign-in")
        expect(entries).to_have_count(1)
        expect(entries.first).to_have_attribute("data-kind", "sign-in")

        # Another device signs in: its entry shows up on top by itself.
        phone = {"username": ADMIN_NAME, "password": ADMIN_PASSWORD, "device": "Kitchen tablet"}
        assert httpx.post(base_url + "/api/v1/auth/login", json=phone).status_code == 200
        expect(entries).to_have_count(2, timeout=10_000)
        expect(entries.first).to_contain_text(
            f"{ADMIN_NAME} signed in from Kitchen tablet at 127.0.0.1"
        )
        assert page.evaluate("() => window.stillHere") is True

        # Older: the next page goes under the first, then there is no more.
        page.get_by_label("Kind").select_option(label="Playback started")
        page.wait_for_url(base_url + "/admin/activity?kind=playback-started")
        expect(entries).to_have_count(50)
        page.get_by_role("button", name="Older").click()
        expect(entries).to_have_count(PLAYS)
        expect(page.get_by_role("button", name="Older")).to_have_count(0)
        ids = [int(i) for i in entries.evaluate_all("rows => rows.map(r => r.dataset.id)")]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == PLAYS
        assert page.evaluate("() => window.stillHere") is True
        goto(page, base_url + "/admin/activity?kind=playback-started&severity=error")
        expect(page.locator("#activity .activity-empty")).to_be_visible()
    api.close()
