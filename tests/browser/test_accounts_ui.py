"""Accounts in Debian's Chromium against a real Hearth on 127.0.0.1: users and their limits,
the profile page (picture, password, two-factor, API keys), pairing a TV, and the admin pages.

One server and one browser per module, on a library of three rated films in two libraries.
People sign in through the real ``/login`` form; the admin starts signed in (``new_context``).
Each test makes its own member when it changes what signing in needs, so the admin's API
key and session stay valid for the others.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import httpx
import pyotp
import pytest
from PIL import Image
from playwright.sync_api import Browser, Dialog, Locator, Page, expect

from mediaserver.config import LibrarySettings, LoggingSettings, Settings
from mediaserver.testing import make_clip
from tests.browser.test_csp import goto, strict_page
from tests.browser.test_ui import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    api_headers,
    open_page,
    serve_hearth,
)
from tests.integration.conftest import ADMIN_NAME

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

PASSWORD = "a long household password"
NEW_PASSWORD = "another long household password"
# title -> (library folder, content rating); "Harbour" finds all three.
FILMS = {
    "Harbour Dragons": ("Films", "PG"),
    "Harbour Nights": ("Films", "R"),
    "Harbour Picnic": ("Cinema", "G"),  # allowed by the rating, not by the library
}
XSS_DEVICE = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    clip = make_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1)
    media = tmp_path_factory.mktemp("media")
    for title, (library, rating) in FILMS.items():
        folder = media / library / f"{title} (2020)"
        folder.mkdir(parents=True)
        shutil.copyfile(clip, folder / f"{title} (2020).mp4")
        (folder / f"{title} (2020).nfo").write_text(
            f"<movie><title>{title}</title><year>2020</year><mpaa>{rating}</mpaa></movie>",
            encoding="utf-8",
        )
    settings = Settings(
        data_dir=str(tmp_path_factory.mktemp("data")),
        library=LibrarySettings(
            media_dirs=(str(media / "Films"), str(media / "Cinema")),
            watch=False,
            scan_interval_minutes=0,
        ),
        logging=LoggingSettings(level="warning"),
    )
    with serve_hearth(settings) as url:
        yield url


@pytest.fixture
def api(base_url: str) -> Iterator[httpx.Client]:
    """``httpx`` as the admin (API key)."""
    with httpx.Client(base_url=base_url, headers=api_headers(base_url), timeout=10) as client:
        yield client


def add_member(api: httpx.Client, name: str) -> int:
    made = api.post("/api/v1/users", json={"name": name, "password": PASSWORD})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def item_id(api: httpx.Client, title: str) -> int:
    items = api.get("/api/v1/items", params={"q": title}).json()["items"]
    return next(int(item["id"]) for item in items if item["title"] == title)


def sign_in(page: Page, base_url: str, name: str, password: str) -> None:
    """Through the real sign-in form; lands on the home page unless the form refuses (or
    asks for a two-factor code)."""
    page.goto(base_url + "/login")
    form = page.locator("form.signin-form")
    form.get_by_label("User name").fill(name)
    form.get_by_label("Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def enter_code(page: Page, code: str) -> None:
    """The code step of a two-factor sign-in."""
    page.get_by_label("Code from your app").fill(code)
    page.get_by_role("button", name="Sign in", exact=True).click()


def not_a_code(totp: pyotp.TOTP) -> str:
    """Six digits that match no step the server accepts now."""
    near = {totp.at(time.time() + d * totp.interval) for d in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in near)


def signed_in_as(page: Page, base_url: str, name: str) -> None:
    page.wait_for_url(base_url + "/")
    expect(page.locator("nav.account").get_by_role("link", name=name, exact=True)).to_be_visible()


def test_a_child_sees_only_what_the_admin_allows(
    browser: Browser, base_url: str, api: httpx.Client
) -> None:
    with open_page(browser, base_url, DESKTOP) as admin:
        admin.goto(base_url + "/admin/users")
        form = admin.locator("section[aria-labelledby=add-heading] form")
        form.get_by_label("Name", exact=True).fill("kid")
        form.get_by_label("Password", exact=True).fill(PASSWORD)
        expect(form.get_by_label("Admin (sees everything")).not_to_be_checked()
        form.get_by_label("Highest content rating").select_option("PG")
        form.get_by_label("All libraries, and new ones").uncheck()
        form.get_by_label("Films", exact=True).check()
        form.get_by_role("button", name="Add user").click()
        admin.wait_for_url(base_url + "/admin/users?done=created")
        expect(admin.get_by_role("status")).to_have_text("User added.")
        row = admin.locator("table.users tbody tr", has_text="kid")
        # The last column: not on the sign-in page's profile picker.
        expect(row.locator("td")).to_have_text(["kid", "Member", "PG", "Films", "Off", "—"])
        expect(admin.locator("nav.account").get_by_role("link", name="Users")).to_be_visible()

    with open_page(browser, base_url, DESKTOP, signed_in=False) as kid:
        sign_in(kid, base_url, "kid", PASSWORD)
        signed_in_as(kid, base_url, "kid")
        libraries = kid.locator(".libraries a.library")
        expect(libraries).to_have_count(1)
        expect(libraries).to_have_text(re.compile(r"^Films\s*1 title$"))
        recent = kid.locator("section[aria-labelledby=recent] .card")
        expect(recent).to_have_count(1)
        expect(recent).to_contain_text("Harbour Dragons")

        kid.locator("#search-box").press_sequentially("harbour", delay=30)
        results = kid.locator("#search-results")
        expect(results.locator("h2")).to_have_text("1 result for “harbour”")
        expect(results.locator(".card")).to_have_count(1)
        expect(results.locator(".card")).to_contain_text("Harbour Dragons")
        kid.goto(base_url + "/search?q=harbour")
        expect(kid.locator("main .card")).to_have_count(1)
        expect(kid.locator("main")).not_to_contain_text("Harbour Nights")
        expect(kid.locator("main")).not_to_contain_text("Harbour Picnic")

        answer = kid.goto(f"{base_url}/items/{item_id(api, 'Harbour Nights')}")
        assert answer is not None and answer.status == 404
        expect(kid.locator("main h1")).to_have_text("Not found")
        answer = kid.goto(f"{base_url}/items/{item_id(api, 'Harbour Dragons')}")
        assert answer is not None and answer.status == 200  # the allowed one opens

        account = kid.locator("nav.account")
        expect(account.get_by_role("link")).to_have_text(["History", "kid"])  # no "Users"
        expect(account.get_by_role("link", name="kid")).to_have_attribute("href", "/profile")
        answer = kid.goto(base_url + "/admin/users")
        assert answer is not None and answer.status == 403
        expect(kid.locator("main h1")).to_have_text("Cannot do that")
        expect(kid.locator("table.users")).to_have_count(0)


def _add_user_form(page: Page, base_url: str, name: str, password: str) -> Locator:
    page.goto(base_url + "/admin/users")
    form = page.locator("section[aria-labelledby=add-heading] form")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_label("Highest content rating").select_option("PG-13")
    form.get_by_label("All libraries, and new ones").uncheck()
    form.get_by_label("Films", exact=True).check()
    return form


def test_a_weak_password_is_explained_in_proper_sentences(browser: Browser, base_url: str) -> None:
    with open_page(browser, base_url, DESKTOP) as page:
        form = _add_user_form(page, base_url, "weakling", "passwordpassword")
        form.get_by_role("button", name="Add user").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("The password is too weak:")
        text = alert.inner_text().strip()
        assert not text.endswith(".."), text
        assert "Add another word or two." in text, text


def test_a_refused_new_user_keeps_the_chosen_limits(browser: Browser, base_url: str) -> None:
    with open_page(browser, base_url, DESKTOP) as page:
        form = _add_user_form(page, base_url, "teen", "passwordpassword")
        form.get_by_role("button", name="Add user").click()
        expect(page.get_by_role("alert")).to_contain_text("too weak")
        form = page.locator("section[aria-labelledby=add-heading] form")
        expect(form.get_by_label("Name", exact=True)).to_have_value("teen")
        expect(form.get_by_label("Highest content rating")).to_have_value("PG-13", timeout=3_000)
        expect(form.get_by_label("All libraries, and new ones")).not_to_be_checked()
        expect(form.get_by_label("Films", exact=True)).to_be_checked()


def _png(path: Path) -> Path:
    picture = Image.new("RGB", (400, 300), (200, 40, 40))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return path


def _svg(path: Path) -> Path:
    path.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        "<script>alert(1)</script></svg>",
        encoding="utf-8",
    )
    return path


def test_profile_picture_upload_and_refusal(
    browser: Browser, base_url: str, api: httpx.Client, tmp_path: Path
) -> None:
    me = api.get("/api/v1/auth/me").json()
    with open_page(browser, base_url, DESKTOP) as page:
        page.goto(base_url + "/profile")
        expect(page.locator("span.avatar.noavatar")).to_have_text(ADMIN_NAME[:1])
        expect(page.locator("img.avatar")).to_have_count(0)

        form = page.locator("#picture-form")
        form.locator("input[type=file]").set_input_files(_png(tmp_path / "me.png"))
        form.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("status")).to_have_text("Profile picture updated.")
        avatar = page.locator("img.avatar")
        expect(avatar).to_have_attribute("src", f"/api/v1/users/{me['id']}/avatar")
        page.wait_for_function(
            "() => { const img = document.querySelector('img.avatar');"
            " return img && img.complete && img.naturalWidth === 256; }"
        )
        before = api.get(f"/api/v1/users/{me['id']}/avatar")
        assert before.status_code == 200 and before.content

        form = page.locator("#picture-form")  # the swap made a new one
        form.locator("input[type=file]").set_input_files(_svg(tmp_path / "me.svg"))
        form.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("alert")).to_contain_text(
            re.compile("SVG and other markup are not accepted", re.IGNORECASE)
        )
        expect(page.get_by_role("status")).to_have_count(0)
        expect(page.locator("img.avatar")).to_have_count(1)
        after = api.get(f"/api/v1/users/{me['id']}/avatar")
        assert after.content == before.content
        assert after.headers["etag"] == before.headers["etag"]


def test_a_refused_picture_says_why_in_its_own_words(
    browser: Browser, base_url: str, tmp_path: Path
) -> None:
    with open_page(browser, base_url, DESKTOP) as page:
        page.goto(base_url + "/profile")
        form = page.locator("#picture-form")
        form.locator("input[type=file]").set_input_files(_svg(tmp_path / "me.svg"))
        form.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("alert")).to_have_text(
            "SVG and other markup are not accepted; use JPEG, PNG, WebP or GIF.", timeout=3_000
        )


def test_a_two_megabyte_photo_uploads(browser: Browser, base_url: str, tmp_path: Path) -> None:
    noise = Image.frombytes("RGB", (900, 900), os.urandom(900 * 900 * 3))
    photo = tmp_path / "photo.png"
    noise.save(photo, "PNG")
    assert 1024 * 1024 < photo.stat().st_size < 5 * 1024 * 1024
    with open_page(browser, base_url, DESKTOP) as page:
        page.goto(base_url + "/profile")
        form = page.locator("#picture-form")
        form.locator("input[type=file]").set_input_files(photo)
        with page.expect_response(lambda r: r.url == base_url + "/profile/picture") as answer:
            form.get_by_role("button", name="Upload").click()
        assert answer.value.status in (200, 303), answer.value.status
        expect(page.get_by_role("status")).to_have_text("Profile picture updated.", timeout=3_000)


def _session_rows(page: Page) -> list[str]:
    rows = page.locator("section[aria-labelledby=sessions-heading] tbody tr")
    return [text.strip() for text in rows.all_inner_texts()]


def test_changing_the_password_signs_out_the_other_browsers(
    browser: Browser, base_url: str, api: httpx.Client
) -> None:
    add_member(api, "pat")
    with (
        open_page(browser, base_url, DESKTOP, signed_in=False) as here,
        open_page(browser, base_url, DESKTOP, signed_in=False) as there,
    ):
        for page in (here, there):
            sign_in(page, base_url, "pat", PASSWORD)
            signed_in_as(page, base_url, "pat")
        here.goto(base_url + "/profile")
        assert len(_session_rows(here)) == 2
        expect(here.locator("text=(this browser)")).to_have_count(1)

        form = here.locator("section[aria-labelledby=password-heading] form")
        form.get_by_label("Current password", exact=True).fill(PASSWORD)
        form.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        form.get_by_label("New password again", exact=True).fill(NEW_PASSWORD)
        form.get_by_role("button", name="Change password").click()
        here.wait_for_url(base_url + "/profile?done=password")
        expect(here.get_by_role("status")).to_have_text(
            "Password changed. Every other device has been signed out."
        )
        rows = _session_rows(here)
        assert len(rows) == 1 and "(this browser)" in rows[0], rows

        there.goto(base_url + "/profile")
        there.wait_for_url(base_url + "/login?next=%2Fprofile")
        here.goto(base_url + "/")
        signed_in_as(here, base_url, "pat")

        sign_in(there, base_url, "pat", PASSWORD)  # the old password is gone
        expect(there.get_by_role("alert")).to_have_text("Wrong user name or password.")
        sign_in(there, base_url, "pat", NEW_PASSWORD)
        signed_in_as(there, base_url, "pat")


def test_two_factor_enrolment_and_sign_in(
    browser: Browser, base_url: str, api: httpx.Client
) -> None:
    add_member(api, "sam")
    with open_page(browser, base_url, DESKTOP, signed_in=False) as page:
        sign_in(page, base_url, "sam", PASSWORD)
        signed_in_as(page, base_url, "sam")
        page.goto(base_url + "/profile")
        totp_section = page.locator("section[aria-labelledby=totp-heading]")
        expect(totp_section).to_contain_text("Off.")
        totp_section.get_by_role("button", name="Set up two-factor sign-in").click()

        qr = totp_section.locator("img.qr")
        expect(qr).to_have_attribute("src", "/profile/totp.svg")
        page.wait_for_function(
            "() => { const img = document.querySelector('img.qr');"
            " return img && img.complete && img.naturalWidth > 0; }"
        )
        secret = totp_section.locator("code").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
        totp = pyotp.TOTP(secret)
        totp_section.get_by_label("Code").fill(totp.now())
        totp_section.get_by_role("button", name="Turn on").click()

        expect(page.get_by_role("status")).to_have_text("Two-factor sign-in is on.")
        codes = page.locator("section[aria-labelledby=codes-heading] ul.codes code")
        expect(codes).to_have_count(10)
        assert all(re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", c) for c in codes.all_inner_texts())
        expect(page.locator("section[aria-labelledby=totp-heading]")).to_contain_text(
            "On. 10 recovery codes left."
        )
        page.goto(base_url + "/profile")  # shown once
        expect(page.locator("section[aria-labelledby=codes-heading]")).to_have_count(0)

        page.locator("form.signout").get_by_role("button", name="Sign out").click()
        page.wait_for_url(base_url + "/login")
        expect(page.locator("#search-box")).to_have_count(0)  # signed out: nothing to search
        posted: list[str] = []  # what each sign-in form sent
        page.on(
            "request",
            lambda r: posted.append(r.post_data or "") if r.method == "POST" else None,
        )
        sign_in(page, base_url, "sam", PASSWORD)

        # The code step asks for the code alone; a wrong one keeps you there.
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        expect(page.locator("main")).to_contain_text("Signing in as sam.")
        code = page.get_by_label("Code from your app")
        expect(code).to_be_focused()
        expect(code).to_have_attribute("autocomplete", "one-time-code")
        expect(code).to_have_attribute("inputmode", "numeric")
        expect(page.locator("input[type=password]")).to_have_count(0)
        enter_code(page, not_a_code(totp))
        expect(page.get_by_role("alert")).to_have_text(
            "That code is wrong or was already used. Try the code your app shows now."
        )
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        expect(page.locator("input[type=password]")).to_have_count(0)
        # The enrolment used this step's code (each works once): the next step's is accepted.
        enter_code(page, totp.at(time.time() + totp.interval))
        signed_in_as(page, base_url, "sam")
        assert [PASSWORD in unquote_plus(body) for body in posted] == [True, False, False]

    with open_page(browser, base_url, PHONE, signed_in=False) as phone:
        sign_in(phone, base_url, "sam", PASSWORD)
        code = phone.get_by_label("Code from your app")
        expect(code).to_be_visible()
        box = code.bounding_box()
        assert box is not None and box["height"] >= 44, box
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], box
        recovery = phone.get_by_text("Use a recovery code instead")
        recovery.click()
        expect(phone.get_by_label("Recovery code")).to_be_visible()


def test_a_mistyped_code_keeps_the_key_on_screen(browser: Browser, base_url: str) -> None:
    with open_page(browser, base_url, DESKTOP) as page:
        page.goto(base_url + "/profile")
        totp_section = page.locator("section[aria-labelledby=totp-heading]")
        totp_section.get_by_role("button", name="Set up two-factor sign-in").click()
        secret = totp_section.locator("code").inner_text().strip()
        assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
        totp_section.get_by_label("Code").fill("12345")  # five digits never match
        totp_section.get_by_role("button", name="Turn on").click()
        expect(page.get_by_role("alert")).to_have_text(
            "That code does not match. Check the app's clock and try the next code."
        )
        expect(totp_section.locator("code")).to_have_text(secret, timeout=3_000)


def test_an_api_key_is_shown_once_and_revoked(
    browser: Browser, base_url: str, api: httpx.Client
) -> None:
    with open_page(browser, base_url, DESKTOP) as page:
        page.goto(base_url + "/profile")
        keys = page.locator("section[aria-labelledby=keys-heading]")
        keys.get_by_label("Name").fill("backup script")
        keys.get_by_role("button", name="Create key").click()
        expect(page.locator("#key-heading")).to_have_text('Your new API key "backup script"')
        key = page.get_by_test_id("new-key").inner_text().strip()
        assert len(key) > 32, key

        me = httpx.get(
            base_url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert me.status_code == 200 and me.json()["name"] == ADMIN_NAME, me.text

        page.goto(base_url + "/profile")
        expect(page.get_by_test_id("new-key")).to_have_count(0)
        assert key not in page.content()
        row = page.locator(
            "section[aria-labelledby=keys-heading] tbody tr", has_text="backup script"
        )
        expect(row).to_have_count(1)
        row.get_by_role("button", name="Revoke").click()
        page.wait_for_url(base_url + "/profile?done=key-revoked")
        expect(page.get_by_role("status")).to_have_text("API key revoked.")
        expect(
            page.locator("section[aria-labelledby=keys-heading] tbody tr", has_text="backup script")
        ).to_have_count(0)

        gone = httpx.get(
            base_url + "/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        assert gone.status_code == 401, gone.text


def test_pairing_a_tv_with_a_hostile_name(browser: Browser, base_url: str) -> None:
    dialogs: list[str] = []

    def refuse(box: Dialog) -> None:
        dialogs.append(box.message)
        box.dismiss()

    tv = httpx.Client(base_url=base_url, timeout=10)
    started = tv.post("/api/v1/auth/pair", json={"device": XSS_DEVICE})
    assert started.status_code == 201, started.text
    pairing = started.json()
    poll = {"poll_token": pairing["poll_token"]}
    assert tv.post("/api/v1/auth/pair/poll", json=poll).status_code == 202

    # strict_page also fails on any CSP violation (an inline handler would be one).
    with strict_page(browser, base_url) as page:
        page.on("dialog", refuse)
        goto(page, base_url + pairing["verify_url"])
        waiting = page.locator("main p", has_text="Waiting:")
        expect(waiting.locator("strong")).to_have_text(XSS_DEVICE)
        expect(page.get_by_label("Code")).to_have_value(pairing["code"])
        assert page.locator("img[src=x], main img").count() == 0
        page.get_by_role("button", name="Sign the device in").click()
        expect(page.get_by_role("status")).to_have_text(
            f"Done: {XSS_DEVICE} is now signed in as {ADMIN_NAME}."
        )

        approved = tv.post("/api/v1/auth/pair/poll", json=poll)
        assert approved.status_code == 200, approved.text
        tokens = approved.json()
        me = tv.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.status_code == 200 and me.json()["name"] == ADMIN_NAME
        assert tv.post("/api/v1/auth/pair/poll", json=poll).status_code == 401  # once only
        # A refresh works (and rotates the token): the 401 below is the revocation's doing.
        fresh = tv.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert fresh.status_code == 200, fresh.text
        refresh_token = fresh.json()["refresh_token"]

        goto(page, base_url + "/profile")
        device = page.locator("section[aria-labelledby=sessions-heading] tbody tr", has_text="App")
        expect(device.locator("td").nth(1)).to_have_text(XSS_DEVICE)
        assert page.locator("img[src=x]").count() == 0

        goto(page, base_url + "/admin/sessions")
        row = page.locator("table.credentials tbody tr", has_text="App or device")
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(0)).to_have_text(ADMIN_NAME)
        expect(row.locator("td").nth(2)).to_have_text(XSS_DEVICE)
        assert page.locator("img[src=x]").count() == 0
        row.get_by_role("button", name="Sign out").click()
        page.wait_for_url(base_url + "/admin/sessions?done=revoked")
        expect(page.get_by_role("status")).to_have_text("Signed out.")
        expect(page.locator("table.credentials tbody tr", has_text="App or device")).to_have_count(
            0
        )

    refused = tv.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert refused.status_code == 401, refused.text
    tv.close()
    assert dialogs == []


def test_account_pages_run_under_the_policy(
    browser: Browser, base_url: str, api: httpx.Client
) -> None:
    me = api.get("/api/v1/auth/me").json()
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/profile")
        expect(page.locator("main h1")).to_have_text(ADMIN_NAME)
        # The QR code is an image from this server; setting up without confirming changes
        # nothing (two-factor turns on only with a code).
        page.get_by_role("button", name="Set up two-factor sign-in").click()
        page.wait_for_function(
            "() => { const img = document.querySelector('img.qr');"
            " return img && img.complete && img.naturalWidth > 0; }"
        )
        goto(page, base_url + "/admin/users")
        expect(page.locator("table.users tbody tr", has_text=ADMIN_NAME)).to_have_count(1)
        goto(page, f"{base_url}/admin/users/{me['id']}")
        expect(page.locator("main h1")).to_have_text(ADMIN_NAME)
        expect(page.get_by_label("Admin (sees everything")).to_be_checked()
        goto(page, base_url + "/admin/sessions")
        expect(page.locator("table.credentials tbody tr").first).to_be_visible()
        goto(page, base_url + "/admin/tasks")  # "Run now" a backup: htmx polls until done
        backups = page.locator("table.backups tbody tr")
        before = backups.count() if page.locator("table.backups td.muted").count() == 0 else 0
        page.get_by_role("button", name="Run Back up the catalog now").click()
        expect(page.locator("tr[data-task=backup]")).to_contain_text("done in", timeout=15_000)
        expect(backups).to_have_count(before + 1)
        goto(page, base_url + "/pair?code=NOSUCH")
        expect(page.get_by_role("heading", name="Sign in a TV or app")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Waiting:")
