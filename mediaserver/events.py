"""Typed event names and the small in-process bus services publish on.

Services publish; analytics, plugins and federation subscribe here instead of reaching
into the scanner.  A subscriber that raises is logged and the others still run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

import structlog

__all__ = ["Event", "EventBus", "Subscriber"]

log = structlog.get_logger(__name__)


class Event(StrEnum):
    ITEM_ADDED = "item.added"
    ITEM_CHANGED = "item.changed"
    ITEM_REMOVED = "item.removed"
    SCAN_STARTED = "scan.started"
    SCAN_FINISHED = "scan.finished"
    PROGRESS = "progress"  # a person's position or watched state in an item changed
    PLAYBACK = "playback"  # a player's events were accepted: {"user_id", "device", "events"}
    SIGNED_IN = "auth.signed-in"  # {"user_id", "name", "device", "address"}
    SIGN_IN_FAILED = "auth.sign-in-failed"  # {"name", "user_id", "device", "address", "reason"}
    TASK_FINISHED = "task.finished"  # {"id", "name", "outcome", "seconds", "detail"}


Subscriber = Callable[[Event, Mapping[str, Any]], None]


class EventBus:
    """Synchronous fan-out; subscribers must be quick (hand long work to a thread)."""

    def __init__(self) -> None:
        self._subscribers: dict[Event | None, list[Subscriber]] = {}
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber, event: Event | None = None) -> Callable[[], None]:
        """Call ``fn`` for ``event`` (every event when None); returns an unsubscribe function."""
        with self._lock:
            self._subscribers.setdefault(event, []).append(fn)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.get(event, []).remove(fn)

        return unsubscribe

    def publish(self, event: Event, payload: Mapping[str, Any] | None = None) -> None:
        data = dict(payload or {})
        with self._lock:
            targets = [*self._subscribers.get(event, ()), *self._subscribers.get(None, ())]
        for fn in targets:
            try:
                fn(event, data)
            except Exception:
                log.exception("event subscriber failed", event_name=str(event), subscriber=repr(fn))
