"""The first hour in Debian's Chromium: create the admin with the printed link, then the
set-up wizard adds a library through the folder browser, at three sizes and three ways of
using them: a laptop with a mouse (1366×850), a phone by touch (390×844) and a big screen
with the keyboard only (1920×1080: Tab, arrows and Enter, never a click).

Each size gets a fresh server with no admin and the demo library showing (a ready demo of
one clip, so start-up runs no ffmpeg), so the whole flow is real each time: the demo notice,
the wizard, the folder browser, the scan, and the demo gone at the end.  Every page runs
under the server's CSP with no console error (``test_csp.strict_page``).  Screenshots go to ``HEARTH_SCREENSHOTS`` (a
temporary folder unless set), named ``setup-<size>-<step>.png``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from mediaserver.app import create_app
from mediaserver.config import LibrarySettings, LoggingSettings, Settings
from mediaserver.library.demo import DEMO_MARKER, demo_library_path
from mediaserver.testing import make_clip
from tests.browser.test_csp import strict_page
from tests.browser.test_ui import CHROMIUM, SCREENSHOTS, run_server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

ADMIN = "household"
PASSWORD = "a long household password for the den"
SERVER_NAME = "The Den"


@dataclass
class Hearth:
    url: str
    code: str  # the one-time set-up link's code
    srv: Path  # the browse root: srv/Films holds a film


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1)


@pytest.fixture
def hearth(tmp_path: Path, clip: Path) -> Iterator[Hearth]:
    srv = tmp_path / "srv"
    (srv / "Films" / "Alien (1979)").mkdir(parents=True)
    shutil.copyfile(clip, srv / "Films" / "Alien (1979)" / "Alien (1979).mp4")
    (srv / "Music").mkdir()
    data = tmp_path / "data"
    demo = demo_library_path(data)
    demo.mkdir(parents=True)
    shutil.copyfile(clip, demo / "Demo Film (2020).mp4")
    (demo / DEMO_MARKER).write_text("1\n", encoding="utf-8")
    settings = Settings(
        data_dir=str(data),
        library=LibrarySettings(browse_roots=(str(srv),), watch=False, scan_interval_minutes=0),
        logging=LoggingSettings(level="warning"),
    )
    app = create_app(settings)
    with run_server(app) as url:
        code = app.state["hearth"].setup_code
        assert code, "a server without an admin makes a set-up code"
        yield Hearth(url, code, srv)


@contextmanager
def strict(browser: Browser, hearth: Hearth, **options: Any) -> Iterator[Page]:
    """``strict_page`` at this size, before any admin exists (so signed out), 15 s timeouts."""
    with strict_page(browser, hearth.url, signed_in=False, **options) as page:
        page.context.set_default_timeout(15_000)
        yield page


def shot(page: Page, size: str, step: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollTo(0, 0)")  # the sticky top bar at the top
    page.screenshot(path=SCREENSHOTS / f"setup-{size}-{step}.png", full_page=True)


def tab_to(page: Page, target: Locator, *, back: bool = False, most: int = 80) -> None:
    """Press Tab (Shift+Tab with ``back``) until ``target`` has the focus: it is reachable
    by keyboard, in order."""
    handle = target.element_handle()
    for _ in range(most):
        if page.evaluate("(el) => document.activeElement === el", handle):
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"{target} is not reachable with the keyboard")


def fits(page: Page, width: int) -> None:
    """Nothing makes the page scroll sideways (what scrolls inside itself aside)."""
    wide = page.evaluate(
        """(width) => [...document.querySelectorAll("body *")]
            .filter((el) => el.checkVisibility() && el.getBoundingClientRect().right > width + .5)
            .filter((el) => !el.parentElement.closest("pre, .table"))
            .map((el) => el.tagName + "." + el.className + " " + el.textContent.slice(0, 40))""",
        width,
    )
    assert wide == []
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width


def htmx_ready(page: Page) -> None:
    """Wait until htmx has taken in what has the focus and has nothing in flight, as a
    person's next key press would find it (a key right after a swap may otherwise reach a
    button htmx has not wired yet)."""
    page.wait_for_function(
        """() => { const el = document.activeElement;
                   return !!el && !!el["htmx-internal-data"] && !document.querySelector(".htmx-request"); }"""
    )


def browser_of(page: Page) -> Locator:
    return page.locator("[data-folder-browser]")


def entry(page: Page, name: str) -> Locator:
    return browser_of(page).locator("[data-folder-entry]", has_text=name)


def check_the_end(page: Page, hearth: Hearth, size: str) -> None:
    """The wizard's last step; Admin → Libraries follows the scan live to its end; then
    home: named, no demo, the film there."""
    expect(page.get_by_text("Hearth is ready")).to_be_visible()
    expect(page.locator(".brand")).to_have_text(SERVER_NAME)
    page.goto(hearth.url + "/admin/libraries")
    row = page.locator(".library-row", has_text="Films")
    expect(row).to_have_count(1)
    expect(page.locator(".library-row", has_text="Demo")).to_have_count(0)
    # The row's status polls itself (htmx) while the library waits or is scanned.
    expect(row.locator(".library-scan")).to_contain_text("Last scanned", timeout=60_000)
    expect(row).to_contain_text("1 film,")
    if size == "390":
        fits(page, 390)
    shot(page, size, "6-admin-libraries")
    page.goto(hearth.url + "/")
    expect(page.locator(".demo-notice")).to_have_count(0)
    expect(page.get_by_text("Hearth is not set up yet")).to_have_count(0)
    expect(page.locator("a.library", has_text="Films")).to_have_count(1)
    expect(page.locator("a.library", has_text="Demo")).to_have_count(0)
    expect(page.locator("section[aria-labelledby=recent] .card", has_text="Alien")).to_have_count(1)


def create_admin(page: Page, hearth: Hearth) -> None:
    page.goto(f"{hearth.url}/setup?code={hearth.code}")
    page.get_by_label("User name").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create admin").click()
    page.wait_for_url(hearth.url + "/setup/server")


def test_set_up_with_a_mouse_at_1366(browser: Browser, hearth: Hearth) -> None:
    with strict(browser, hearth, viewport={"width": 1366, "height": 850}) as page:
        create_admin(page, hearth)
        # Leave the wizard: home shows the demo, says so, and offers the way back.
        page.goto(hearth.url + "/")
        expect(page.locator(".demo-notice")).to_contain_text("This is a demo.")
        expect(page.get_by_role("link", name="Add your own films →")).to_have_attribute(
            "href", "/admin/libraries"
        )
        shot(page, "1366", "demo-home")
        page.get_by_role("link", name="Name it and add your films →").click()

        page.get_by_label("What should this server be called?").fill(SERVER_NAME)
        shot(page, "1366", "1-name")
        page.get_by_role("button", name="Next: libraries").click()
        expect(page.get_by_text("Hearth is showing its demo library now")).to_be_visible()

        page.get_by_label("Name", exact=True).fill("Films")
        page.get_by_label("Films", exact=True).check()
        entry(page, str(hearth.srv)).click()  # the root, then the folder inside it
        expect(entry(page, "Music")).to_contain_text("empty")
        entry(page, "Films").click()
        expect(browser_of(page).locator(".fb-where")).to_have_text(str(hearth.srv / "Films"))
        expect(entry(page, "Alien (1979)")).to_contain_text("1 video")
        page.get_by_role("button", name="Use this folder").click()
        chosen = page.locator("[data-chosen-folders] li")
        expect(chosen).to_have_count(1)
        expect(chosen.locator("input[name=folder]")).to_have_value(str(hearth.srv / "Films"))
        shot(page, "1366", "2-libraries")
        page.get_by_role("button", name="Add library").click()

        expect(page.get_by_role("status")).to_contain_text("Films added")
        expect(page.locator(".library-row", has_text="Films")).to_contain_text(
            str(hearth.srv / "Films")
        )
        page.get_by_role("link", name="Next: languages").click()
        page.get_by_label("Subtitle language").select_option("eng")
        shot(page, "1366", "3-languages")
        page.get_by_role("button", name="Finish").click()
        shot(page, "1366", "4-done")
        check_the_end(page, hearth, "1366")
        shot(page, "1366", "5-home")


def test_set_up_by_touch_on_a_phone(browser: Browser, hearth: Hearth) -> None:
    phone = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
    with strict(browser, hearth, **phone) as page:
        create_admin(page, hearth)
        page.get_by_label("What should this server be called?").fill(SERVER_NAME)
        page.get_by_role("button", name="Next: libraries").tap()
        page.get_by_label("Name", exact=True).fill("Films")
        entry(page, str(hearth.srv)).tap()
        entry(page, "Films").wait_for()
        # Touch targets: every folder row and button of the browser is 44 px or more.
        for target in browser_of(page).locator("button").all():
            box = target.bounding_box()
            assert box is not None and box["height"] >= 44, (target.inner_text(), box)
        films = browser_of(page).locator(".fb-entry", has_text="Films")
        films.get_by_role("button", name=f"Use {hearth.srv / 'Films'}").tap()
        expect(page.locator("[data-chosen-folders] li")).to_have_count(1)
        remove = page.locator("[data-chosen-folders] button", has_text="Remove")
        assert (remove.bounding_box() or {"height": 0})["height"] >= 44
        fits(page, 390)
        shot(page, "390", "2-libraries")
        page.get_by_role("button", name="Add library").tap()
        expect(page.get_by_role("status")).to_contain_text("Films added")
        page.get_by_role("link", name="Next: languages").tap()
        page.get_by_role("button", name="Finish").tap()
        check_the_end(page, hearth, "390")
        shot(page, "390", "5-home")


def test_set_up_with_the_keyboard_only_at_1920(browser: Browser, hearth: Hearth) -> None:
    with strict(browser, hearth, viewport={"width": 1920, "height": 1080}) as page:
        page.goto(f"{hearth.url}/setup?code={hearth.code}")
        expect(page.get_by_label("User name")).to_be_focused()  # autofocus
        page.keyboard.type(ADMIN)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(hearth.url + "/setup/server")

        name = page.get_by_label("What should this server be called?")
        expect(name).to_be_focused()  # autofocus: the first thing to type
        page.keyboard.type(SERVER_NAME)
        page.keyboard.press("Enter")
        page.wait_for_url(hearth.url + "/setup/libraries")

        tab_to(page, page.get_by_label("Name", exact=True))
        page.keyboard.type("Films")
        # Into the browser: the root, then ↓ to Films and → to open it.
        tab_to(page, entry(page, str(hearth.srv)))
        htmx_ready(page)
        page.keyboard.press("ArrowRight")
        expect(entry(page, "Films")).to_be_visible()
        expect(entry(page, "Films")).to_be_focused()  # the first folder, after opening
        page.keyboard.press("ArrowDown")
        expect(entry(page, "Music")).to_be_focused()
        page.keyboard.press("ArrowUp")
        expect(entry(page, "Films")).to_be_focused()
        htmx_ready(page)
        page.keyboard.press("ArrowRight")
        expect(browser_of(page).locator(".fb-where")).to_have_text(str(hearth.srv / "Films"))
        expect(entry(page, "Alien (1979)")).to_be_focused()
        htmx_ready(page)
        page.keyboard.press("ArrowLeft")  # ← goes up, back onto the folder it came from
        expect(entry(page, "Films")).to_be_focused()
        page.keyboard.press("Tab")  # Films' own "Use"
        expect(page.locator(":focus")).to_have_attribute("data-pick", str(hearth.srv / "Films"))
        page.keyboard.press("Enter")
        expect(page.locator("[data-chosen-folders] li")).to_have_count(1)
        shot(page, "1920", "2-libraries")
        tab_to(page, page.get_by_role("button", name="Add library"))
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Films added")

        tab_to(page, page.get_by_role("link", name="Next: languages"))
        page.keyboard.press("Enter")
        page.wait_for_url(hearth.url + "/setup/languages")
        tab_to(page, page.get_by_role("button", name="Finish"))
        page.keyboard.press("Enter")
        page.wait_for_url(hearth.url + "/setup/done")
        check_the_end(page, hearth, "1920")
        shot(page, "1920", "5-home")
