"""The activity log: what happened on the server, a sentence per row, for admins.

Sign-ins and failed sign-ins, new items, scans, playback started, stopped and failed, and
job runs arrive as events on the bus (:class:`~mediaserver.events.Event`).  Each becomes
a row of ``activity_log``, written through the single writer without waiting: a sign-in or
a player never waits for its log line, and a subscriber only does a little bookkeeping in
memory on the publisher's thread.  Names of people and items are looked up by the writer.

Floods are folded, so the log stays readable and small: failed sign-ins for one name from
one address within a minute are one row whose count goes up, and past
``MAX_FAILURE_ROWS`` such rows a minute the rest share a single row; a scan that adds more
than ``MAX_ITEM_ROWS`` films and episodes says "312 new items in Films" in one row; a
player's batch gives at most one row per item, session and kind.  Rows older than the
retention (``activity.keep_events_days``) are pruned by the hourly roll-up task.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

import sqlite_utils
import structlog

from mediaserver.activity.log_entries import (
    MAX_ITEM_ROWS,
    Entry,
    as_int,
    detail_lines,
    field_of,
    library_name,
    new_items,
    place_of,
    playback_entry,
    say_seconds,
    scan_entry,
    user_name,
)
from mediaserver.db import Database, DatabaseError, stamp
from mediaserver.devices import describe_device
from mediaserver.events import Event, EventBus
from mediaserver.words import plural

__all__ = [
    "FAILURE_WINDOW_S",
    "KINDS",
    "MAX_FAILURE_ROWS",
    "MAX_ITEM_ROWS",
    "SEVERITIES",
    "ActivityLog",
    "ActivityPage",
    "Kind",
    "Severity",
]

log = structlog.get_logger(__name__)

Kind = Literal[
    "sign-in",
    "sign-in-failed",
    "items-added",
    "scan",
    "playback-started",
    "playback-stopped",
    "playback-error",
    "task",
    "task-failed",
]
Severity = Literal["info", "warning", "error"]
KINDS: tuple[str, ...] = get_args(Kind)
SEVERITIES: tuple[str, ...] = get_args(Severity)

FAILURE_WINDOW_S = 60.0  # failed sign-ins for one name and address this close share a row
MAX_FAILURE_ROWS = 20  # rows of failed sign-ins a minute; past that, one row for the rest
_OVERFLOW = ("", "*")  # the key of that shared row
_PLAYBACK = {"play": "playback-started", "stop": "playback-stopped",
             "complete": "playback-stopped", "error": "playback-error"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class ActivityPage:
    entries: list[dict[str, Any]]  # newest first
    next: int | None  # the ``before`` cursor of the next, older page; None at the end


@dataclass(slots=True)
class _Burst:
    """Failed sign-ins folded into one row; ``row`` holds its id once the writer made it.

    At most one write per burst waits in the writer's queue (``queued``): it writes the
    count as it is when it runs, so a flood costs a few writes, not one per try.
    """

    started: float
    user_id: int | None = None
    count: int = 0
    last: tuple[str, str, str, Any] = ("", "", "", None)  # name, address, reason, device
    names: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    row: list[int] = field(default_factory=list)
    queued: bool = False


@dataclass(slots=True)
class _Scan:
    name: str | None
    added: list[int] = field(default_factory=list)


class ActivityLog:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        keep_days: int = 90,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.bus = bus
        self.keep_days = keep_days
        self._clock = clock
        self._lock = threading.Lock()
        self._unsubscribe: list[Callable[[], None]] = []
        self._bursts: dict[tuple[str, str], _Burst] = {}
        self._window = (float("-inf"), 0)  # (started, failure rows made in it)
        self._scans: dict[int, _Scan] = {}

    # -- life cycle ---------------------------------------------------------------------
    def subscribe(self) -> None:
        """Start recording (AppContext.start, once the catalog is open)."""
        if self._unsubscribe:
            return
        handlers: dict[Event, Callable[[Mapping[str, Any]], None]] = {
            Event.SIGNED_IN: self._signed_in,
            Event.SIGN_IN_FAILED: self._sign_in_failed,
            Event.SCAN_STARTED: self._scan_started,
            Event.ITEM_ADDED: self._item_added,
            Event.SCAN_FINISHED: self._scan_finished,
            Event.PLAYBACK: self._playback,
            Event.TASK_FINISHED: self._task_finished,
        }
        for event, handler in handlers.items():
            self._unsubscribe.append(self.bus.subscribe(_payload_only(handler), event))

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    # -- reading and pruning ------------------------------------------------------------
    def recent(
        self,
        *,
        kind: str | None = None,
        severity: str | None = None,
        user_id: int | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> ActivityPage:
        """Entries newest first, filtered; ``before``/``after`` are ids (cursors)."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("a.kind = ?", kind), ("a.severity = ?", severity),
                              ("a.user_id = ?", user_id), ("a.id < ?", before),
                              ("a.id > ?", after)):  # fmt: skip
            if value is not None:
                where.append(column)
                params.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(
            f"""SELECT a.id, a.at, a.kind, a.severity, a.user_id, u.name AS user_name,
                       a.item_id, a.summary, a.detail
                FROM activity_log a LEFT JOIN users u ON u.id = a.user_id
                {clause} ORDER BY a.id DESC LIMIT ?""",
            [*params, limit + 1],
        )
        entries = [dict(r) for r in rows[:limit]]
        return ActivityPage(entries, entries[-1]["id"] if len(rows) > limit else None)

    def prune(self, now: datetime | None = None) -> int:
        """Remove entries older than the retention; how many went."""
        cutoff = stamp((now or datetime.now(UTC)) - timedelta(days=self.keep_days))

        def delete(db: sqlite_utils.Database) -> int:
            return int(db.execute("DELETE FROM activity_log WHERE at < ?", [cutoff]).rowcount)

        return self.db.write(delete, catalog=False)

    # -- writing ------------------------------------------------------------------------
    def _submit(self, make: Callable[[sqlite_utils.Database], Sequence[Entry]]) -> None:
        """Queue ``make`` on the writer; the rows it returns are inserted in the same job."""
        now = stamp()

        def write(db: sqlite_utils.Database) -> int:
            return _insert(db, now, make(db))

        self._queue(write)

    def _queue(self, write: Callable[[sqlite_utils.Database], Any]) -> bool:
        try:
            future = self.db.submit(write, catalog=False)
        except DatabaseError:  # closed: the server is stopping; the line is lost, not raised
            log.debug("activity not recorded: the catalog is closed")
            return False
        future.add_done_callback(_report_failure)
        return True

    # -- sign-ins -----------------------------------------------------------------------
    def _signed_in(self, p: Mapping[str, Any]) -> None:
        name = str(p.get("name") or "someone")
        device, address = p.get("device"), p.get("address")
        via = f" by {p['via']}" if p.get("via") else ""  # "by pairing code"
        row = Entry(
            "sign-in",
            "info",
            f"{name} signed in{place_of(device, address)}{via}",
            detail_lines(device=device, address=address),
            user_id=as_int(p.get("user_id")),
        )
        self._submit(lambda db: [row])

    def _sign_in_failed(self, p: Mapping[str, Any]) -> None:
        name = str(p.get("name") or "")
        address = str(p.get("address") or "unknown")
        reason = str(p.get("reason") or "refused")
        now = self._clock()
        with self._lock:
            for stale in [
                k for k, b in self._bursts.items() if now - b.started >= FAILURE_WINDOW_S
            ]:
                del self._bursts[stale]
            started, made = self._window
            if now - started >= FAILURE_WINDOW_S:
                started, made = now, 0
            key = (name.lower(), address)
            if key not in self._bursts and made >= MAX_FAILURE_ROWS:
                key = _OVERFLOW
            burst = self._bursts.get(key)
            if burst is None:
                burst = self._bursts[key] = _Burst(now, user_id=as_int(p.get("user_id")))
                made += 1
            self._window = (started, made)
            burst.count += 1
            burst.last = (name, address, reason, p.get("device"))
            if len(burst.names) < 10_000:
                burst.names.add(name.lower())
                burst.addresses.add(address)
            if burst.queued:  # the write already queued will show this one too
                return
            burst.queued = True
        at = stamp()

        def write(db: sqlite_utils.Database) -> None:
            with self._lock:
                burst.queued = False
                summary, detail = _failure_text(burst, overflow=key == _OVERFLOW)
            if burst.row:  # the burst has its row: count it up
                db.execute(
                    "UPDATE activity_log SET summary = ?, detail = ? WHERE id = ?",
                    [summary, detail, burst.row[0]],
                )
                return
            user_id = burst.user_id
            if user_id is None and key != _OVERFLOW:  # a wrong password for a real account
                found = db.execute("SELECT id FROM users WHERE name = ?", [name]).fetchone()
                user_id = int(found[0]) if found else None
            _insert(db, at, [Entry("sign-in-failed", "warning", summary, detail, user_id)])
            burst.row.append(int(db.execute("SELECT last_insert_rowid()").fetchone()[0]))

        if not self._queue(write):
            with self._lock:
                burst.queued = False

    # -- scans and new items ------------------------------------------------------------
    def _scan_started(self, p: Mapping[str, Any]) -> None:
        library_id = as_int(p.get("library_id"))
        if library_id is not None:
            with self._lock:
                self._scans[library_id] = _Scan(p.get("name"))

    def _item_added(self, p: Mapping[str, Any]) -> None:
        library_id, item_id = as_int(p.get("library_id")), as_int(p.get("item_id"))
        if item_id is None:
            return
        with self._lock:
            scan = self._scans.get(library_id) if library_id is not None else None
            if scan is not None:  # told with the scan's own row when it finishes
                scan.added.append(item_id)
                return
        self._submit(lambda db: new_items(db, library_id, None, [item_id]))

    def _scan_finished(self, p: Mapping[str, Any]) -> None:
        library_id = as_int(p.get("library_id"))
        with self._lock:
            scan = self._scans.pop(library_id, None) if library_id is not None else None
        name = scan.name if scan else None
        added = scan.added if scan else []
        summary = dict(p)

        def make(db: sqlite_utils.Database) -> list[Entry]:
            label = name or library_name(db, library_id)
            return [*new_items(db, library_id, label, added), scan_entry(label, summary)]

        self._submit(make)

    # -- playback -----------------------------------------------------------------------
    def _playback(self, p: Mapping[str, Any]) -> None:
        user_id = as_int(p.get("user_id"))
        device = describe_device(p.get("device"))
        picked: dict[tuple[str, int, Any], Any] = {}
        for event in p.get("events") or ():
            kind = _PLAYBACK.get(str(field_of(event, "type")))
            item_id = as_int(field_of(event, "item_id"))
            if kind is None or item_id is None:
                continue
            key = (kind, item_id, field_of(event, "session"))
            if key not in picked or field_of(event, "type") == "complete":  # "finished" wins
                picked[key] = event
        if not picked:
            return
        chosen = list(picked.values())

        def make(db: sqlite_utils.Database) -> list[Entry]:
            person = user_name(db, user_id)
            return [playback_entry(db, e, person, user_id, device) for e in chosen]

        self._submit(make)

    # -- job runs -----------------------------------------------------------------------
    def _task_finished(self, p: Mapping[str, Any]) -> None:
        name = str(p.get("name") or p.get("id") or "a task")
        seconds = say_seconds(float(p.get("seconds") or 0))
        detail = p.get("detail")
        if p.get("outcome") == "ok":
            row = Entry("task", "info", f'Task "{name}" finished in {seconds}', detail)
        else:
            row = Entry("task-failed", "error", f'Task "{name}" failed after {seconds}', detail)
        self._submit(lambda db: [row])


