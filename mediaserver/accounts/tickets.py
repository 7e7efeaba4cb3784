"""Half-signed-in tickets: what joins the password step of a sign-in to its code step.

When the name and password are right and the account has two-factor sign-in, the server
hands out a ticket instead of tokens, so the code can be asked for on its own page without
the password being typed (or kept by the browser) twice.  A ticket is a random 256-bit
secret, kept here only as its SHA-256 and only in memory: it lives five minutes, and a
restart just asks for the password again.  It is bound to the user and to the password in
force when it was made, takes at most ``CODE_TRIES`` codes, and the first right one uses
it up.  It proves the password was right a moment ago; it signs nobody in by itself.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

__all__ = ["CODE_TRIES", "TICKET_TTL_S", "Ticket", "Tickets"]

TICKET_TTL_S = 5 * 60
CODE_TRIES = 5
_PREFIX = "h2f_"
_MAX_HELD = 10_000  # a flood of half sign-ins (each needs a right password) cannot grow memory


@dataclass(frozen=True, slots=True)
class Ticket:
    user_id: int
    name: str  # as typed at the password step: failed codes count against it
    device: str | None
    epoch: str  # when the password last changed: a new password ends the ticket
    expires: float  # on the monotonic clock
    tries_left: int


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


class Tickets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._held: dict[bytes, Ticket] = {}

    def issue(self, user_id: int, *, name: str, device: str | None, epoch: str) -> str:
        """A new ticket for someone who has just given the right password."""
        secret = _PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        ticket = Ticket(user_id, name, device, epoch, now + TICKET_TTL_S, CODE_TRIES)
        with self._lock:
            self._forget_expired(now)
            if len(self._held) >= _MAX_HELD:
                del self._held[next(iter(self._held))]  # the oldest
            self._held[_digest(secret)] = ticket
        return secret

    def get(self, secret: str) -> Ticket | None:
        """The ticket, while it is good (unknown, expired and used-up ones are None)."""
        if not secret.startswith(_PREFIX):
            return None
        with self._lock:
            ticket = self._held.get(_digest(secret))
        return ticket if ticket is not None and ticket.expires > self._clock() else None

    def wrong_code(self, secret: str) -> int:
        """One try fewer; the tries left (at 0 the ticket is gone)."""
        key = _digest(secret)
        with self._lock:
            ticket = self._held.get(key)
            if ticket is None:
                return 0
            left = ticket.tries_left - 1
            if left <= 0:
                del self._held[key]
            else:
                self._held[key] = replace(ticket, tries_left=left)
            return max(left, 0)

    def use(self, secret: str) -> Ticket | None:
        """Take the ticket away for good; None when it was already gone (used or expired)."""
        with self._lock:
            ticket = self._held.pop(_digest(secret), None)
        return ticket if ticket is not None and ticket.expires > self._clock() else None

    def _forget_expired(self, now: float) -> None:
        for key in [k for k, t in self._held.items() if t.expires <= now]:
            del self._held[key]
