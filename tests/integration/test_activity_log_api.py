"""``/api/v1/activity`` over HTTP on a real Hearth: sign-ins, playback and job runs show
up in it, only admins may read it, and a bad parameter is a 400 that names itself.

Entries are written without waiting for the writer, so each test polls for what it expects.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import auth_headers, wait_for_scan, wait_until

PASSWORD = "a long household password"


@dataclass
class Server:
    client: httpx.Client
    admin: dict[str, str]
    film: int

    def member(self, name: str) -> dict[str, str]:
        made = self.client.post(
            "/api/v1/users", json={"name": name, "password": PASSWORD}, headers=self.admin
        )
        assert made.status_code == 201, made.text
        return self.sign_in(name)

    def sign_in(self, name: str, **extra: Any) -> dict[str, str]:
        login = self.client.post(
            "/api/v1/auth/login", json={"username": name, "password": PASSWORD, **extra}
        )
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    def activity(self, **params: Any) -> dict[str, Any]:
        answer = self.client.get("/api/v1/activity", params=params, headers=self.admin)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def wait_for(self, summary: str, **params: Any) -> dict[str, Any]:
        """The newest entry whose summary starts with ``summary`` (polled for)."""

        def find() -> dict[str, Any] | None:
            entries = self.activity(limit=500, **params)["entries"]
            return next((e for e in entries if e["summary"].startswith(summary)), None)

        found: dict[str, Any] = wait_until(find, 10, f"an activity entry {summary!r}")
        return found


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    media = tmp_path_factory.mktemp("activity-media")
    make_clip(media / "Films" / "Slow River (2021).mp4", seconds=2, size="64x36")
    data = tmp_path_factory.mktemp("activity-data")
    with hearth_server(data, [media]) as url, httpx.Client(base_url=url, timeout=30) as client:
        admin = auth_headers(url)
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        items = client.get("/api/v1/items?kind=movie", headers=admin).json()["items"]
        yield Server(client, admin, next(i["id"] for i in items if i["title"] == "Slow River"))


def test_a_failed_then_a_successful_sign_in_are_logged(server: Server) -> None:
    server.member("anna")
    refused = server.client.post(
        "/api/v1/auth/login", json={"username": "anna", "password": "not it, not at all"}
    )
    assert refused.status_code == 401
    server.sign_in("anna", device="Living room TV")
    failed = server.wait_for("Failed sign-in as anna", kind="sign-in-failed")
    assert failed["summary"] == (
        "Failed sign-in as anna from 127.0.0.1: wrong user name or password"
    )
    assert failed["severity"] == "warning" and failed["user_name"] == "anna"
    signed_in = server.wait_for("anna signed in from Living room TV", kind="sign-in")
    assert signed_in["summary"] == "anna signed in from Living room TV at 127.0.0.1"
    assert signed_in["id"] > failed["id"]  # newest first, so it was listed first
    assert signed_in["at"].endswith("Z") and signed_in["user_id"] == failed["user_id"]
    everything = server.client.get("/api/v1/activity?limit=500", headers=server.admin).text
    assert PASSWORD not in everything and "not it, not at all" not in everything


def test_only_admins_read_the_log(server: Server) -> None:
    member = server.member("ben")
    assert server.client.get("/api/v1/activity", headers=member).status_code == 403
    assert server.client.get("/api/v1/activity").status_code == 401


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("before=0", "before"),
        ("kind=teleport", "kind"),
        ("severity=loud", "severity"),
        ("user_id=anna", "user_id"),
    ],
)
def test_a_bad_parameter_is_a_400_that_says_which(server: Server, query: str, names: str) -> None:
    answer = server.client.get(f"/api/v1/activity?{query}", headers=server.admin)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith(f"{names}: ")


def test_the_startup_scan_and_its_new_film_are_logged(server: Server) -> None:
    new = server.wait_for("New in ", kind="items-added")
    assert new["summary"].endswith(": Slow River (2021)") and new["item_id"] == server.film
    scan = server.wait_for("Scanned ", kind="scan")
    assert scan["summary"].endswith(": 1 file, 1 added") and scan["id"] > new["id"]


def test_playback_started_stopped_and_an_error(server: Server) -> None:
    viewer = server.member("cleo")
    film = server.film
    batch = [
        {"type": "play", "item_id": film, "session": "c1", "decision": "direct"},
        {"type": "progress", "item_id": film, "session": "c1", "position_s": 1},
        {"type": "stop", "item_id": film, "session": "c1", "position_s": 1.5},
        {"type": "error", "item_id": film, "session": "c2", "detail": "MEDIA_ERR_DECODE"},
    ]
    sent = server.client.post(
        "/api/v1/playback/events",
        json={"events": batch},
        headers={**viewer, "User-Agent": "Mozilla/5.0 (X11) Gecko/20100101 Firefox/128.0"},
    )
    assert sent.status_code == 202 and sent.json()["accepted"] == 4, sent.text
    started = server.wait_for("cleo started Slow River (2021)", kind="playback-started")
    assert started["summary"] == "cleo started Slow River (2021), Firefox"
    assert started["detail"] == "direct play" and started["item_id"] == film
    stopped = server.wait_for("cleo stopped", kind="playback-stopped")
    assert stopped["summary"] == "cleo stopped Slow River (2021) at 0:01, Firefox"
    error = server.wait_for("Playback of Slow River (2021) failed for cleo", severity="error")
    assert error["kind"] == "playback-error" and error["detail"] == "MEDIA_ERR_DECODE"
    mine = server.activity(user_id=started["user_id"])["entries"]
    assert [e["kind"] for e in mine][:3] == [
        "playback-error",
        "playback-stopped",
        "playback-started",
    ]


def test_run_now_logs_the_job_run(server: Server) -> None:
    started = server.client.post("/api/v1/tasks/rollup/run", headers=server.admin)
    assert started.status_code == 202, started.text
    run = server.wait_for('Task "Total up playback events" finished in ', kind="task")
    assert run["severity"] == "info"


DEVELOPER_SPEAK = ("interval[", "cron[", "Z<", "UTC")  # a trigger's repr, a raw ISO time


def test_the_tasks_and_activity_pages_speak_words_in_local_time(server: Server) -> None:
    """Schedules, last runs and the log's times as people say them; the full local time
    in each <time>'s title, and never a trigger's repr, an ISO time or "UTC"."""
    started = server.client.post("/api/v1/tasks/rollup/run", headers=server.admin)
    assert started.status_code == 202, started.text
    server.wait_for('Task "Total up playback events" finished in ', kind="task")
    html = {**server.admin, "accept": "text/html"}
    tasks = server.client.get("/admin/tasks", headers=html)
    assert tasks.status_code == 200, tasks.text
    rollup = re.search(r'<tr data-task="rollup">(.*?)</tr>', tasks.text, re.S)
    assert rollup is not None, tasks.text
    assert '<td class="muted">every hour</td>' in rollup[1]
    assert re.search(r">(today|tomorrow) \d\d:\d\d</time>", rollup[1])  # the next run
    assert re.search(r">(today|yesterday) \d\d:\d\d</time>: done in ", rollup[1])
    assert re.search(r"daily at \d\d:00", tasks.text)  # the nightly backup
    activity = server.client.get("/admin/activity", headers=html)
    assert activity.status_code == 200, activity.text
    times = re.findall(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', activity.text)
    assert times, activity.text
    for stamp, full, said in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", stamp), stamp
        assert re.fullmatch(r"\w+day \d+ \w+ \d{4}, \d\d:\d\d:\d\d", full), full
        assert re.fullmatch(r"(today|yesterday) \d\d:\d\d", said), said
    for page in (tasks.text, activity.text):
        assert [bad for bad in DEVELOPER_SPEAK if bad in page] == []
        shown = re.sub(r'datetime="[^"]*"', "", page)  # machines may read ISO; people do not
        assert not re.search(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d", shown)


def test_pages_follow_the_cursor_to_the_end(server: Server) -> None:
    server.wait_for("Scanned ", kind="scan")
    everything = [e["id"] for e in server.activity(limit=500)["entries"]]
    assert len(everything) >= 2
    seen: list[int] = []
    cursor: int | None = None
    while True:
        page = server.activity(limit=1, **({"before": cursor} if cursor else {}))
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == everything  # nothing runs in the background here: the log stands still


def test_the_page_is_for_admins_and_its_poll_answers_204_when_nothing_is_new(
    server: Server,
) -> None:
    server.wait_for("Scanned ", kind="scan")
    html = {**server.admin, "accept": "text/html"}
    page = server.client.get("/admin/activity?kind=scan", headers=html)
    assert page.status_code == 200 and 'data-kind="scan"' in page.text
    assert 'data-kind="items-added"' not in page.text  # filtered
    newest = server.activity()["entries"][0]["id"]
    quiet = server.client.get(f"/admin/activity/rows?after={newest}", headers=html)
    assert quiet.status_code == 204 and quiet.content == b""
    older = server.client.get(f"/admin/activity/rows?before={newest + 1}", headers=html)
    assert older.status_code == 200 and f'data-id="{newest}"' in older.text
    member = {**server.member("dora"), "accept": "text/html"}
    assert server.client.get("/admin/activity", headers=member).status_code == 403
    assert server.client.get("/admin/activity/rows?after=0", headers=member).status_code == 403
