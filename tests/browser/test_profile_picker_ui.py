"""The profile picker in Debian's Chromium against a real Hearth on 127.0.0.1 (the home
network, as far as the picker can tell): the admin turns it on, a person opts in with a PIN
on their profile page, and then, keyboard only at three sizes, the arrows choose a tile,
Enter picks it, the PIN is typed and Enter lands on the home page."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize, expect

from mediaserver.config import LibrarySettings, LoggingSettings, Settings
from mediaserver.testing import make_clip
from tests.browser.test_csp import strict_page
from tests.browser.test_ui import CHROMIUM, SCREENSHOTS, api_headers, serve_hearth

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

PASSWORD = "a long household password"
PIN = "482916"
SIZES: dict[str, ViewportSize] = {
    "laptop": {"width": 1366, "height": 850},
    "phone": {"width": 390, "height": 844},
    "tv": {"width": 1920, "height": 1080},
}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media")
    folder = media / "Films" / "Quiet Lake (2021)"
    folder.mkdir(parents=True)
    make_clip(folder / "Quiet Lake (2021).mp4", seconds=1)
    settings = Settings(
        data_dir=str(tmp_path_factory.mktemp("data")),
        library=LibrarySettings(
            media_dirs=(str(media / "Films"),), watch=False, scan_interval_minutes=0
        ),
        logging=LoggingSettings(level="warning"),
    )
    with serve_hearth(settings) as url:
        with httpx.Client(base_url=url, headers=api_headers(url), timeout=10) as api:
            for name in ("Maja", "Olle", "Sven"):  # Sven never opts in
                made = api.post("/api/v1/users", json={"name": name, "password": PASSWORD})
                assert made.status_code == 201, made.text
                if name == "Maja":  # a picture on her tile, Olle's shows his initial
                    picture = io.BytesIO()
                    Image.new("RGB", (64, 64), "darkorange").save(picture, "PNG")
                    files = {"data": ("maja.png", picture.getvalue(), "image/png")}
                    sent = api.put(f"/api/v1/users/{made.json()['id']}/avatar", files=files)
                    assert sent.status_code == 200, sent.text
        yield url


def sign_in_with_password(page: Page, base_url: str, name: str) -> None:
    page.goto(base_url + "/login?password=true")
    form = page.locator("form.signin-form")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Password").fill(PASSWORD)
    form.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/")


def join_picker(page: Page, base_url: str, name: str, pin: str = "") -> None:
    """On the person's own profile page, with their password."""
    sign_in_with_password(page, base_url, name)
    page.goto(base_url + "/profile")
    section = page.locator("section[aria-labelledby=picker-heading]")
    section.get_by_label("Show me on the profile picker").check()
    if pin:
        section.get_by_label("PIN (4 to 8 digits, optional)").fill(pin)
    section.get_by_label("Your password").fill(PASSWORD)
    section.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Profile picker choices saved.")).to_be_visible()
    page.context.clear_cookies()


@pytest.fixture(scope="module")
def picker_on(browser: Browser, base_url: str) -> str:
    with strict_page(browser, base_url) as page:  # the admin
        page.goto(base_url + "/admin/users")
        section = page.locator("section[aria-labelledby=picker-heading]")
        expect(section).to_contain_text("Only devices on your home network see the picker")
        section.get_by_label("Show a profile picker on the sign-in page").check()
        section.get_by_role("button", name="Save").click()
        expect(page.get_by_text("The profile picker is on")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / "picker-admin.png", full_page=True)
    for name, pin in (("Maja", ""), ("Olle", PIN)):
        with strict_page(browser, base_url, signed_in=False) as page:
            join_picker(page, base_url, name, pin)
    return base_url


@pytest.mark.parametrize("size", list(SIZES))
def test_keyboard_only_pick_a_tile_type_the_pin_and_land_home(
    browser: Browser, picker_on: str, size: str
) -> None:
    base_url = picker_on
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with strict_page(browser, base_url, signed_in=False, viewport=SIZES[size]) as page:
        page.goto(base_url + "/")
        page.wait_for_url(base_url + "/login?next=%2F")
        expect(page.get_by_role("heading", name="Who is watching?")).to_be_visible()
        tiles = page.locator(".picker-tile")
        expect(tiles).to_have_count(2)  # Maja and Olle; never Sven, never the admin
        expect(page.locator(".picker-tiles")).not_to_contain_text("Sven")
        picture = tiles.nth(0).locator("img.avatar")  # loaded while signed out
        expect(picture).to_have_js_property("complete", True)
        assert picture.evaluate("img => img.naturalWidth") > 0
        for tile in tiles.all():
            box = tile.bounding_box()
            assert box is not None and box["height"] >= 44 and box["width"] >= 44
        expect(page.get_by_role("link", name="Sign in with a password instead")).to_be_visible()
        page.screenshot(path=SCREENSHOTS / f"picker-{size}.png")

        expect(tiles.nth(0)).to_be_focused()  # Maja: the first tile has the focus
        page.keyboard.press("ArrowRight")
        expect(tiles.nth(1)).to_be_focused()
        expect(tiles.nth(1)).to_contain_text("Olle")
        page.keyboard.press("Enter")
        pin = page.get_by_role("textbox", name="PIN")
        expect(pin).to_be_focused()
        assert pin.get_attribute("inputmode") == "numeric"
        assert pin.get_attribute("autocomplete") == "off"
        page.keyboard.type(PIN)
        page.screenshot(path=SCREENSHOTS / f"picker-pin-{size}.png")
        page.keyboard.press("Enter")
        page.wait_for_url(base_url + "/")
        account = page.locator("nav.account").get_by_role("link", name="Olle", exact=True)
        expect(account).to_be_visible()
