"""The UI in Debian's Chromium against a real Hearth on 127.0.0.1 with a tiny real library.

One server and one browser per module: the library is scanned once, then the tests drive
search-as-you-type, the item page, direct play and the keyboard the way a person would.
Every route needs a signed-in user: ``serve_hearth`` makes the admin in the data folder before
the app starts, with an API key (for ``httpx``) and a web session that ``new_context`` puts in
each browser context's cookie jar; ``test_sign_in_page`` goes through the real form instead.
The screenshots the README shows come from here: run with ``HEARTH_SCREENSHOTS=docs/screenshots``
to refresh them (otherwise they go to a temporary folder, so a test run leaves the tree clean).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ffmpeg
import httpx
import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    ViewportSize,
    expect,
)

from mediaserver.api.guard import SESSION_COOKIE
from mediaserver.app import create_app
from mediaserver.config import LibrarySettings, LoggingSettings, Settings
from mediaserver.http_protocol import BoundedHttpToolsProtocol
from mediaserver.testing import user_credentials
from tests.integration.conftest import ADMIN_NAME, ADMIN_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
FFMPEG = shutil.which("ffmpeg") or "ffmpeg"  # make system-deps installs it
# Only 127.0.0.1 resolves; nothing phones home, nothing is downloaded.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
SCREENSHOTS = Path(os.environ.get("HEARTH_SCREENSHOTS") or tempfile.mkdtemp(prefix="hearth-shots-"))
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# path -> (lavfi video source, tone in Hz): distinct pictures make distinct posters.
CLIPS = {
    "Sintel.Test.2010.mp4": ("testsrc2", 440),
    "Big.Bunny.Test.2008.mp4": ("smptehdbars", 550),
    "Tears.Of.Steel.Test.2012.mp4": ("rgbtestsrc", 660),
    "Demo Show/Season 01/Demo.Show.S01E01.mp4": ("testsrc", 330),
    "Demo Show/Season 01/Demo.Show.S01E02.mp4": ("pal100bars", 770),
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]


def make_clips(root: Path) -> None:
    """4 s, 320x180 H.264/AAC MP4s (faststart), encoded in parallel."""
    jobs = []
    for name, (source, hz) in CLIPS.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        video = ffmpeg.input(f"{source}=size=320x180:rate=25:duration=4", f="lavfi")
        audio = ffmpeg.input(f"sine=frequency={hz}:duration=4", f="lavfi")
        argv = (
            ffmpeg.output(
                video,
                audio,
                str(target),
                t=4,
                vcodec="libx264",
                preset="ultrafast",
                pix_fmt="yuv420p",
                acodec="aac",
                ac=2,
                movflags="+faststart",
            )
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .overwrite_output()
            .compile(cmd=FFMPEG)
        )
        jobs.append(subprocess.Popen(argv, stderr=subprocess.PIPE))  # noqa: S603
    for job in jobs:
        _, err = job.communicate(timeout=60)
        assert job.returncode == 0, err.decode(errors="replace")


@contextmanager
def run_server(app: Any, startup_timeout: float = 15.0) -> Iterator[str]:
    """uvicorn on a socket bound to 127.0.0.1:0 (no port race), in a thread; the base URL.

    The same approach as ``tests/integration/conftest.py::run_server``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
            http=BoundedHttpToolsProtocol,
            timeout_graceful_shutdown=2,  # open event streams, as serve does
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# base URL -> (the admin's API key, a web session of the admin)
SIGNED_IN: dict[str, tuple[str, str]] = {}


def sign_in_ahead(settings: Settings) -> tuple[str, str]:
    """The admin in the data folder (before the app starts): an API key and a web session."""
    key, session = user_credentials(
        settings.data_path,
        ADMIN_NAME,
        ADMIN_PASSWORD,
        admin=True,
        kinds=("api_key", "session"),
        label="browser tests",
    )
    return key, session


def api_headers(base_url: str) -> dict[str, str]:
    """``Authorization`` for ``httpx`` requests to the server at ``base_url``."""
    return {"Authorization": f"Bearer {SIGNED_IN[base_url][0]}"}


