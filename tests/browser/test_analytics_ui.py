"""The analytics pages in Debian's Chromium against a real Hearth on 127.0.0.1.

The dashboard (``/analytics``) draws its charts as SVG on the server, polls the
now-playing panel with htmx, narrows itself to a period and a person, and links every
chart to its CSV; a member gets ``/history`` (their own numbers) and a 403 for the
dashboard; an item's page draws a heatmap strip of where it was watched.

One server and one browser for the module, over five ten-minute clips of a plain colour at
1 fps (made in well under a second).  The numbers come from playback events posted the way
players post them (``/api/v1/playback/events``): the admin watched "Long Walk" three
times, Mira (a member) "Quiet Lake" once today, Noor (a member) "Far Hills" twenty days
ago.  Two tests post more, on titles the others only expect after theirs, so that no test
cares which ran first: Odo plays "Slow River" (now playing), the admin reports from inside
"Bright Day" (the heatmap; no play).  Pages run under ``strict_page``: a CSP violation or
a console error fails the test.  Screenshots of the dashboard go to
``/tmp/analytics-shots/``.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from mediaserver.testing import make_clip
from tests.browser.test_accounts_ui import sign_in, signed_in_as
from tests.browser.test_csp import goto, strict_page
from tests.browser.test_ui import CHROMIUM, DESKTOP, PHONE, api_headers, open_page, serve_library
from tests.integration.conftest import ADMIN_NAME

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]

LENGTH = 600  # seconds: 100 heatmap bins of 6 s
PASSWORD = "a long household password"
SHOTS = Path("/tmp/analytics-shots")
# file in the library -> lavfi colour; H.264 MP4s without audio.
CLIPS = {
    "Long Walk (2020).mp4": "black",  # the admin, three plays: the top title
    "Quiet Lake (2019).mp4": "navy",  # Mira, today
    "Far Hills (2018).mp4": "olive",  # Noor, twenty days ago: in 30 days, not in 7
    "Slow River (2021).mp4": "teal",  # now playing
    "Bright Day (2015).mp4": "purple",  # the heatmap (and two chapters)
}
CHAPTERS = [(0.0, 300.0, "Calm"), (300.0, 600.0, "Storm")]
# The fixture's titles, most played first; the other tests' come after them, if at all.
PLAYED = ["Long Walk", "Quiet Lake", "Far Hills"]
LATER = {"Slow River", "Bright Day"}
TITLES_CSV = ["item_id", "title", "plays", "completes", "completion_rate", "hours"]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    media = tmp_path_factory.mktemp("media") / "Library"
    tiny = {"r": 1, "preset": "ultrafast"}
    for name, colour in CLIPS.items():
        make_clip(media / name, seconds=LENGTH, size="64x36", video=f"color=c={colour}",
                  audio=False, output=tiny,
                  chapters=CHAPTERS if name.startswith("Bright Day") else ())  # fmt: skip
    with serve_library(tmp_path_factory, media) as url:
        yield url


@dataclass
class Home:
    """The server, who is in it (name -> Authorization headers, name -> user id) and the
    item ids by title."""

    http: httpx.Client
    headers: dict[str, dict[str, str]]
    user_ids: dict[str, int]
    ids: dict[str, int]

    def events(self, who: str, title: str, *batch: dict[str, Any]) -> None:
        answer = self.http.post(
            "/api/v1/playback/events",
            json={"events": [{"item_id": self.ids[title], **e} for e in batch]},
            headers={**self.headers[who], "User-Agent": "HearthTV/1.2"},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["rejected"] == [], answer.text

    def chart(self, name: str, **params: Any) -> list[dict[str, Any]]:
        answer = self.http.get(
            f"/api/v1/analytics/{name}", params=params, headers=self.headers[ADMIN_NAME]
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["rows"])


def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll ``check`` (events are written a moment after they are answered)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def viewing(session: str, *, decision: str, progress: int, end: str = "stop",
            at: datetime | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """One viewing's events: play, a progress report every 10 s (each counts 10 s), an end."""
    when = {"at": at.strftime("%Y-%m-%dT%H:%M:%SZ")} if at else {}
    return [
        {"type": "play", "position_s": 0, "decision": decision, "session": session, **when},
        *(
            {"type": "progress", "position_s": 10.0 * n, "session": session, **when}
            for n in range(progress)
        ),
        {"type": end, "position_s": LENGTH if end == "complete" else 10.0 * progress,
         "session": session, **when},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def home(base_url: str) -> Iterator[Home]:
    admin = api_headers(base_url)
    with httpx.Client(base_url=base_url, timeout=10) as http:
        items = http.get("/api/v1/items", params={"limit": 500}, headers=admin).json()["items"]
        ids = {item["title"]: int(item["id"]) for item in items}
        assert set(ids) >= {name.split(" (")[0] for name in CLIPS}, ids
        headers, user_ids = {ADMIN_NAME: admin}, {}
        for name in ("Mira", "Noor", "Odo"):
            made = http.post("/api/v1/users", json={"name": name, "password": PASSWORD},
                             headers=admin)  # fmt: skip
            assert made.status_code == 201, made.text
            user_ids[name] = int(made.json()["id"])
            login = http.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
            assert login.status_code == 200, login.text
            headers[name] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        user_ids[ADMIN_NAME] = int(http.get("/api/v1/auth/me", headers=admin).json()["id"])
        home = Home(http, headers, user_ids, ids)

        # The admin: Long Walk three times, twice to the end (36 reports = 6 min each).
        home.events(ADMIN_NAME, "Long Walk", *viewing("a1", decision="direct", progress=36,
                                                      end="complete"))  # fmt: skip
        home.events(ADMIN_NAME, "Long Walk", *viewing("a2", decision="direct", progress=36,
                                                      end="complete"))  # fmt: skip
        home.events(ADMIN_NAME, "Long Walk", *viewing("a3", decision="direct", progress=0))
        # Mira: Quiet Lake once (3 min), and her player's position (her history).
        home.events("Mira", "Quiet Lake", *viewing("m1", decision="remux", progress=18))
        stored = http.post(f"/api/v1/items/{ids['Quiet Lake']}/progress",
                           json={"position_s": 200.0, "state": "stopped"},
                           headers=headers["Mira"])  # fmt: skip
        assert stored.status_code == 200, stored.text
        # Noor: Far Hills (1 min), twenty days ago.
        long_ago = datetime.now(UTC) - timedelta(days=20)
        home.events("Noor", "Far Hills", *viewing("n1", decision="transcode", progress=6,
                                                  at=long_ago))  # fmt: skip
        eventually(
            lambda: (
                [(t["title"], t["plays"]) for t in home.chart("titles")][:3]
                == [("Long Walk", 3), ("Quiet Lake", 1), ("Far Hills", 1)]
            ),
            "the fixture's plays in the titles chart",
        )
        yield home


def rects(figure: Locator) -> Locator:
    return figure.locator("svg rect")


def labels(bars: Locator) -> list[str]:
    return [str(bar.get_attribute("data-label")) for bar in bars.all()]


def starts_with(bars: Locator, first: list[str], later: set[str] = LATER) -> list[str]:
    """The bars' labels: ``first``, then only ``later`` ones (what other tests add)."""
    found = labels(bars)
    assert found[: len(first)] == first and set(found[len(first) :]) <= later, found
    return found


def test_the_dashboard_draws_its_charts_as_svg(browser: Browser, base_url: str, home: Home) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/analytics")
        expect(page.locator("h1")).to_have_text("Analytics")
        svgs = page.locator("figure.chart svg")
        # hours, plays, titles, completion, trending, decisions, busiest, people: all drawn
        expect(svgs).to_have_count(8)
        expect(page.locator(".chart-empty")).to_have_count(0)
        for svg in svgs.all():
            expect(svg).to_be_visible()
            box = svg.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 20, box

        titles = page.locator("#chart-titles figure.chart-bars")
        expect(titles.locator("figcaption")).to_have_text("Top titles (plays)")
        bars = titles.locator("rect.chart-bar")
        starts_with(bars, PLAYED)
        walk = bars.first
        expect(walk.locator("title")).to_have_text("Long Walk: 3, 12 min")  # 2 × 360 s
        expect(bars.nth(1).locator("title")).to_have_text("Quiet Lake: 1, 3 min")  # 180 s
        # The bars are drawn in proportion (3 plays against 1), in the theme's colour.
        wide, narrow = walk.bounding_box(), bars.nth(1).bounding_box()
        assert wide is not None and narrow is not None
        assert narrow["width"] > 0 and abs(wide["width"] / narrow["width"] - 3) < 0.05
        assert walk.evaluate("(el) => getComputedStyle(el).fill") == "rgb(240, 160, 75)"
        link = titles.locator(f'a[href="/analytics/items/{home.ids["Long Walk"]}"]')
        expect(link).to_have_text("Long Walk")

        completion = page.locator("#chart-completion .chart-value")
        expect(completion).to_have_text(["67 %"] + ["0 %"] * (completion.count() - 1))
        # Direct 3 and remux 1 are the fixture's; the now-playing test may add a transcode.
        legend = page.locator("#chart-decisions .chart-legend li")
        played = {d["decision"]: d["plays"] for d in home.chart("decisions")}
        assert played["direct"] == 3 and played["remux"] == 1, played
        total = sum(played.values())
        expect(legend).to_have_text(
            [f"{name.title()}: {round(100 * n / total)}% ({n})" for name, n in played.items()]
        )
        people = page.locator("#chart-people rect.chart-bar")
        starts_with(people, [ADMIN_NAME, "Mira", "Noor"], {"Odo"})  # most hours first
        # The busiest-hours grid has a lit cell for each hour something was watched in.
        lit = page.locator("#chart-busiest rect.chart-cell:not([fill-opacity='0'])")
        assert lit.count() >= 1
        expect(page.locator("#now-playing")).to_contain_text("Nobody is watching")


def test_now_playing_follows_along_without_a_reload(
    browser: Browser, base_url: str, home: Home
) -> None:
    panel_of = "#now-playing article.viewing[data-user=Odo]"
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/analytics")
        expect(page.locator(panel_of)).to_have_count(0)
        page.evaluate("() => { window.hearthSamePage = true; }")  # gone if the page reloads
        started = time.monotonic()
        home.events("Odo", "Slow River",
                    {"type": "play", "position_s": 0, "decision": "transcode", "rung": "360p",
                     "session": "live"},
                    {"type": "seek", "from_s": 0, "to_s": 150, "session": "live"})  # fmt: skip
        odo = page.locator(panel_of)
        expect(odo).to_have_count(1, timeout=10_000)  # htmx polls every 5 s
        took = time.monotonic() - started
        expect(odo.locator(".viewing-head")).to_have_text(
            re.compile(r"^\s*Odo is watching\s+Slow River\s*$")
        )
        expect(odo.locator(".viewing-head a")).to_have_attribute(
            "href", f"/items/{home.ids['Slow River']}"
        )
        expect(odo.locator(".viewing-meta")).to_contain_text("HearthTV/1.2")
        expect(odo.locator(".viewing-meta .decision")).to_have_text("Transcode")
        expect(odo.locator(".viewing-meta")).to_contain_text("360p")
        expect(odo.locator(".viewing-bar")).to_have_attribute("aria-valuenow", "25")
        expect(odo.locator(".viewing-bar span")).to_have_text("2:30 / 10:00")
        expect(page.locator("#now-playing")).not_to_contain_text("Nobody is watching")

        home.events("Odo", "Slow River", {"type": "stop", "position_s": 160, "session": "live"})
        expect(odo).to_have_count(0, timeout=10_000)
        expect(page.locator("#now-playing")).to_contain_text("Nobody is watching")
        assert page.evaluate("() => window.hearthSamePage") is True
        assert page.url == base_url + "/analytics"
        assert took < 10, took


def test_periods_and_the_person_selector(browser: Browser, base_url: str, home: Home) -> None:
    mira = home.user_ids["Mira"]
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/analytics")
        periods = page.locator("nav.periods a")
        expect(periods).to_have_text(["Last 7 days", "Last 30 days", "Last 90 days", "Last year"])
        expect(page.locator("nav.periods a[aria-current=page]")).to_have_text("Last 30 days")
        expect(rects(page.locator("#chart-hours"))).to_have_count(30)  # a column a day
        titles = page.locator("#chart-titles rect.chart-bar")
        starts_with(titles, PLAYED)

        page.get_by_role("link", name="Last 7 days").click()
        page.wait_for_url(base_url + "/analytics?days=7")
        expect(page.locator("nav.periods a[aria-current=page]")).to_have_text("Last 7 days")
        expect(rects(page.locator("#chart-hours"))).to_have_count(7)
        starts_with(titles, ["Long Walk", "Quiet Lake"])  # Far Hills was 20 days ago
        expect(page.locator("#chart-hours figcaption")).to_have_text("Hours watched per day")

        page.get_by_role("link", name="Last year").click()
        page.wait_for_url(base_url + "/analytics?days=365")
        expect(page.locator("#chart-hours figcaption")).to_have_text("Hours watched per month")
        months = rects(page.locator("#chart-hours")).count()
        assert 12 <= months <= 13, months
        starts_with(titles, PLAYED)

        page.get_by_role("link", name="Last 7 days").click()
        page.wait_for_url(base_url + "/analytics?days=7")
        person = page.locator("select[name=user_id]")
        expect(person).to_have_value("")
        expect(person.locator("option")).to_have_text(
            ["Everyone", ADMIN_NAME, "Mira", "Noor", "Odo"]
        )
        person.select_option(label="Mira")  # submits itself
        page.wait_for_url(f"{base_url}/analytics?days=7&user_id={mira}")
        expect(page.locator("h1")).to_have_text("Analytics: Mira")
        expect(page.locator("select[name=user_id]")).to_have_value(str(mira))
        expect(page.locator("#chart-people")).to_have_count(0)  # one person: no people chart
        assert labels(titles) == ["Quiet Lake"]
        expect(page.locator("#chart-decisions .chart-legend li")).to_have_text(
            ["Direct: 0% (0)", "Remux: 100% (1)", "Transcode: 0% (0)"]
        )
        # The panel polls for her alone, and the periods keep her.
        expect(page.locator("#now-playing")).to_have_attribute(
            "hx-get", f"/analytics/now?user_id={mira}"
        )
        page.get_by_role("link", name="Last 30 days").click()
        page.wait_for_url(f"{base_url}/analytics?days=30&user_id={mira}")
        expect(page.locator("h1")).to_have_text("Analytics: Mira")

        # Noor watched only twenty days ago: her last 7 days are empty, her 30 are not.
        page.locator("select[name=user_id]").select_option(label="Noor")
        page.wait_for_url(f"{base_url}/analytics?days=30&user_id={home.user_ids['Noor']}")
        expect(page.locator("h1")).to_have_text("Analytics: Noor")
        assert labels(titles) == ["Far Hills"]
        page.get_by_role("link", name="Last 7 days").click()
        page.wait_for_url(re.compile(r"days=7&user_id=\d+$"))
        expect(page.locator("#chart-titles .chart-empty")).to_have_text("Nothing to show yet.")

        # Everyone's last 7 days: the people chart, its bars linking to each person.
        page.get_by_role("link", name="Analytics", exact=True).click()  # the header's link
        page.wait_for_url(base_url + "/analytics")
        page.get_by_role("link", name="Last 7 days").click()
        page.wait_for_url(base_url + "/analytics?days=7")
        people = page.locator("#chart-people")
        starts_with(people.locator("rect.chart-bar"), [ADMIN_NAME, "Mira"], {"Odo"})  # no Noor
        people.locator(f'a[href="/analytics?days=7&user_id={mira}"]').click()
        page.wait_for_url(f"{base_url}/analytics?days=7&user_id={mira}")
        expect(page.locator("h1")).to_have_text("Analytics: Mira")


def test_choosing_everyone_again(browser: Browser, base_url: str, home: Home) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, f"{base_url}/analytics?days=7&user_id={home.user_ids['Mira']}")
        expect(page.locator("h1")).to_have_text("Analytics: Mira")
        with page.expect_navigation() as landed:
            page.locator("select[name=user_id]").select_option(label="Everyone")
        answer = landed.value
        assert answer is not None and answer.status == 200, answer and answer.status
        expect(page.locator("h1")).to_have_text("Analytics")
        expect(page.locator("select[name=user_id]")).to_have_value("")
        expect(page.locator("nav.periods a[aria-current=page]")).to_have_text("Last 7 days")
        expect(page.locator("#chart-people rect.chart-bar").first).to_be_visible()


