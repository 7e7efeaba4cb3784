"""The activity log on a real catalog: each source gives the right row, floods are folded,
old rows are pruned, and the filters and cursors page through what is there.

The bus here does not swallow exceptions (the real one logs them): a subscriber that
raises fails the test instead of going unseen.  Rows are written without waiting, so
``flush`` waits for the writer (it runs jobs in order) before a test reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mediaserver.accounts.auth import AuthService, LockedOut
from mediaserver.accounts.pairing import PairingService
from mediaserver.accounts.users import UserService
from mediaserver.activity.events import PlaybackEvents
from mediaserver.activity.log import (
    FAILURE_WINDOW_S,
    MAX_FAILURE_ROWS,
    MAX_ITEM_ROWS,
    ActivityLog,
)
from mediaserver.db import Database
from mediaserver.devices import describe_device
from mediaserver.events import Event, EventBus
from mediaserver.library import catalog
from mediaserver.library.access import Access
from mediaserver.library.scanner import Scanner
from mediaserver.library.service import LibraryService
from mediaserver.tasks import Tasks
from mediaserver.testing import ManualClock as Clock
from mediaserver.testing import open_catalog
from tests.conftest import LibraryFolder

PASSWORD = "a long household password"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class StrictBus(EventBus):
    """Fan-out that lets a subscriber's exception through to the publisher."""

    def publish(self, event: Event, payload: Mapping[str, Any] | None = None) -> None:
        for fn in [*self._subscribers.get(event, ()), *self._subscribers.get(None, ())]:
            fn(event, dict(payload or {}))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_catalog(tmp_path) as catalog:
        yield catalog


@pytest.fixture
def bus() -> StrictBus:
    return StrictBus()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def activity(db: Database, bus: StrictBus, clock: Clock) -> Iterator[ActivityLog]:
    log = ActivityLog(db, bus, keep_days=30, clock=clock)
    log.subscribe()
    yield log
    log.close()


def flush(db: Database) -> None:
    db.write(lambda d: None, catalog=False)


def rows(db: Database) -> list[dict[str, Any]]:
    """Every entry, oldest first."""
    flush(db)
    return [dict(r) for r in db.query("SELECT * FROM activity_log ORDER BY id")]


def insert(db: Database, sql: str, params: list[Any]) -> int:
    """Run one INSERT on the writer; the new row's id."""

    def run(d: Any) -> int:
        d.execute(sql, params)
        return int(d.execute("SELECT last_insert_rowid()").fetchone()[0])

    return db.write(run)


def add_library(db: Database, name: str = "Films") -> int:
    return insert(db, "INSERT INTO libraries (name, path) VALUES (?, ?)", [name, f"/m/{name}"])


def add_item(db: Database, library_id: int, kind: str, title: str, **extra: Any) -> int:
    values = {"library_id": library_id, "kind": kind, "title": title, "sort_title": title,
              "match_key": f"{kind}:{title}:{extra}", **extra}  # fmt: skip
    columns, marks = ", ".join(values), ", ".join("?" * len(values))
    return insert(db, f"INSERT INTO items ({columns}) VALUES ({marks})", list(values.values()))


def add_user(db: Database, name: str) -> int:
    return insert(db, "INSERT INTO users (name, password_hash) VALUES (?, 'x')", [name])


# -- sign-ins ---------------------------------------------------------------------------


@pytest.fixture
def auth(db: Database, bus: StrictBus) -> AuthService:
    return AuthService(db, UserService(db), b"k" * 32, bus)


def test_a_sign_in_and_a_failed_one_are_rows_without_the_password(
    db: Database, activity: ActivityLog, auth: AuthService
) -> None:
    anna = auth.users.create("anna", PASSWORD)
    with pytest.raises(PermissionError):
        auth.login("Anna", "not the password at all", address="192.0.2.4", device=FIREFOX)
    auth.login("anna", PASSWORD, address="192.0.2.4", device=FIREFOX)
    auth.login("anna", PASSWORD, address="198.51.100.7", device="Living room TV")
    failed, signed_in, tv = rows(db)
    assert failed["kind"] == "sign-in-failed" and failed["severity"] == "warning"
    assert failed["summary"] == (
        "Failed sign-in as Anna from 192.0.2.4: wrong user name or password"
    )
    assert failed["user_id"] == anna.id  # the name is looked up, whatever its case
    assert signed_in["kind"] == "sign-in" and signed_in["severity"] == "info"
    assert signed_in["summary"] == "anna signed in from Firefox on Linux at 192.0.2.4"
    assert signed_in["user_id"] == anna.id and FIREFOX in signed_in["detail"]
    assert tv["summary"] == "anna signed in from Living room TV at 198.51.100.7"
    assert re_iso(signed_in["at"])
    text = repr(rows(db))
    assert PASSWORD not in text and "not the password" not in text


