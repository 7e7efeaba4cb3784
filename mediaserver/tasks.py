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

from mediaserver import metrics
from mediaserver.events import Event, EventBus

__all__ = ["TaskRun", "Tasks"]

log = structlog.get_logger(__name__)


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
        """Every task: schedule and next run (from the scheduler), last run, running now."""
        rows = []
        for task in self._tasks.values():
            job = scheduler.get_job(task.id) if scheduler is not None else None
            next_run = job.next_run_time if job is not None else None
            last = self._last.get(task.id)
            rows.append(
                {
                    "id": task.id,
                    "name": task.name,
                    "schedule": str(job.trigger) if job is not None else "only when asked",
                    "next_run": next_run.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if next_run
                    else None,
                    "running_since": self._running.get(task.id),
                    "last_run": last.as_dict() if last else None,
                    "state": task.describe() if task.describe else None,
                }
            )
        return rows
