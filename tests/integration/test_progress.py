"""Viewing progress over HTTP: reports, watched state, marks, home rows, and durability."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import add_member, auth_headers, wait_for_scan, wait_until

LENGTH = 600.0  # ten-minute clips: 64x36 black at 1 fps, well under a second to make


@dataclass
class Home:
    client: httpx.Client
    admin: dict[str, str]
    ids: dict[str, int]

    def member(self, name: str, **limits: Any) -> dict[str, str]:
        return add_member(self.client, self.admin, name, **limits)[1]

    def report(self, headers: dict[str, str], title: str, position: float, state: str = "playing"):
        return self.client.post(
            f"/api/v1/items/{self.ids[title]}/progress",
            json={"position_s": position, "state": state},
            headers=headers,
        )

    def user_data(self, headers: dict[str, str], title: str) -> dict[str, Any]:
        item = self.client.get(f"/api/v1/items/{self.ids[title]}", headers=headers)
        assert item.status_code == 200, item.text
        return dict(item.json()["user_data"])


def _clip(path: Path, colour: str, credits: bool = False) -> None:
    chapters = [(0.0, 540.0, "Story"), (540.0, LENGTH, "End Credits")] if credits else []
    make_clip(path, seconds=LENGTH, size="64x36", video=f"color=c={colour}", audio=False,
              output={"r": 1, "preset": "ultrafast"}, chapters=chapters)  # fmt: skip


@pytest.fixture(scope="module")
def home(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Home]:
    media = tmp_path_factory.mktemp("progress-media")
    _clip(media / "Films" / "Long Walk (2020).mp4", "black", credits=True)
    _clip(media / "Films" / "Slow River (2021).mp4", "navy")
    for n, colour in enumerate(["red", "green", "blue"], start=1):
        _clip(media / "Shows" / "Tide" / "Season 1" / f"Tide S01E0{n}.mp4", colour)
    (media / "Shows" / "Tide" / "tvshow.nfo").write_text(
        "<tvshow><title>Tide</title></tvshow>", encoding="utf-8"
    )
    data = tmp_path_factory.mktemp("progress-data")
    with hearth_server(data, [media]) as url, httpx.Client(base_url=url, timeout=30) as client:
        admin = auth_headers(url)
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        items = client.get("/api/v1/items?limit=500", headers=admin).json()["items"]
        ids = {i["title"]: i["id"] for i in items}
        for item in items:
            if item["kind"] == "episode":
                ids[f"E{item['episode_number']}"] = item["id"]
        yield Home(client, admin, ids)


def test_a_report_is_stored_and_shown_with_the_item(home: Home) -> None:
    viewer = home.member("Ada")
    assert home.user_data(viewer, "Slow River") == {
        "position_s": 0.0, "watched": False, "rewatching": False, "play_count": 0,
        "last_played_at": None, "favourite": False,
    }  # fmt: skip
    answer = home.report(viewer, "Slow River", 123.4, "paused")
    assert answer.status_code == 200, answer.text
    assert answer.json()["user_data"]["position_s"] == 123.4
    data = home.user_data(viewer, "Slow River")
    assert data["position_s"] == 123.4 and data["watched"] is False
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", data["last_played_at"])
    assert home.user_data(home.admin, "Slow River")["position_s"] == 0.0  # per person
    listed = home.client.get("/api/v1/items?kind=movie", headers=viewer).json()["items"]
    assert {i["title"]: i["user_data"]["position_s"] for i in listed}["Slow River"] == 123.4


@pytest.mark.parametrize(
    "body",
    [
        {"position_s": -1, "state": "playing"},
        {"position_s": 5000, "state": "playing"},  # past the end of a 600 s film
        {"position_s": 10, "state": "rewinding"},
        {"position_s": "ten"},
        {"state": "playing"},
        {"position_s": 10, "state": "playing", "extra": 1},
    ],
)
def test_a_report_that_cannot_be_right_is_a_400_and_changes_nothing(
    home: Home, body: dict[str, Any]
) -> None:
    viewer = home.member(f"Bad{abs(hash(str(body))) % 10_000}")
    home.report(viewer, "Slow River", 200.0)
    answer = home.client.post(
        f"/api/v1/items/{home.ids['Slow River']}/progress", json=body, headers=viewer
    )
    assert answer.status_code == 400, answer.text
    assert home.user_data(viewer, "Slow River")["position_s"] == 200.0
    missing = home.client.post(
        "/api/v1/items/987654/progress", json={"position_s": 1}, headers=viewer
    )
    assert missing.status_code == 404


def test_the_credits_or_ninety_percent_count_as_watched_once(home: Home) -> None:
    viewer = home.member("Bea")
    home.report(viewer, "Long Walk", 300.0)
    credits = home.report(viewer, "Long Walk", 541.0)  # the credits start at 540 s (90 %)
    assert credits.json()["user_data"] == {
        **credits.json()["user_data"], "position_s": 0.0, "watched": True, "play_count": 1,
    }  # fmt: skip
    home.report(viewer, "Long Walk", 560.0)  # still rolling: the same viewing
    home.report(viewer, "Long Walk", 590.0, "stopped")
    assert home.user_data(viewer, "Long Walk")["play_count"] == 1
    home.report(viewer, "Slow River", 545.0)  # 90 % of a film without chapters
    assert home.user_data(viewer, "Slow River")["watched"] is True
    home.report(viewer, "Long Walk", 100.0)  # watching again
    home.report(viewer, "Long Walk", 580.0)
    again = home.user_data(viewer, "Long Walk")
    assert again["play_count"] == 2 and again["watched"] is True


def test_a_whole_show_is_marked_watched_and_unwatched(home: Home) -> None:
    viewer = home.member("Cy")
    marked = home.client.post(f"/api/v1/items/{home.ids['Tide']}/watched", headers=viewer)
    assert marked.status_code == 200 and marked.json()["items"] == 3
    assert all(home.user_data(viewer, f"E{n}")["watched"] for n in (1, 2, 3))
    cleared = home.client.delete(f"/api/v1/items/{home.ids['E2']}/watched", headers=viewer)
    assert cleared.status_code == 200
    assert [home.user_data(viewer, f"E{n}")["watched"] for n in (1, 2, 3)] == [True, False, True]


def test_home_rows_continue_watching_and_next_up(home: Home) -> None:
    viewer = home.member("Dee")
    home.report(viewer, "Slow River", 60.0)
    home.report(viewer, "E1", 590.0, "stopped")  # finished episode 1
    rows = home.client.get("/api/v1/home", headers=viewer).json()
    assert [i["title"] for i in rows["continue_watching"]] == ["Slow River"]
    assert rows["continue_watching"][0]["user_data"]["position_s"] == 60.0
    assert [i["id"] for i in rows["next_up"]] == [home.ids["E2"]]
    assert {i["title"] for i in rows["recently_added"]} >= {"Slow River", "Tide"}
    home.report(viewer, "E2", 100.0)  # episode 2 started: it moves to Continue watching
    rows = home.client.get("/api/v1/home", headers=viewer).json()
    assert [i["id"] for i in rows["continue_watching"]] == [home.ids["E2"], home.ids["Slow River"]]
    assert rows["next_up"] == []


def _continue_watching(home: Home, viewer: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = home.client.get("/api/v1/home", headers=viewer).json()[
        "continue_watching"
    ]
    return rows


def _html(home: Home, viewer: dict[str, str], path: str) -> str:
    return home.client.get(path, headers={**viewer, "accept": "text/html"}).text


def test_a_watched_film_leaves_continue_watching_and_a_rewatch_shows_as_one(home: Home) -> None:
    """Issue 15, bug 9: no watched film with a tick in Continue watching; a rewatch past its
    start is there as "Rewatching", with Resume on its page, until it is finished again."""
    viewer = home.member("Lea")
    film = home.ids["Slow River"]
    home.report(viewer, "Slow River", 300.0)
    assert [i["id"] for i in _continue_watching(home, viewer)] == [film]
    home.report(viewer, "Slow River", 560.0, "stopped")  # finished
    assert _continue_watching(home, viewer) == []
    home.report(viewer, "Slow River", 12.0)  # from the start again: not past the start
    assert _continue_watching(home, viewer) == []
    home.report(viewer, "Slow River", 200.0, "paused")  # a rewatch
    (again,) = _continue_watching(home, viewer)
    assert again["id"] == film and again["user_data"] == {
        **again["user_data"], "position_s": 200.0, "watched": True, "rewatching": True,
    }  # fmt: skip
    start = _html(home, viewer, "/").split('id="continue"')[1].split("</section>")[0]
    assert "Rewatching" in start and "progress-bar" in start and "watched-mark" not in start
    page = _html(home, viewer, f"/items/{film}")
    resume = page.split("data-resume ")[1].split("</div>")[0]
    assert (
        "hidden" not in resume.split(">")[0] and "Resume from <span data-resume-time>3:20" in resume
    )
    assert "Rewatching" in resume
    assert 'aria-pressed="false"' in page  # not done: "Mark watched" finishes it
    assert home.client.post(f"/api/v1/items/{film}/watched", headers=viewer).status_code == 200
    assert _continue_watching(home, viewer) == []
    assert home.user_data(viewer, "Slow River")["rewatching"] is False
    home.report(viewer, "Slow River", 100.0)
    home.report(viewer, "Slow River", 580.0, "stopped")  # a rewatch to the end
    assert _continue_watching(home, viewer) == []
    assert home.user_data(viewer, "Slow River")["play_count"] == 2  # the end, and the end again


def test_another_persons_progress_is_theirs_alone(home: Home) -> None:
    a, b = home.member("Eve"), home.member("Finn")
    home.report(a, "Slow River", 77.0)
    assert home.user_data(b, "Slow River")["position_s"] == 0.0
    assert home.client.get("/api/v1/home", headers=b).json()["continue_watching"] == []
    kid = home.member("Gus", max_rating="G")  # every film here is unrated: all hidden
    hidden = home.report(kid, "Slow River", 10.0)
    assert hidden.status_code == 404


def test_a_browser_reports_with_a_beacon_form(home: Home) -> None:
    from tests.integration.conftest import ADMIN_NAME, ADMIN_PASSWORD

    with httpx.Client(base_url=str(home.client.base_url), timeout=30) as browser:
        browser.post("/login", data={"username": ADMIN_NAME, "password": ADMIN_PASSWORD})
        page = browser.get("/", headers={"accept": "text/html"}).text
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
        assert token is not None
        target = f"/api/v1/items/{home.ids['E3']}/progress"
        refused = browser.post(target, data={"position_s": "42", "state": "paused"})
        assert refused.status_code == 403  # no token: another site cannot post for you
        beacon = browser.post(
            target, data={"position_s": "42.5", "state": "paused", "csrf_token": token[1]}
        )
        assert beacon.status_code == 200, beacon.text
    assert home.user_data(home.admin, "E3")["position_s"] == 42.5


def test_another_device_hears_of_a_new_position_at_once(home: Home) -> None:
    import json
    import threading
    import time

    viewer = home.member("Hal")
    heard: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        tv = httpx.Client(base_url=str(home.client.base_url), timeout=10)
        with tv, tv.stream("GET", "/api/v1/events", headers=viewer) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            event = None
            for line in stream.iter_lines():
                if line.startswith(":"):
                    ready.set()
                elif line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: ") and event == "progress":
                    heard.append(json.loads(line[len("data: ") :]))
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert ready.wait(5), "the event stream did not open"
    home.report(home.admin, "Slow River", 99.0)  # someone else's progress: not for Hal
    sent = time.monotonic()
    home.report(viewer, "Slow River", 321.0, "paused")
    listener.join(5)
    assert time.monotonic() - sent < 5
    assert heard == [
        {**heard[0], "item_id": home.ids["Slow River"], "position_s": 321.0, "state": "paused"}
    ]
    assert home.client.get("/api/v1/events").status_code == 401  # signed in only


def _events(home: Home, headers: dict[str, str], events: list[dict[str, Any]]) -> httpx.Response:
    return home.client.post("/api/v1/playback/events", json={"events": events}, headers=headers)


def test_playback_events_are_checked_one_by_one(home: Home) -> None:
    from datetime import UTC, datetime, timedelta

    viewer = home.member("Ida")
    film = home.ids["Slow River"]
    now = datetime.now(UTC)
    batch = [
        {"type": "play", "item_id": film, "position_s": 0, "session": "s1", "decision": "direct"},
        {"type": "seek", "item_id": film, "from_s": 10, "to_s": 300, "session": "s1"},
        {"type": "teleport", "item_id": film},  # unknown type
        {"type": "pause", "item_id": film, "position_s": 99_999},  # past the end
        {"type": "stop", "item_id": film, "at": (now + timedelta(hours=1)).isoformat()},
        {"type": "seek", "item_id": film, "to_s": 5},  # a seek without its start
        {"type": "play", "item_id": 987_654},
        {"type": "quality", "item_id": film, "rung": "720p", "at": now.isoformat()},
    ]
    answer = _events(home, viewer, batch)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["accepted"] == 3
    reasons = {r["index"]: r["detail"] for r in body["rejected"]}
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert "teleport" in reasons[2] and "past the end" in reasons[3]
    assert "future" in reasons[4] and "from_s" in reasons[5] and "no item" in reasons[6]
    assert all(r["status"] == 400 for r in body["rejected"])

    def kinds() -> list[str]:  # appended without waiting for the writer: poll for them
        stored = home.client.get(f"/api/v1/playback/events?item_id={film}", headers=home.admin)
        return sorted(e["type"] for e in stored.json()["events"] if e["user_id"] == viewer_id)

    viewer_id = home.client.get("/api/v1/auth/me", headers=viewer).json()["id"]
    assert wait_until(lambda: len(kinds()) == 3, 5, "the kept events") and kinds() == [
        "play", "quality", "seek",
    ]  # fmt: skip
    assert _events(home, viewer, [{"type": "teleport", "item_id": film}]).status_code == 400
    assert _events(home, viewer, []).status_code == 400
    assert home.client.get("/api/v1/playback/events", headers=viewer).status_code == 403


def test_a_show_counts_as_watched_once_every_episode_is(home: Home) -> None:
    viewer = home.member("Jo")

    def show_watched() -> bool:
        shows = home.client.get("/api/v1/items?kind=show", headers=viewer).json()["items"]
        return bool(next(s for s in shows if s["title"] == "Tide")["user_data"]["watched"])

    assert show_watched() is False
    for n in (1, 2):
        home.client.post(f"/api/v1/items/{home.ids[f'E{n}']}/watched", headers=viewer)
    assert show_watched() is False  # one episode to go
    home.client.post(f"/api/v1/items/{home.ids['E3']}/watched", headers=viewer)
    assert show_watched() is True


def _metric(home: Home, line_start: str) -> float:
    text = home.client.get("/metrics", headers=home.admin).text
    values = [float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln.startswith(line_start)]
    return sum(values)


def test_metrics_count_progress_events_and_live_streams(home: Home) -> None:
    viewer = home.member("Kai")
    writes = _metric(home, 'hearth_progress_writes_total{state="paused"}')
    home.report(viewer, "Slow River", 50.0, "paused")
    assert _metric(home, 'hearth_progress_writes_total{state="paused"}') == writes + 1
    refused = _metric(home, 'hearth_playback_events_total{outcome="refused"}')
    _events(home, viewer, [{"type": "teleport", "item_id": home.ids["Slow River"]}])
    assert _metric(home, 'hearth_playback_events_total{outcome="refused"}') == refused + 1
    assert "hearth_live_streams" in home.client.get("/metrics", headers=home.admin).text
    assert "hearth_task_runs_total" in home.client.get("/metrics", headers=home.admin).text