def new_context(
    browser: Browser, base_url: str, *, signed_in: bool = True, **options: Any
) -> BrowserContext:
    """A fresh context (10 s timeouts), with the admin's session cookie unless ``signed_in``
    is False."""
    context = browser.new_context(**options)
    context.set_default_timeout(10_000)
    if signed_in:
        context.add_cookies(
            [
                {
                    "name": SESSION_COOKIE,
                    "value": SIGNED_IN[base_url][1],
                    "domain": "127.0.0.1",
                    "path": "/",
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )
    return context


@contextmanager
def serve_hearth(settings: Settings, problems: int = 0) -> Iterator[str]:
    """A signed-in admin, then the app on ``run_server``; its URL once the first scan is done
    (and found ``problems`` problems)."""
    credentials = sign_in_ahead(settings)
    with run_server(create_app(settings)) as url:
        SIGNED_IN[url] = credentials
        try:
            wait_until_scanned(url, problems=problems)
            yield url
        finally:
            SIGNED_IN.pop(url, None)


@contextmanager
def serve_library(
    tmp_path_factory: pytest.TempPathFactory, media: Path, problems: int = 0
) -> Iterator[str]:
    """``serve_hearth`` over one media folder, with a fresh data folder, no file watching
    and no periodic scans: what a browser test module needs."""
    settings = Settings(
        data_dir=str(tmp_path_factory.mktemp("data")),
        library=LibrarySettings(media_dirs=(str(media),), watch=False, scan_interval_minutes=0),
        logging=LoggingSettings(level="warning"),
    )
    with serve_hearth(settings, problems) as url:
        yield url


def wait_until_scanned(base_url: str, timeout: float = 60.0, problems: int = 0) -> None:
    """Startup is ready, a scan has run to the end (finding ``problems`` problems) and
    nothing is queued."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=5, headers=api_headers(base_url)) as http:
        while time.monotonic() < deadline:
            health = http.get("/health").json()
            status = http.get("/api/v1/scan/status").json()
            if (
                health["startup"] == "ready"
                and status["state"] == "idle"
                and status["last"] is not None
                and not status["queued"]
            ):
                assert status["last"]["problems"] == problems, status
                return
            time.sleep(0.1)
    raise TimeoutError(f"the scan did not finish within {timeout}s")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"  # the library is named after it
    make_clips(media)
    with serve_library(tmp_path_factory, media) as url:
        yield url


@contextmanager
def open_page(
    browser: Browser, base_url: str, viewport: ViewportSize, *, signed_in: bool = True
) -> Iterator[Page]:
    """A fresh context; on the way out, check the page asked for nothing but our server."""
    context = new_context(browser, base_url, signed_in=signed_in, viewport=viewport)
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()
    assert all(u.startswith(base_url + "/") or u.startswith("data:") for u in requested), requested
    assert errors == []


def test_home_search_item_and_play(browser: Browser, base_url: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with open_page(browser, base_url, DESKTOP) as page:
        page.goto(base_url + "/")
        recent = page.locator("section[aria-labelledby=recent] .row .card")
        expect(recent).to_have_count(4)  # three films and the show
        expect(recent.filter(has_text="Sintel Test")).to_have_count(1)
        expect(recent.filter(has_text="Demo Show")).to_have_count(1)
        page.wait_for_function(
            """() => [...document.querySelectorAll("section[aria-labelledby=recent] .poster img")]
                     .filter((img) => img.complete && img.naturalWidth > 0).length === 4"""
        )
        page.screenshot(path=SCREENSHOTS / "home.png")

        # Search as you type: htmx fires on input, no Enter.
        page.locator("#search-box").press_sequentially("sint", delay=40)
        results = page.locator("#search-results")
        expect(results).to_contain_text("Sintel Test")
        expect(results).not_to_contain_text("Big Bunny")
        results.locator("a.card", has_text="Sintel Test").click()

        page.wait_for_url(re.compile(r"/items/\d+$"))
        expect(page.locator("h1")).to_contain_text("Sintel Test")
        streams = page.locator("table.streams")
        expect(streams).to_contain_text("h264")
        expect(streams).to_contain_text("aac")
        expect(streams).to_contain_text("320\u00d7180, 25.0 fps, 8-bit, yuv420p, ")

        # app.js sends what the browser decodes; the server's decision hands the file over.
        player = page.locator("video#player")
        expect(player).to_have_attribute(
            "src", re.compile(r"^/api/v1/items/\d+/file\?file_id=\d+$")
        )
        expect(player).to_have_attribute("data-decision", "direct")
        expect(page.locator("#player-decision")).to_have_text(
            "Direct play: this browser plays MP4 with H.264 and AAC."
        )
        expect(player).to_be_visible()
        page.evaluate(
            """async () => { const v = document.getElementById("player");
                             v.muted = true; await v.play(); }"""
        )
        page.wait_for_function(
            "() => document.getElementById('player').currentTime > 0.5", timeout=10_000
        )
        page.evaluate("document.getElementById('player').pause()")
        page.screenshot(path=SCREENSHOTS / "item.png", full_page=True)  # with the details


def test_slash_focuses_the_search_box(browser: Browser, base_url: str) -> None:
    with open_page(browser, base_url, DESKTOP) as page:
        page.goto(base_url + "/")
        assert page.evaluate("document.activeElement === document.body")
        page.keyboard.press("/")
        expect(page.locator("#search-box")).to_be_focused()
        expect(page.locator("#search-box")).to_have_value("")  # the "/" itself is swallowed
        page.keyboard.press("Escape")
        expect(page.locator("#search-box")).not_to_be_focused()


def test_phone_pages_have_no_horizontal_overflow(browser: Browser, base_url: str) -> None:
    found = httpx.get(
        base_url + "/api/v1/items",
        params={"q": "sintel"},
        headers=api_headers(base_url),
        timeout=5,
    ).json()
    item_id = found["items"][0]["id"]
    with open_page(browser, base_url, PHONE) as page:
        for path, ready in (
            ("/", "section[aria-labelledby=recent] .card"),
            (f"/items/{item_id}", ".hero h1"),
        ):
            page.goto(base_url + path)
            expect(page.locator(ready).first).to_be_visible()
            page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
            widths = page.evaluate(
                "({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
            )
            assert widths["scroll"] <= widths["inner"], (path, widths)


def test_sign_in_page(browser: Browser, base_url: str) -> None:
    """Anonymous: to the sign-in form and back; htmx posts carry the CSRF token; sign out."""
    with open_page(browser, base_url, DESKTOP, signed_in=False) as page:
        page.goto(base_url + "/")
        page.wait_for_url(base_url + "/login?next=%2F")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        expect(page.get_by_role("button", name="Sign out")).to_have_count(0)

        form = page.locator("form.signin-form")
        form.get_by_label("User name").fill(ADMIN_NAME)
        form.get_by_label("Password").fill("not the password")
        form.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
        expect(form.get_by_label("User name")).to_have_value(ADMIN_NAME)  # kept, not retyped
        form.get_by_label("Password").fill(ADMIN_PASSWORD)
        form.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base_url + "/")
        expect(page.locator("section[aria-labelledby=recent] .card")).to_have_count(4)
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies[SESSION_COOKIE]["httpOnly"] and cookies[SESSION_COOKIE]["sameSite"] == "Lax"

        # A cookie-signed-in POST needs the page's CSRF token: htmx sends it (app.js) ...
        page.goto(base_url + "/admin/tasks")  # the server's own state lives under Admin
        scan = page.locator("#scan-status")
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url == base_url + "/scan"
        ) as answer:
            scan.get_by_role("button", name="Scan libraries").click()
        assert answer.value.status == 200
        expect(scan.get_by_role("button", name="Scan libraries")).to_be_visible(timeout=30_000)
        # ... and the same POST without it, with the cookie alone, is refused.
        assert page.request.post(base_url + "/scan").status == 403

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(base_url + "/login")
        assert SESSION_COOKIE not in {c["name"] for c in page.context.cookies()}
        page.goto(base_url + "/search?q=sint")
        page.wait_for_url(base_url + "/login?next=%2Fsearch%3Fq%3Dsint")
        # Revoked on the server too, not just dropped from the cookie jar.
        old = {"Cookie": f"{SESSION_COOKIE}={cookies[SESSION_COOKIE]['value']}"}
        assert page.request.get(base_url + "/api/v1/auth/me", headers=old).status == 401
    wait_until_scanned(base_url)  # the scan started here is over before the next test
