"""Who gets the next transcode (or remux) slot, and when one should be free.

Viewers already watching keep their slots: nobody else's request stops their job.  A
newcomer who finds every slot taken joins a short first-come, first-served queue (one place
per person, however many requests they send) and is let in the moment a slot frees and
everyone ahead has been served; after ``queue_wait_s`` it gets :class:`~.transcoder.Busy`
with an estimate of when a slot should be free.  A person's own older job of the same kind
(another seek, a reloaded player) makes way for their new one instead of queueing: one
person never waits behind themself.

The transcoder holds the lock; this module only keeps the queue and does the arithmetic.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["FairQueue", "Ticket", "busy_message", "free_in", "nth_free", "retry_after"]


@dataclass(eq=False)
class Ticket:
    """One person's place in the queue for one kind of slot."""

    person: str
    mode: str
    number: int  # order of arrival
    waiters: int = 1  # requests of this person waiting on this ticket


class FairQueue:
    """People waiting for a slot, in order of arrival; not thread-safe (callers lock)."""

    def __init__(self) -> None:
        self._tickets: list[Ticket] = []
        self._numbers = itertools.count(1)

    def join(self, person: str, mode: str) -> Ticket:
        """Their place: a person already waiting keeps theirs, a newcomer goes to the back."""
        for ticket in self._tickets:
            if ticket.person == person and ticket.mode == mode:
                ticket.waiters += 1
                return ticket
        ticket = Ticket(person, mode, next(self._numbers))
        self._tickets.append(ticket)
        return ticket

    def leave(self, ticket: Ticket) -> None:
        ticket.waiters -= 1
        if ticket.waiters <= 0 and ticket in self._tickets:
            self._tickets.remove(ticket)

    def first(self, mode: str) -> Ticket | None:
        return next((t for t in self._tickets if t.mode == mode), None)

    def ahead(self, ticket: Ticket) -> int:
        """How many people wait before ``ticket``'s holder for the same kind of slot."""
        return sum(1 for t in self._tickets if t.mode == ticket.mode and t.number < ticket.number)

    def listing(self) -> list[dict[str, Any]]:
        return [{"person": t.person, "mode": t.mode, "requests": t.waiters} for t in self._tickets]


def free_in(
    *, playout_s: float, quiet_s: float, idle_timeout_s: float, active_within_s: float
) -> float:
    """Seconds until one job should give its slot back.

    A viewer who keeps asking for segments keeps the job until it has made its last one,
    which is paced by their playing (``playout_s``).  A viewer who has gone quiet (closed the
    tab, or paused) loses it when the job is stopped as idle, if they do not come back.
    """
    if quiet_s > active_within_s:
        return max(0.0, idle_timeout_s - quiet_s)
    return max(0.0, playout_s)


def nth_free(estimates: Sequence[float], position: int) -> float:
    """When the slot for the person ``position`` places back in the queue should be free:
    each slot that frees lets one person in, soonest first."""
    if not estimates:
        return 1.0  # a slot is free already; the person ahead is taking it
    ordered = sorted(estimates)
    return ordered[min(position, len(ordered) - 1)]


def retry_after(seconds: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least one."""
    return max(1, math.ceil(seconds))


def _about(seconds: float) -> str:
    if seconds < 10:
        return "in a few seconds"
    if seconds < 60:
        return f"in about {math.ceil(seconds / 5) * 5} seconds"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return "in about a minute" if minutes == 1 else f"in about {minutes} minutes"
    hours, rest = divmod(minutes, 60)
    return f"in about {hours} hour{'s' if hours > 1 else ''}" + (f" {rest} minutes" if rest else "")


def busy_message(mode: str, limit: int, seconds: float) -> str:
    """What a person who cannot start a stream now is told, in words."""
    what = "transcoding" if mode == "transcode" else "remuxing"
    when = _about(seconds)
    if limit == 1:
        return (
            f"The server's only {what} slot is in use by another viewer; it should be free {when}."
        )
    return f"All {limit} {what} slots are in use by other viewers; one should be free {when}."