def read_download(page: Page, link: Locator) -> tuple[str, list[list[str]]]:
    with page.expect_download() as download:
        link.click()
    path = download.value.path()
    text = Path(path).read_text(encoding="utf-8")
    return download.value.suggested_filename, list(csv.reader(io.StringIO(text)))


def test_a_chart_downloads_as_csv(browser: Browser, base_url: str, home: Home) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/analytics")
        link = page.locator("#chart-titles a.csv")
        expect(link).to_have_text("Download CSV")
        name, table = read_download(page, link)
        assert name == "hearth-titles-30d.csv"
        assert table[0] == TITLES_CSV
        rows = [dict(zip(table[0], row, strict=True)) for row in table[1:]]
        titles = [r["title"] for r in rows]
        assert titles[:3] == PLAYED and set(titles[3:]) <= LATER, titles
        assert rows[0] == {
            "item_id": str(home.ids["Long Walk"]),
            "title": "Long Walk",
            "plays": "3",
            "completes": "2",
            "completion_rate": "0.667",
            "hours": "0.2",
        }

        # One person's page downloads that person's numbers.
        goto(page, f"{base_url}/analytics?days=7&user_id={home.user_ids['Mira']}")
        name, table = read_download(page, page.locator("#chart-decisions a.csv"))
        assert name == "hearth-decisions-7d.csv"
        assert table == [["decision", "plays"], ["direct", "0"], ["remux", "1"], ["transcode", "0"]]