def test_a_tv_paired_by_code_is_a_sign_in_too(
    db: Database, activity: ActivityLog, auth: AuthService
) -> None:
    anna = auth.users.create("anna", PASSWORD)
    pairing = PairingService(auth)
    started = pairing.start("Living room TV", "198.51.100.7")
    pairing.approve(started.code, anna)
    assert pairing.poll(started.poll_token) is not None
    [entry] = rows(db)
    assert entry["kind"] == "sign-in" and entry["user_id"] == anna.id
    assert entry["summary"] == (
        "anna signed in from Living room TV at 198.51.100.7 by pairing code"
    )


def re_iso(at: str) -> bool:
    return datetime.strptime(at, "%Y-%m-%dT%H:%M:%S.%fZ").year >= 2024


def test_an_unknown_name_is_logged_without_a_user(
    db: Database, activity: ActivityLog, auth: AuthService
) -> None:
    with pytest.raises(PermissionError):
        auth.login("mallory", "guess guess guess", address="203.0.113.9")
    (row,) = rows(db)
    assert row["user_id"] is None and "as mallory from 203.0.113.9" in row["summary"]


def test_a_lockout_folds_into_the_failures_row(
    db: Database, activity: ActivityLog, auth: AuthService
) -> None:
    auth.users.create("anna", PASSWORD)
    for _ in range(5):
        with pytest.raises(PermissionError):
            auth.login("anna", "wrong wrong wrong", address="192.0.2.4")
    with pytest.raises(LockedOut):
        auth.login("anna", PASSWORD, address="192.0.2.4")  # the right one, too late
    (row,) = rows(db)
    assert row["summary"] == (
        "6 failed sign-ins as anna from 192.0.2.4 within a minute (last: locked out)"
    )


def failure(bus: EventBus, name: str, address: str = "192.0.2.4") -> None:
    payload = {"name": name, "address": address, "reason": "wrong user name or password"}
    bus.publish(Event.SIGN_IN_FAILED, payload)


