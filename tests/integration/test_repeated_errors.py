"""Issue 16, point 1: one client repeating a request that fails is logged once, with a count.

Each 500 wrote ~3 KB of traceback, so one LAN client could fill the log at ~1.8 MB/s.  A
tiny app with Hearth's own error handlers and a route that always fails, on a real server.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import pytest
import structlog
from litestar import Litestar, get
from litestar.datastructures import State

from mediaserver.api import errors
from mediaserver.testing import ManualClock


@get("/api/boom")
async def boom() -> None:
    raise ZeroDivisionError("a bug")


def test_a_repeated_error_is_logged_once_then_counted(
    server_runner: Callable[..., AbstractContextManager[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = ManualClock()
    app = Litestar(
        [boom],
        exception_handlers=errors.HANDLERS,
        state=State({"repeated_errors": errors.RepeatedErrors(window=60, clock=clock)}),
    )
    with structlog.testing.capture_logs() as logged:
        # A logger made now writes to the capture: errors.py's own was cached on its first
        # use, with the processors of whichever app of the suite configured structlog then.
        monkeypatch.setattr(errors, "log", structlog.get_logger(errors.__name__))
        failing_fifty_one_times(server_runner, app, clock)
    errors_logged = [e for e in logged if e["log_level"] == "error"]
    assert [e["event"] for e in errors_logged] == [
        "unhandled error",
        "the same unhandled error again",
    ]
    assert errors_logged[0]["exc_info"] is True  # the first one carries its traceback
    assert errors_logged[1]["times"] == 50 and "exc_info" not in errors_logged[1]
    assert errors_logged[1]["client"] == "127.0.0.1"


def failing_fifty_one_times(
    server_runner: Callable[..., AbstractContextManager[str]], app: Litestar, clock: ManualClock
) -> None:
    with server_runner(app) as url, httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(50):
            assert client.get("/api/boom").status_code == 500
        clock.now += 61  # a minute later, the same again: one line with the count
        assert client.get("/api/boom").status_code == 500


def test_errors_are_remembered_by_kind_and_only_so_many() -> None:
    clock = ManualClock()
    seen = errors.RepeatedErrors(window=60, size=2, clock=clock)
    assert seen.record(("a", "E", "/x")) is None
    assert seen.record(("a", "E", "/x")) == 0
    assert seen.record(("b", "E", "/x")) is None  # another client is another kind
    assert seen.record(("c", "E", "/x")) is None  # and pushes out the oldest
    assert seen.record(("a", "E", "/x")) is None  # forgotten, so logged whole again
    clock.now += 60
    assert seen.record(("a", "E", "/x")) == 1