def test_a_member_has_a_history_and_no_dashboard(
    browser: Browser, base_url: str, home: Home
) -> None:
    with strict_page(browser, base_url, signed_in=False) as page:
        sign_in(page, base_url, "Mira", PASSWORD)
        signed_in_as(page, base_url, "Mira")
        account = page.locator("nav.account")
        expect(account.get_by_role("link")).to_have_text(["History", "Mira"])  # no Analytics
        account.get_by_role("link", name="History").click()
        page.wait_for_url(base_url + "/history")
        expect(page.locator("h1")).to_have_text("Your viewing history")
        rows = page.locator("table.history tbody tr")
        expect(rows).to_have_count(1)
        row = rows.first
        expect(row).to_have_attribute("data-item-id", str(home.ids["Quiet Lake"]))
        expect(row.locator("td")).to_have_text(
            ["Quiet Lake", re.compile(r"^(today|yesterday) \d\d:\d\d$"), "at 3:20", "1"]
        )
        # Her charts: her one title, nobody else's.
        bars = page.locator("#chart-titles rect.chart-bar")
        assert labels(bars) == ["Quiet Lake"]
        expect(bars.locator("title")).to_have_text("Quiet Lake: 1, 3 min")
        expect(page.locator("main")).not_to_contain_text("Long Walk")
        for svg in page.locator("figure.chart svg").all():
            box = svg.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 20, box
        expect(page.locator("#chart-titles a.csv")).to_have_attribute(
            "href", f"/api/v1/analytics/titles.csv?days=30&user_id={home.user_ids['Mira']}"
        )

    # Not under strict_page: Chromium rightly logs the 403 ("Failed to load resource").
    # open_page still fails the test on a page error or a request to another host.
    with open_page(browser, base_url, DESKTOP, signed_in=False) as page:
        sign_in(page, base_url, "Mira", PASSWORD)
        signed_in_as(page, base_url, "Mira")
        answer = page.goto(base_url + "/analytics")
        assert answer is not None and answer.status == 403
        expect(page.locator("main h1")).to_have_text("Cannot do that")
        expect(page.locator("main")).to_contain_text("only an admin can do this")
        expect(page.locator(".chart-box, #now-playing")).to_have_count(0)