def _failure_text(burst: _Burst, *, overflow: bool) -> tuple[str, str | None]:
    """The summary and detail of a burst of failed sign-ins, as it stands."""
    name, address, reason, device = burst.last
    shown = name or "(no name)"
    if overflow:
        summary = (
            f"{plural(burst.count, 'more failed sign-in')} within a minute, as "
            f"{plural(len(burst.names), 'name')} from "
            f"{plural(len(burst.addresses), 'address', 'addresses')}"
        )
        return summary, f"last: {shown} from {address}, {reason}"
    detail = detail_lines(device=device, address=address, reason=reason)
    if burst.count == 1:
        return f"Failed sign-in as {shown}{place_of(None, address)}: {reason}", detail
    summary = (
        f"{burst.count} failed sign-ins as {shown}{place_of(None, address)} "
        f"within a minute (last: {reason})"
    )
    return summary, detail


def _payload_only(
    handler: Callable[[Mapping[str, Any]], None],
) -> Callable[[Event, Mapping[str, Any]], None]:
    def subscriber(event: Event, payload: Mapping[str, Any]) -> None:
        handler(payload)

    subscriber.__qualname__ = f"ActivityLog.{handler.__name__}"  # named in the bus's log
    return subscriber


def _report_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("activity not recorded", error=f"{type(exc).__name__}: {exc}")


def _insert(db: sqlite_utils.Database, at: str, rows: Sequence[Entry]) -> int:
    # A user removed since the event was published leaves the entry without its link.
    db.conn.executemany(
        """INSERT INTO activity_log (at, kind, severity, user_id, item_id, summary, detail)
           VALUES (?, ?, ?, (SELECT id FROM users WHERE id = ?), ?, ?, ?)""",
        [(at, r.kind, r.severity, r.user_id, r.item_id, r.summary, r.detail) for r in rows],
    )
    return len(rows)
