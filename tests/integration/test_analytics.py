"""Analytics over HTTP: now playing from real reports, chart data as JSON and CSV, the
dashboard's SVG charts, and what a member may see (their own numbers, nobody else's)."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import add_member, auth_headers, wait_for_scan

LENGTH = 300.0


@dataclass
class Home:
    client: httpx.Client
    admin: dict[str, str]
    ids: dict[str, int]

    def member(self, name: str, **limits: object) -> tuple[int, dict[str, str]]:
        return add_member(self.client, self.admin, name, **limits)

    def events(self, headers: dict[str, str], title: str, *batch: dict[str, object]) -> None:
        answer = self.client.post(
            "/api/v1/playback/events",
            json={"events": [{"item_id": self.ids[title], **e} for e in batch]},
            headers={**headers, "User-Agent": "HearthTV/1.2"},
        )
        assert answer.status_code == 202, answer.text

    def chart(self, headers: dict[str, str], name: str, **params: str | int) -> httpx.Response:
        return self.client.get(f"/api/v1/analytics/{name}", params=params, headers=headers)


@pytest.fixture(scope="module")
def home(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Home]:
    media = tmp_path_factory.mktemp("analytics-media")
    for name, colour in (
        ("Films/Long Walk (2020).mp4", "black"),
        ("Kids/Slow River (2021).mp4", "navy"),
    ):
        path = media / name
        make_clip(path, seconds=LENGTH, size="64x36", video=f"color=c={colour}", audio=False,
                  output={"r": 1, "preset": "ultrafast"})  # fmt: skip
    data = tmp_path_factory.mktemp("analytics-data")
    with (
        hearth_server(data, [media / "Films", media / "Kids"]) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        admin = auth_headers(url)
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        items = client.get("/api/v1/items?limit=50", headers=admin).json()["items"]
        libraries = client.get("/api/v1/libraries", headers=admin).json()["libraries"]
        ids = {i["title"]: i["id"] for i in items}
        ids.update({f"library:{lib['name']}": lib["id"] for lib in libraries})
        yield Home(client, admin, ids)


def test_now_playing_follows_the_players(home: Home) -> None:
    user_id, anna = home.member("Anna")
    home.events(anna, "Long Walk", {"type": "play", "position_s": 0, "decision": "transcode",
                                    "rung": "360p", "session": "s1"})  # fmt: skip
    home.events(anna, "Long Walk", {"type": "seek", "from_s": 0, "to_s": 75, "session": "s1"})
    rows = home.chart(home.admin, "now-playing").json()["rows"]
    [viewing] = [r for r in rows if r["user"] == "Anna"]
    assert viewing["title"] == "Long Walk" and viewing["device"] == "HearthTV/1.2"
    assert viewing["decision"] == "transcode" and viewing["bitrate"] == (800 + 128) * 1000
    assert viewing["position_s"] == 75 and viewing["fraction"] == 0.25
    page = home.client.get("/analytics/now", headers=home.admin)
    assert page.status_code == 200 and "Anna" in page.text and "Transcode" in page.text
    # the member sees their own viewing, not the panel of everyone's
    assert [r["user"] for r in home.chart(anna, "now-playing").json()["rows"]] == ["Anna"]
    assert home.client.get("/analytics/now", headers=anna).status_code == 403
    home.events(anna, "Long Walk", {"type": "stop", "position_s": 80, "session": "s1"})
    assert [
        r for r in home.chart(home.admin, "now-playing").json()["rows"] if r["user"] == "Anna"
    ] == []
    assert user_id > 0


def test_charts_count_plays_and_export_csv(home: Home) -> None:
    _, ben = home.member("Ben")
    for _ in range(2):
        home.events(ben, "Slow River", {"type": "play", "decision": "direct"},
                    *({"type": "progress", "position_s": 10.0 * n} for n in range(15)),
                    {"type": "complete", "position_s": LENGTH})  # fmt: skip
    home.events(ben, "Long Walk", {"type": "play", "decision": "remux"})
    titles = home.chart(ben, "titles").json()["rows"]
    assert [(t["title"], t["plays"], t["completion_rate"]) for t in titles][:2] == [
        ("Slow River", 2, 1.0),
        ("Long Walk", 1, 0.0),
    ]
    decisions = {d["decision"]: d["plays"] for d in home.chart(ben, "decisions").json()["rows"]}
    assert decisions == {"direct": 2, "remux": 1, "transcode": 0}
    daily = home.chart(ben, "daily", days=7).json()["rows"]
    assert (
        len(daily) == 7
        and daily[-1]["plays"] == 3
        and daily[-1]["hours"] == pytest.approx(300 / 3600, abs=0.001)
    )
    exported = home.chart(ben, "titles.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="hearth-titles-30d.csv"' in exported.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert table[0]["title"] == "Slow River" and table[0]["plays"] == "2"
    moments = home.client.get(
        f"/api/v1/analytics/items/{home.ids['Slow River']}/moments",
        params={"bins": 10},
        headers=ben,
    ).json()
    assert moments["counts"] == [6, 6, 6, 6, 6, 0, 0, 0, 0, 0]  # 0-140 s, twice


def test_a_member_sees_only_their_own_numbers(home: Home) -> None:
    carl_id, carl = home.member("Carl")
    home.events(carl, "Long Walk", {"type": "play", "decision": "direct"})
    assert [p["name"] for p in home.chart(carl, "people").json()["rows"]] == ["Carl"]
    everyone = [p["name"] for p in home.chart(home.admin, "people").json()["rows"]]
    assert "Carl" in everyone and len(everyone) > 1
    assert home.chart(carl, "people", user_id=1).status_code == 404
    assert home.chart(carl, "people", user_id=carl_id).status_code == 200
    assert home.client.get("/analytics", headers=carl).status_code == 403
    history = home.client.get("/history", headers=carl)
    assert history.status_code == 200 and "Your viewing history" in history.text


def test_hidden_items_and_bad_parameters_are_refused_clearly(home: Home) -> None:
    _, kid = home.member("Dot", libraries=[home.ids["library:Kids"]])
    long_walk = home.ids["Long Walk"]
    for path in (f"/api/v1/analytics/items/{long_walk}/moments", f"/analytics/items/{long_walk}"):
        assert home.client.get(path, headers=kid).status_code == 404
    assert (
        home.client.get("/api/v1/analytics/items/999999/moments", headers=home.admin).status_code
        == 404
    )
    unknown = home.chart(home.admin, "favourites")
    assert unknown.status_code == 404 and "daily" in unknown.json()["detail"]
    for params in ({"days": 0}, {"days": "soon"}, {"limit": 9999}, {"format": "xlsx"}):
        answer = home.chart(home.admin, "titles", **params)
        assert answer.status_code == 400, (params, answer.text)


def test_the_dashboard_draws_svg_charts(home: Home) -> None:
    page = home.client.get("/analytics?days=7", headers=home.admin)
    assert page.status_code == 200
    assert 'aria-current="page">Last 7 days' in page.text
    assert page.text.count("<svg viewBox=") >= 5 and "Slow River" in page.text
    start = page.text.index('<figure class="chart chart-bars">')
    figure = ET.fromstring(page.text[start : page.text.index("</figure>", start) + 9])
    assert figure.findtext("figcaption") == "Top titles (plays)"
    one = home.client.get(f"/analytics/items/{home.ids['Slow River']}", headers=home.admin)
    assert (
        one.status_code == 200 and "chart-strip" in one.text and "Most watched moments" in one.text
    )
    assert home.client.get("/analytics?user_id=424242", headers=home.admin).status_code == 404


def test_metrics_count_the_people_watching(home: Home) -> None:
    _, eve = home.member("Eve")
    home.events(eve, "Slow River", {"type": "play", "decision": "direct"})
    text = home.client.get("/metrics", headers=home.admin).text
    line = next(x for x in text.splitlines() if x.startswith("hearth_playback_sessions "))
    assert float(line.split()[1]) >= 1
