"""The tasks registry: a run at a time, "Run now" during a run, how runs end, and
schedules in words."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mediaserver.tasks import Tasks, schedule_in_words


def test_run_now_during_a_run_can_ask_for_one_more() -> None:
    release, runs = threading.Event(), list[int]()
    finished = threading.Semaphore(0)

    def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            release.wait(10)  # the first run is busy while "Run now" is pressed
        finished.release()

    tasks = Tasks()
    tasks.add("job", "A job", work)
    assert tasks.start("job")
    while not runs:
        threading.Event().wait(0.01)
    assert tasks.start("job") is False  # plain "Run now": already running, nothing queued
    assert tasks.start("job", again=True) is True  # queued once...
    assert tasks.start("job", again=True) is True  # ...not twice
    release.set()
    assert finished.acquire(timeout=10) and finished.acquire(timeout=10)
    assert not finished.acquire(timeout=0.5)  # exactly one more run
    assert runs == [0, 1]


def test_a_failing_task_is_recorded_and_the_next_run_still_happens() -> None:
    def broken() -> None:
        raise RuntimeError("disk on fire")

    tasks = Tasks()
    tasks.add("job", "A job", broken)
    first = tasks.run("job")
    assert first is not None and first.outcome == "failed"
    assert first.detail == "RuntimeError: disk on fire"
    assert tasks.run("job") is not None


@pytest.mark.parametrize(
    ("trigger", "said"),
    [
        (IntervalTrigger(hours=6), "every 6 hours"),
        (IntervalTrigger(minutes=30), "every 30 minutes"),
        (IntervalTrigger(minutes=60), "every hour"),
        (IntervalTrigger(days=1), "every day"),
        (IntervalTrigger(weeks=2), "every 2 weeks"),
        (IntervalTrigger(seconds=90), "every 90 seconds"),
        (CronTrigger(hour=3), "daily at 03:00"),
        (CronTrigger(day_of_week="mon", hour=4, minute=30), "every Monday at 04:30"),
        (CronTrigger(day_of_week="mon-fri", hour=7), "Monday to Friday at 07:00"),
        (
            CronTrigger(day_of_week="sat,sun", hour="9,21"),
            "every Saturday and Sunday at 09:00 and 21:00",
        ),
        (CronTrigger(day=1, hour=3), "monthly on the 1st at 03:00"),
        (CronTrigger(day=22, hour=3), "monthly on the 22nd at 03:00"),
        (CronTrigger.from_crontab("*/15 * * * *"), "every 15 minutes"),
        (CronTrigger(minute=15), "every hour at 15 minutes past"),
        (CronTrigger(hour="*/6"), "every 6 hours, on the hour"),
        (CronTrigger(hour="1-5"), "on a custom schedule"),
        (CronTrigger(month=3, hour=1), "on a custom schedule"),
        (CronTrigger(second="*/5"), "on a custom schedule"),
        (DateTrigger(datetime(2030, 1, 1, tzinfo=UTC)), "once"),
        (object(), "on a custom schedule"),
    ],
)
def test_schedules_in_words(trigger: object, said: str) -> None:
    assert schedule_in_words(trigger) == said
