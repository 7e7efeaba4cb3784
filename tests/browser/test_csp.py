"""Hearth's pages under the server's own Content-Security-Policy, in Debian's Chromium.

Every page a person opens (sign-in, home, search as you type, an item page playing through
hls.js, the API docs) must run with no CSP violation and no console error; and a movie whose NFO
is an XSS attempt must show its title as text, with no dialog and no injected element.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    expect,
)

from mediaserver.testing import make_clip
from tests.browser.test_ui import (
    CHROMIUM,
    DESKTOP,
    api_headers,
    new_context,
    serve_library,
)
from tests.integration.conftest import ADMIN_NAME, ADMIN_PASSWORD
from tests.integration.test_security_headers import HOSTILE_NFO, XSS, XSS_GENRE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

MARBLE = "Marble Orchard"  # MKV with AC-3 audio: Chromium plays it remuxed, through hls.js
# Runs before any page script (Playwright injects it, so the CSP does not apply to it).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => window.reportViolation(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}:${e.lineNumber}`
  + ` ${e.sample}`));
"""


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    make_clip(media / "Marble.Orchard.2001.mkv", seconds=6, output={"c:a": "ac3"})
    make_clip(media / "Hostile (2020).mp4", seconds=1)
    (media / "Hostile (2020).nfo").write_text(HOSTILE_NFO, encoding="utf-8")
    with serve_library(tmp_path_factory, media) as url:
        yield url


@pytest.fixture(scope="module")
def item_urls(base_url: str) -> dict[str, str]:
    items = httpx.get(base_url + "/api/v1/items", headers=api_headers(base_url), timeout=5).json()[
        "items"
    ]
    return {item["title"]: f"{base_url}/items/{item['id']}" for item in items}


@contextmanager
def strict_page(
    browser: Browser, base_url: str, *, signed_in: bool = True, **options: Any
) -> Iterator[Page]:
    """A fresh page (``DESKTOP`` unless ``options`` say otherwise: viewport, has_touch...);
    on the way out: no CSP violation, console error, dialog or other host."""
    context = new_context(
        browser, base_url, signed_in=signed_in, **{"viewport": DESKTOP, **options}
    )
    problems: list[str] = []
    context.expose_function("reportViolation", lambda text: problems.append(f"CSP: {text}"))
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    def dialog(box: Dialog) -> None:
        problems.append(f"dialog: {box.message}")
        box.dismiss()

    page.on("console", console)
    page.on("dialog", dialog)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        yield page
        page.wait_for_timeout(300)  # late violations (a worker, an image) still count
    finally:
        context.close()
    assert problems == []
    assert [u for u in requested if not u.startswith((base_url + "/", "data:", "blob:"))] == []


def goto(page: Page, url: str) -> None:
    """Open ``url`` and check the page runs under the server's own policy."""
    response = page.goto(url)
    assert response is not None and response.ok, url
    # 'wasm-unsafe-eval' (WebAssembly only, for styled subtitles) on pages, not the API docs
    policy = response.headers["content-security-policy"]
    assert re.search(r"script-src 'self'( 'wasm-unsafe-eval')?;", policy), policy


def test_the_sign_in_page_runs_under_the_policy(browser: Browser, base_url: str) -> None:
    with strict_page(browser, base_url, signed_in=False) as page:
        goto(page, base_url + "/")  # redirected to the sign-in page
        assert page.url == base_url + "/login?next=%2F"
        form = page.locator("form.signin-form")
        form.get_by_label("User name").fill(ADMIN_NAME)
        form.get_by_label("Password").fill(ADMIN_PASSWORD)
        with page.expect_navigation(url=base_url + "/") as landed:
            form.get_by_role("button", name="Sign in").click()
        response = landed.value
        assert response is not None and response.ok
        assert (
            "script-src 'self' 'wasm-unsafe-eval';" in response.headers["content-security-policy"]
        )
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_home_and_search_as_you_type(browser: Browser, base_url: str) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/")
        expect(page.locator("section[aria-labelledby=recent] .card")).to_have_count(2)
        page.locator("#search-box").press_sequentially("marb", delay=40)  # htmx, on input
        results = page.locator("#search-results")
        expect(results.locator("a.card", has_text=MARBLE)).to_have_count(1)
        # No indicator <style> from htmx: the CSP would refuse it, and base.html turns it off.
        assert page.evaluate("() => document.querySelectorAll('style').length") == 0


def test_the_player_plays_under_the_policy(
    browser: Browser, base_url: str, item_urls: dict[str, str]
) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, item_urls[MARBLE])
        expect(page.locator("video#player")).to_have_attribute("data-engine", "hls.js")
        page.locator(".player-big-play").click()  # MSE (blob: media) and the hls.js worker
        page.wait_for_function("() => document.getElementById('player').currentTime > 1")
        assert page.evaluate("() => document.getElementById('player').src").startswith("blob:")


def test_the_api_docs_render_under_their_policy(browser: Browser, base_url: str) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/schema")
        expect(page.locator(".api-content h1").first).to_contain_text("Hearth")
        # Redoc's search index runs in a blob: worker; its results prove the worker answered.
        page.locator(".menu-content input[placeholder^=Search]").press_sequentially("items")
        expect(page.locator("[data-role='search:results']")).to_contain_text("items")
        expect(page.get_by_role("link", name="API docs by Redocly")).to_be_visible()


def test_markup_in_an_nfo_stays_text(
    browser: Browser, base_url: str, item_urls: dict[str, str]
) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, item_urls[XSS])
        expect(page.locator("h1")).to_contain_text(XSS)
        expect(page.locator("main")).to_contain_text(f"Plot: {XSS}")
        expect(page.locator("main")).to_contain_text(XSS_GENRE)
        goto(page, base_url + "/")
        expect(page.locator("main")).to_contain_text(XSS)
        page.locator("#search-box").press_sequentially("onerror", delay=20)
        expect(page.locator("#search-results a.card")).to_contain_text(XSS)
        injected = "img[src=x], main script, #search-results script, svg[onload]"
        assert page.locator(injected).count() == 0
        assert re.search(r"<script>alert", page.content()) is None