def test_the_item_page_draws_where_it_was_watched(
    browser: Browser, base_url: str, home: Home
) -> None:
    day = home.ids["Bright Day"]
    moments = home.http.get(
        f"/api/v1/analytics/items/{day}/moments", headers=home.headers[ADMIN_NAME]
    ).json()
    length = float(moments["length_s"])
    assert abs(length - LENGTH) < 1 and sum(moments["counts"]) == 0, moments
    # Five reports at 5:03, two at 1:00, one seek landing at 9:00 (no play: the others'
    # top titles stay as they are).
    home.events(ADMIN_NAME, "Bright Day",
                *({"type": "progress", "position_s": 303.0, "session": "h"} for _ in range(5)),
                *({"type": "progress", "position_s": 60.0, "session": "h"} for _ in range(2)),
                {"type": "seek", "from_s": 310, "to_s": 540, "session": "h"},
                {"type": "stop", "position_s": 545, "session": "h"})  # fmt: skip
    hot, warm, seek = (int(s * 100 / length) for s in (303, 60, 540))
    eventually(
        lambda: (
            sum(
                home.http.get(
                    f"/api/v1/analytics/items/{day}/moments", headers=home.headers[ADMIN_NAME]
                ).json()["counts"]
            )
            == 8
        ),
        "the heatmap's events stored",
    )
    with strict_page(browser, base_url) as page:
        goto(page, f"{base_url}/analytics/items/{day}")
        expect(page.locator("h1")).to_have_text("Bright Day")
        strip = page.locator("figure.chart-strip")
        expect(strip.locator("figcaption")).to_have_text("Most watched moments")
        cells = strip.locator("svg rect")
        expect(cells).to_have_count(100)
        opacity = [float(c.get_attribute("fill-opacity") or "nan") for c in cells.all()]
        assert opacity.index(max(opacity)) == hot == 50 and max(opacity) == 1
        assert {i for i, o in enumerate(opacity) if o > 0} == {hot, warm, seek}
        assert opacity[warm] == pytest.approx(0.15 + 0.85 * 2 / 5, abs=0.01)
        assert opacity[seek] == pytest.approx(0.15 + 0.85 * 1 / 5, abs=0.01)
        expect(cells.nth(hot).locator("title")).to_have_text("5:00 to 5:06: 5")
        # Drawn where it says: the brightest cell sits halfway along the strip.
        svg, cell = strip.locator("svg").bounding_box(), cells.nth(hot).bounding_box()
        assert svg is not None and cell is not None and svg["width"] > 300
        assert abs((cell["x"] - svg["x"]) / svg["width"] - hot / 100) < 0.01
        # The second chapter is marked (the first, at 0:00, is not).
        expect(strip.locator("line.chart-mark title")).to_have_text(["5:00 Storm"])
        expect(page.locator("#chart-moments")).to_contain_text("1m 20s watched in all.")
        expect(page.locator("#chart-moments a.csv")).to_have_attribute(
            "href", re.compile(rf"^/api/v1/analytics/items/{day}/moments\?format=csv")
        )