def test_a_flood_of_failures_is_one_row_per_name_and_address_a_minute(
    db: Database,
    activity: ActivityLog,
    bus: StrictBus,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    queued: list[object] = []
    submit = db.submit

    def counted(fn: Any, **options: Any) -> Any:
        queued.append(fn)
        return submit(fn, **options)

    monkeypatch.setattr(db, "submit", counted)
    gate = threading.Event()
    request.addfinalizer(gate.set)  # a failing assertion must not leave the writer stuck
    submit(lambda d: gate.wait(10), catalog=False)  # the writer is busy meanwhile
    for _ in range(500):
        failure(bus, "anna")
    assert len(queued) == 1  # one write waits for the whole burst, not 500
    gate.set()
    failure(bus, "anna", "198.51.100.7")  # another address: its own row
    clock.now += FAILURE_WINDOW_S + 1
    failure(bus, "ANNA")  # a minute later: a new row
    first, other, later = rows(db)
    assert first["summary"] == (
        "500 failed sign-ins as anna from 192.0.2.4 within a minute"
        " (last: wrong user name or password)"
    )
    assert other["summary"].startswith("Failed sign-in as anna from 198.51.100.7")
    assert later["summary"].startswith("Failed sign-in as ANNA from 192.0.2.4")
    for _ in range(3):
        failure(bus, "anna")  # the same minute as the last: counted into its row
    assert rows(db)[-1]["summary"].startswith("4 failed sign-ins as anna from 192.0.2.4")


def test_many_names_in_a_minute_share_one_row_past_the_limit(
    db: Database, activity: ActivityLog, bus: StrictBus, clock: Clock
) -> None:
    for n in range(MAX_FAILURE_ROWS + 80):
        failure(bus, f"user{n}", f"203.0.113.{n % 3}")
    found = rows(db)
    assert len(found) == MAX_FAILURE_ROWS + 1
    assert found[-1]["summary"] == (
        "80 more failed sign-ins within a minute, as 80 names from 3 addresses"
    )
    clock.now += FAILURE_WINDOW_S + 1
    failure(bus, "late")
    assert rows(db)[-1]["summary"].startswith("Failed sign-in as late")


def test_recording_does_not_wait_for_the_writer(
    db: Database, activity: ActivityLog, bus: StrictBus, request: pytest.FixtureRequest
) -> None:
    gate = threading.Event()
    request.addfinalizer(gate.set)
    db.submit(lambda d: gate.wait(10), catalog=False)  # the writer is busy
    started = time.monotonic()
    bus.publish(Event.SIGNED_IN, {"user_id": None, "name": "anna", "address": "192.0.2.4"})
    assert time.monotonic() - started < 0.5
    gate.set()
    assert [r["summary"] for r in rows(db)] == ["anna signed in from 192.0.2.4"]


# -- scans and new items ----------------------------------------------------------------


def test_a_scan_lists_a_few_new_films_and_episodes(
    db: Database, activity: ActivityLog, bus: StrictBus
) -> None:
    films = add_library(db)
    river = add_item(db, films, "movie", "Slow River", year=2021)
    show = add_item(db, films, "show", "Tide")
    season = add_item(db, films, "season", "Season 1", parent_id=show, season_number=1)
    episode = add_item(db, films, "episode", "Launch", parent_id=season, season_number=1,
                       episode_number=2, episode_end=3)  # fmt: skip
    bus.publish(Event.SCAN_STARTED, {"library_id": films, "name": "Films"})
    for item in (river, show, season, episode):
        bus.publish(Event.ITEM_ADDED, {"item_id": item, "library_id": films})
    bus.publish(
        Event.SCAN_FINISHED,
        {"library_id": films, "files": 2, "added": 4, "removed": 0, "problems": 1,
         "duration_s": 3.21, "probed": 2, "cancelled": False},
    )  # fmt: skip
    new_film, new_episode, scan = rows(db)
    assert (new_film["kind"], new_film["item_id"]) == ("items-added", river)
    assert new_film["summary"] == "New in Films: Slow River (2021)"
    assert new_episode["summary"] == "New in Films: Tide S01E02-E03 · Launch"
    assert scan["kind"] == "scan" and scan["severity"] == "warning"  # a problem
    assert scan["summary"] == "Scanned Films in 3.2 s: 2 files, 4 added, 1 problem"


def test_a_big_scan_is_one_row_for_its_new_items(
    db: Database, activity: ActivityLog, bus: StrictBus
) -> None:
    films = add_library(db)
    ids = [add_item(db, films, "movie", f"Film {n}", year=2000 + n % 20) for n in range(300)]
    ids += [add_item(db, films, "episode", f"Episode {n}", episode_number=n) for n in range(12)]
    bus.publish(Event.SCAN_STARTED, {"library_id": films, "name": "Films"})
    for item in ids:
        bus.publish(Event.ITEM_ADDED, {"item_id": item, "library_id": films})
    bus.publish(Event.SCAN_FINISHED, {"library_id": films, "files": 312, "added": 312})
    new, scan = rows(db)
    assert new["summary"] == "312 new items in Films (300 films, 12 episodes)"
    assert new["item_id"] is None
    assert new["detail"].count("\n") == MAX_ITEM_ROWS  # the first ten, then "… and 302 more"
    assert new["detail"].endswith("… and 302 more")
    assert scan["summary"].startswith("Scanned Films in 0.0 s: 312 files, 312 added")
    assert scan["severity"] == "info"


def test_a_real_scan_through_the_library_service(
    db: Database, activity: ActivityLog, bus: StrictBus, library: LibraryFolder, ffmpeg_binary: str
) -> None:
    library.add("Slow River (2021).mp4")
    library.add("Tide/Season 1/Tide S01E01.mp4", "bars.mp4")
    films = db.write(lambda d: catalog.ensure_library(d, "Films", library.root))
    scanner = Scanner(db, bus, ffmpeg_binary=ffmpeg_binary, images_dir=db.path.parent / "img")
    service = LibraryService(db, bus, scanner)
    service.scan_now(films)
    found = rows(db)
    # A film and an episode (not the show or the season made for it), then the scan.
    assert [r["kind"] for r in found] == ["items-added", "items-added", "scan"]
    assert sorted(r["summary"] for r in found[:2]) == [
        "New in Films: Slow River (2021)",
        "New in Films: Tide S01E01 · Episode 1",
    ]
    assert found[2]["summary"].startswith("Scanned Films in ")
    assert found[2]["summary"].endswith(": 2 files, 4 added")
    service.scan_now(films)  # nothing new: only the scan's own row
    assert [r["kind"] for r in rows(db)][3:] == ["scan"]


# -- playback ---------------------------------------------------------------------------


def test_playback_started_stopped_and_failed(
    db: Database, activity: ActivityLog, bus: StrictBus
) -> None:
    films = add_library(db)
    river = add_item(db, films, "movie", "Slow River", year=2021)
    anna = add_user(db, "anna")
    batch = [
        {"type": "play", "item_id": river, "session": "s1", "decision": "transcode", "rung": "720p",
         "position_s": 75},
        {"type": "progress", "item_id": river, "session": "s1", "position_s": 85},
        {"type": "pause", "item_id": river, "session": "s1", "position_s": 90},
        {"type": "play", "item_id": river, "session": "s1"},  # the same start again: one row
        {"type": "stop", "item_id": river, "session": "s1", "position_s": 754.6},
        {"type": "error", "item_id": river, "session": "s2", "detail": "MEDIA_ERR_DECODE"},
    ]  # fmt: skip
    kept, rejected = PlaybackEvents(db, bus).ingest(anna, FIREFOX, batch, Access())
    assert (kept, rejected) == (6, [])
    started, stopped, error = rows(db)
    assert started == {**started, "kind": "playback-started", "severity": "info",
                       "user_id": anna, "item_id": river}  # fmt: skip
    assert started["summary"] == "anna started Slow River (2021), Firefox on Linux"
    assert started["detail"] == "transcode, 720p, from 1:15"
    assert stopped["kind"] == "playback-stopped"
    assert stopped["summary"] == "anna stopped Slow River (2021) at 12:34, Firefox on Linux"
    assert error["kind"] == "playback-error" and error["severity"] == "error"
    assert error["summary"] == "Playback of Slow River (2021) failed for anna, Firefox on Linux"
    assert error["detail"] == "MEDIA_ERR_DECODE"


def test_a_completed_viewing_reads_finished(
    db: Database, activity: ActivityLog, bus: StrictBus
) -> None:
    river = add_item(db, add_library(db), "movie", "Slow River")
    anna = add_user(db, "anna")
    events = [{"type": "complete", "item_id": river}, {"type": "stop", "item_id": river}]
    PlaybackEvents(db, bus).ingest(anna, "Hearth for Android TV", events, Access())
    (row,) = rows(db)
    assert row["summary"] == "anna finished Slow River, Hearth for Android TV"


# -- job runs ---------------------------------------------------------------------------


def test_task_runs_and_failures(db: Database, activity: ActivityLog, bus: StrictBus) -> None:
    tasks = Tasks(bus)
    tasks.add("backup", "Back up the catalog", lambda: None)

    def broken() -> None:
        raise RuntimeError("disk on fire")

    tasks.add("rollup", "Total up playback events", broken)
    assert tasks.run("backup") is not None and tasks.run("rollup") is not None
    ok, failed = rows(db)
    assert (ok["kind"], ok["severity"]) == ("task", "info")
    assert ok["summary"].startswith('Task "Back up the catalog" finished in ')
    assert (failed["kind"], failed["severity"]) == ("task-failed", "error")
    assert failed["summary"].startswith('Task "Total up playback events" failed after ')
    assert failed["detail"] == "RuntimeError: disk on fire"


# -- reading, pruning, robustness -------------------------------------------------------


def test_filters_and_cursors_page_through_everything(
    db: Database, activity: ActivityLog, bus: StrictBus
) -> None:
    anna, ben = add_user(db, "anna"), add_user(db, "ben")
    for n in range(7):
        user = anna if n % 2 else ben
        bus.publish(Event.SIGNED_IN, {"user_id": user, "name": f"n{n}", "address": "192.0.2.4"})
        bus.publish(Event.TASK_FINISHED, {"name": f"t{n}", "outcome": "ok" if n % 3 else "failed"})
    flush(db)
    everything = [e["id"] for e in activity.recent(limit=500).entries]
    assert len(everything) == 14 and everything == sorted(everything, reverse=True)
    seen: list[int] = []
    cursor = None
    while True:
        page = activity.recent(limit=4, before=cursor)
        seen += [e["id"] for e in page.entries]
        assert len(page.entries) <= 4
        if page.next is None:
            break
        cursor = page.next
    assert seen == everything
    assert activity.recent(limit=14).next is None and activity.recent(limit=13).next is not None
    failed = activity.recent(kind="task-failed").entries
    assert [e["summary"][:8] for e in failed] == ['Task "t6', 'Task "t3', 'Task "t0']
    assert activity.recent(severity="error").entries == failed
    annas = activity.recent(user_id=anna).entries
    assert {e["user_name"] for e in annas} == {"anna"} and len(annas) == 3
    assert [e["id"] for e in activity.recent(after=everything[2]).entries] == everything[:2]


def test_old_entries_are_pruned(db: Database, activity: ActivityLog) -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    stamps = [now - timedelta(days=d) for d in (40, 31, 29, 0)]
    db.write(
        lambda d: d.conn.executemany(
            "INSERT INTO activity_log (at, kind, severity, summary) VALUES (?, 'scan', 'info', ?)",
            [(s.strftime("%Y-%m-%dT%H:%M:%S.000Z"), f"{s:%d}") for s in stamps],
        )
    )
    assert activity.prune(now) == 2  # keep_days=30
    assert [r["summary"] for r in rows(db)] == [f"{s:%d}" for s in stamps[2:]]
    assert activity.prune(now) == 0


def test_a_removed_user_leaves_the_entry(
    db: Database, activity: ActivityLog, bus: StrictBus
) -> None:
    anna = add_user(db, "anna")
    bus.publish(Event.SIGNED_IN, {"user_id": anna, "name": "anna", "address": "192.0.2.4"})
    flush(db)
    db.write(lambda d: d.execute("DELETE FROM users WHERE id = ?", [anna]))
    bus.publish(Event.SIGNED_IN, {"user_id": anna, "name": "anna", "address": "192.0.2.4"})
    assert [(r["summary"], r["user_id"]) for r in rows(db)] == [
        ("anna signed in from 192.0.2.4", None),
        ("anna signed in from 192.0.2.4", None),  # published after: no link, no error
    ]


def test_odd_payloads_and_a_closed_catalog_never_raise(
    db: Database, activity: ActivityLog, bus: StrictBus
) -> None:
    for event in (Event.SIGNED_IN, Event.SIGN_IN_FAILED, Event.SCAN_FINISHED, Event.PLAYBACK,
                  Event.TASK_FINISHED, Event.ITEM_ADDED, Event.SCAN_STARTED):  # fmt: skip
        bus.publish(event, {})
    bus.publish(Event.PLAYBACK, {"events": [{"type": "play"}, {"type": "teleport", "item_id": 1}]})
    kinds = [r["kind"] for r in rows(db)]
    assert kinds == ["sign-in", "sign-in-failed", "scan", "task-failed"]
    db.close()
    bus.publish(Event.SIGNED_IN, {"name": "anna"})  # the server is stopping: dropped quietly


@pytest.mark.parametrize(
    ("device", "shown"),
    [
        (FIREFOX, "Firefox on Linux"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/156.0.0.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/17.0 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36 Edg/120.0", "Edge on Windows"),
        ("Living room TV", "Living room TV"),
        ("", None),
        (None, None),
    ],
)
def test_devices_are_named_as_people_know_them(device: str | None, shown: str | None) -> None:
    assert describe_device(device) == shown
