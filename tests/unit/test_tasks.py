"""The tasks registry: a run at a time, "Run now" during a run, and how runs end."""

from __future__ import annotations

import threading

from mediaserver.tasks import Tasks


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
