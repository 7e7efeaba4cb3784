"""Signing in a TV or an app without a keyboard: the device shows a code, a person approves it.

Like Jellyfin's Quick Connect or plex.tv/link.  The device asks for a pairing and gets two
things: a short code to show on screen (six characters, no 0/O or 1/I) and a long secret
poll token that only it knows.  A signed-in user types the code on the web page; the
device, polling with its token, then receives its own access and refresh tokens, once.

Why two secrets: the code is short enough to type with a remote, so on its own it could be
guessed; it only ever *approves*, it never hands out tokens.  Tokens go to whoever holds
the poll token, which is 256 bits and never shown.  Pairings live in memory for five
minutes: a restart merely makes the device start again.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mediaserver.accounts.auth import ACCESS_TTL_S, AuthService, Login, Throttle
from mediaserver.accounts.users import User

__all__ = ["PairingError", "PairingService", "PendingPairing", "normalise_code"]

_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


class PairingError(Exception):
    """A code or poll token that is unknown, expired or already used; the message says which."""


@dataclass
class PendingPairing:
    code: str
    device: str
    address: str
    expires_at: float
    approved_by: int | None = None


@dataclass(frozen=True, slots=True)
class Started:
    code: str
    poll_token: str
    expires_in: int


def normalise_code(text: str) -> str:
    """What a person typed ("k7m 4qx", "K7M-4QX") as the code it means."""
    return "".join(c for c in text.upper() if c.isalnum())


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PairingService:
    def __init__(
        self,
        auth: AuthService,
        *,
        ttl_s: int = 300,
        max_pending: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.auth = auth
        self.ttl_s = ttl_s
        self.max_pending = max_pending
        self._clock = clock
        self._lock = threading.Lock()
        self._by_poll: dict[str, PendingPairing] = {}  # sha256(poll token) -> pairing
        self._by_code: dict[str, str] = {}  # code -> sha256(poll token)
        self.throttle = Throttle(clock)  # wrong codes typed by one user

    def start(self, device: str, address: str) -> Started:
        """A new pairing for a device; PairingError when too many are waiting."""
        with self._lock:
            self._expire()
            if len(self._by_poll) >= self.max_pending:
                raise PairingError("too many devices are waiting to pair; try again in a minute")
            code = self._new_code()
            poll = "hpt_" + secrets.token_urlsafe(32)
            key = _digest(poll)
            self._by_poll[key] = PendingPairing(code, device, address, self._clock() + self.ttl_s)
            self._by_code[code] = key
        return Started(code, poll, self.ttl_s)

    def _new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self._by_code:
                return code

    def _expire(self) -> None:
        now = self._clock()
        for key, pairing in list(self._by_poll.items()):
            if pairing.expires_at <= now:
                del self._by_poll[key]
                self._by_code.pop(pairing.code, None)

    def waiting(self, code: str) -> PendingPairing | None:
        """The pairing a typed code names, if it is still waiting (for the approval page)."""
        with self._lock:
            self._expire()
            key = self._by_code.get(normalise_code(code))
            pairing = self._by_poll.get(key) if key else None
            return pairing if pairing is not None and pairing.approved_by is None else None

    def approve(self, code: str, user: User) -> PendingPairing:
        """Let the device with this code sign in as ``user``; PairingError for a wrong code.

        Wrong codes count against the user like wrong passwords (LockedOut after five),
        so a signed-in account cannot walk the code space.
        """
        keys = (f"pair:{user.id}",)
        self.throttle.check(*keys)
        with self._lock:
            self._expire()
            key = self._by_code.get(normalise_code(code))
            pairing = self._by_poll.get(key) if key else None
            if pairing is None or pairing.approved_by is not None:
                pairing = None
            else:
                pairing.approved_by = user.id
        if pairing is None:
            self.throttle.failed(*keys)
            raise PairingError("no device is waiting with that code; it may have expired")
        self.throttle.succeeded(*keys)
        return pairing

    def poll(self, poll_token: str) -> Login | None:
        """The device's tokens once approved (this once), None while waiting."""
        key = _digest(poll_token)
        with self._lock:
            self._expire()
            pairing = self._by_poll.get(key)
            if pairing is None:
                raise PairingError("this pairing is unknown, expired or already used; start again")
            if pairing.approved_by is None:
                return None
            del self._by_poll[key]
            self._by_code.pop(pairing.code, None)
        user = self.auth.users.get(pairing.approved_by)
        if user is None:
            raise PairingError("the account that approved this device is gone; start again")
        refresh = self.auth.issue(
            user.id, "refresh", device=pairing.device, address=pairing.address
        )
        self.auth.announce_sign_in(
            user, device=pairing.device, address=pairing.address, via="pairing code"
        )
        return Login(user, self.auth.access_token(user.id), refresh, ACCESS_TTL_S)