def test_dashboard_screenshots(browser: Browser, base_url: str, home: Home) -> None:
    """Full-page pictures at 1280 px and 390 px; on the phone nothing is wider than it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/analytics")
        expect(page.locator("figure.chart svg")).to_have_count(8)
        page.screenshot(path=str(SHOTS / "analytics-1280.png"), full_page=True)
    with open_page(browser, base_url, PHONE) as phone:
        goto(phone, base_url + "/analytics")
        expect(phone.locator("figure.chart svg")).to_have_count(8)
        phone.screenshot(path=str(SHOTS / "analytics-390.png"), full_page=True)
        wide = phone.evaluate("() => document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], wide
    assert (SHOTS / "analytics-1280.png").stat().st_size > 10_000
    assert (SHOTS / "analytics-390.png").stat().st_size > 10_000


def test_the_busiest_hours_labels_are_not_outlined(
    browser: Browser, base_url: str, home: Home
) -> None:
    with strict_page(browser, base_url) as page:
        goto(page, base_url + "/analytics")
        label = page.locator("#chart-busiest svg text").first
        expect(label).to_have_text("00:00")
        assert label.evaluate("(el) => getComputedStyle(el).stroke") == "none"


def test_chart_labels_are_readable_on_a_phone(browser: Browser, base_url: str, home: Home) -> None:
    with open_page(browser, base_url, PHONE) as phone:
        goto(phone, base_url + "/analytics")
        label = phone.locator("#chart-titles text.chart-label").first
        expect(label).to_have_text("Long Walk")
        box = label.bounding_box()
        assert box is not None and box["height"] >= 10, box
