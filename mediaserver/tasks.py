"""The server's background jobs in one list: what runs when, how the last run went, "run now".

APScheduler decides *when*; each job goes through :meth:`Tasks.run`, which remembers when
it started, how long it took and how it ended, so the tasks page can say so.  A job that
raises is logged and shown as failed; the scheduler goes on.  "Run now" starts the same
function on its own thread, once: a second press while it runs does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mediaserver import metrics
from mediaserver.events import Event, EventBus
from mediaserver.words import plural

__all__ = ["TaskRun", "Tasks", "schedule_in_words"]

log = structlog.get_logger(__name__)

_SPANS = ((7 * 86400, "week"), (86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_NUMBERS = {name[:3].lower(): n for n, name in enumerate(_WEEKDAYS)}
_CUSTOM = "on a custom schedule"


def schedule_in_words(trigger: object) -> str:
    """An APScheduler 3 trigger as people say it: "every 6 hours", "daily at 03:00",
    "every Monday at 04:30"; something it cannot put simply is "on a custom schedule"
    (the next run still says when)."""
    if isinstance(trigger, IntervalTrigger):
        seconds = max(1, int(trigger.interval_length))
        size, unit = next((size, unit) for size, unit in _SPANS if seconds % size == 0)
        count = seconds // size
        return f"every {unit}" if count == 1 else f"every {plural(count, unit)}"
    if isinstance(trigger, CronTrigger):
        return _cron_in_words({f.name: str(f) for f in trigger.fields})
    if isinstance(trigger, DateTrigger):
        return "once"
    return _CUSTOM


def _cron_in_words(fields: dict[str, str]) -> str:
    if any(fields[name] != "*" for name in ("year", "month", "week")) or fields["second"] != "0":
        return _CUSTOM
    hour, minute = fields["hour"], fields["minute"]
    days = _days_in_words(fields["day"], fields["day_of_week"])
    if days is None:
        return _CUSTOM
    if minute.startswith("*/") and hour == "*" and days == "daily":
        return f"every {plural(int(minute[2:]), 'minute')}"
    if not minute.isdigit():
        return _CUSTOM
    past = f"at {plural(int(minute), 'minute')} past" if int(minute) else "on the hour"
    if hour == "*" and days == "daily":
        return f"every hour {past}"
    if hour.startswith("*/") and hour[2:].isdigit() and days == "daily":
        return f"every {plural(int(hour[2:]), 'hour')}, {past}"
    hours = hour.split(",")
    if not all(h.isdigit() for h in hours):
        return _CUSTOM
    times = [f"{int(h):02d}:{int(minute):02d}" for h in hours]
    return f"{days} at {_listed(times)}"


def _days_in_words(day: str, weekday: str) -> str | None:
    """ "daily", "every Monday", "Monday to Friday", "monthly on the 1st"; None if odd."""
    if day != "*":
        if weekday != "*" or not day.isdigit():
            return None
        number = int(day)
        suffix = (
            "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
        )
        return f"monthly on the {number}{suffix}"
    if weekday == "*":
        return "daily"
    if "-" in weekday and "," not in weekday:
        first, _, last = weekday.partition("-")
        names = [_weekday(first), _weekday(last)]
        return None if None in names else f"{names[0]} to {names[1]}"
    names = [_weekday(part) for part in weekday.split(",")]
    return None if None in names else "every " + _listed([n for n in names if n])


def _weekday(text: str) -> str | None:
    number = int(text) if text.isdigit() else _DAY_NUMBERS.get(text.lower())
    return _WEEKDAYS[number] if number is not None and 0 <= number < 7 else None


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


@dataclass(frozen=True, slots=True)
class TaskRun:
    started_at: str
    seconds: float
    outcome: str  # "ok" or "failed"
    detail: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "seconds": round(self.seconds, 2),
            "outcome": self.outcome,
            "detail": self.detail,
        }


@dataclass
class _Task:
    id: str
    name: str
    fn: Callable[[], object]
    describe: Callable[[], str | None] | None = None  # a line of live state, e.g. a scan's


class Tasks:
    def __init__(self, bus: EventBus | None = None) -> None:
        self.bus = bus  # each finished run is published (the activity log records it)
        self._tasks: dict[str, _Task] = {}
        self._last: dict[str, TaskRun] = {}
        self._running: dict[str, str] = {}  # id -> started at
        self._again: set[str] = set()  # to run once more when the current run ends
        self._lock = threading.Lock()

    def add(
        self,
        task_id: str,
        name: str,
        fn: Callable[[], object],
        describe: Callable[[], str | None] | None = None,
    ) -> None:
        self._tasks[task_id] = _Task(task_id, name, fn, describe)

    def name(self, task_id: str) -> str:
        return self._tasks[task_id].name

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def runner(self, task_id: str) -> Callable[[], object]:
        """What the scheduler calls."""
        return lambda: self.run(task_id)

    def run(self, task_id: str) -> TaskRun | None:
        """Run the task here and now, unless it is already running (then None)."""
        task = self._tasks[task_id]
        started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            if task_id in self._running:
                return None
            self._running[task_id] = started_at
        began = time.monotonic()
        try:
            task.fn()
        except Exception as exc:
            log.exception("task failed", task=task_id)
            run = TaskRun(
                started_at, time.monotonic() - began, "failed", f"{type(exc).__name__}: {exc}"
            )
        else:
            run = TaskRun(started_at, time.monotonic() - began, "ok")
            log.info("task finished", task=task_id, seconds=round(run.seconds, 2))
        with self._lock:
            self._running.pop(task_id, None)
            self._last[task_id] = run
            again = task_id in self._again
            self._again.discard(task_id)
        metrics.TASK_RUNS.labels(task_id, run.outcome).inc()
        metrics.TASK_DURATION.labels(task_id).observe(run.seconds)
        if self.bus is not None:
            self.bus.publish(
                Event.TASK_FINISHED,
                {"id": task_id, "name": task.name, "outcome": run.outcome,
                 "seconds": run.seconds, "detail": run.detail},
            )  # fmt: skip
        if again:
            self.start(task_id)
        return run

    def start(self, task_id: str, *, again: bool = False) -> bool:
        """ "Run now": on its own thread; False when it is running already, unless
        ``again``: then one more run follows this one (for work that arrived during it)."""
        with self._lock:
            if task_id in self._running:
                if again:
                    self._again.add(task_id)
                return again
        threading.Thread(
            target=self.run, args=(task_id,), name=f"task-{task_id}", daemon=True
        ).start()
        return True

    def status(self, scheduler: Any = None) -> list[dict[str, Any]]:
        """Every task: schedule (in words) and next run (from the scheduler), last run,
        running now.  A task may have more than one job: ``recommendations`` and
        ``recommendations-often`` are one task, "daily at 03:00 and every 6 hours"."""
        jobs = scheduler.get_jobs() if scheduler is not None else []
        rows = []
        for task in self._tasks.values():
            mine = [j for j in jobs if j.id == task.id or j.id.startswith(f"{task.id}-")]
            upcoming = [j.next_run_time for j in mine if j.next_run_time is not None]
            next_run = min(upcoming) if upcoming else None
            last = self._last.get(task.id)
            rows.append(
                {
                    "id": task.id,
                    "name": task.name,
                    "schedule": _listed([schedule_in_words(j.trigger) for j in mine])
                    if mine
                    else "only when asked",
                    "next_run": next_run.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if next_run
                    else None,
                    "running_since": self._running.get(task.id),
                    "last_run": last.as_dict() if last else None,
                    "state": task.describe() if task.describe else None,
                }
            )
        return rows
