"""Credentials: web sessions, access and refresh tokens, API keys, and login throttling.

- Access tokens are short-lived (15 min) and stateless: ``hat_<user>.<expiry>.<mac>``, the
  MAC over the user, the expiry and the time the user's password last changed, so a new
  password ends them too.  Checking one is an HMAC and one indexed row.
- Web sessions, refresh tokens and API keys are random 256-bit secrets, stored as their
  SHA-256 only; a refresh token is used once and replaced (rotation): a used one is
  refused.
- Login throttling: after ``FAILURES_BEFORE_LOCK`` failures for one account, or from one
  address, further tries wait an exponentially growing time (1 s, 2 s, 4 s ... capped).
  The lock is per account and per address, and an unknown account behaves exactly like a
  known one (the password hash is still computed), so names cannot be probed.
- Two-factor accounts sign in in two steps: the right password earns a short-lived ticket
  (``tickets.py``), and the ticket with a right code earns the tokens.  A wrong code is a
  failed sign-in for the throttle, like a wrong password.
- The profile picker (``picker.py``) signs a person in by their tile and PIN: a wrong PIN
  is a failed sign-in for the same throttle keys as a wrong password for that name.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mediaserver.accounts.picker import PickerStore
from mediaserver.accounts.tickets import TICKET_TTL_S, Tickets
from mediaserver.accounts.totp import TwoFactor
from mediaserver.accounts.users import User, UserService
from mediaserver.constant_time import same_secret
from mediaserver.db import Database
from mediaserver.events import Event, EventBus

__all__ = [
    "ACCESS_TTL_S",
    "AuthService",
    "LockedOut",
    "Login",
    "SignInExpired",
    "Throttle",
    "TwoFactorRequired",
    "WrongCode",
]

ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 60 * 24 * 3600
SESSION_TTL_S = 30 * 24 * 3600
FAILURES_BEFORE_LOCK = 5
MAX_LOCK_S = 15 * 60
Kind = Literal["session", "refresh", "api_key"]
_PREFIX = {"session": "hss_", "refresh": "hrt_", "api_key": "hak_"}


class TwoFactorRequired(PermissionError):
    """Name and password were right; the two-factor code is missing.  ``ticket`` lets
    :meth:`AuthService.finish_login` take the code alone."""

    def __init__(self, ticket: str) -> None:
        super().__init__("this account needs a two-factor code (or a recovery code)")
        self.ticket = ticket
        self.expires_in = TICKET_TTL_S


class WrongCode(PermissionError):
    """The code step got a wrong (or already used) code; ``tries_left`` with this ticket."""

    def __init__(self, tries_left: int) -> None:
        super().__init__("wrong or already used two-factor code")
        self.tries_left = tries_left


class SignInExpired(PermissionError):
    """The ticket of the code step is unknown, too old, used, or out of tries."""

    def __init__(self) -> None:
        super().__init__("this sign-in has expired; enter your password again")


class LockedOut(Exception):
    """Too many failed logins; ``retry_after`` seconds until the next try is allowed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Login:
    user: User
    access_token: str
    refresh_token: str
    expires_in: int


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def _keys(name: str, address: str) -> tuple[str, str]:
    """The throttle's keys for a sign-in: the account as typed and the address."""
    return f"user:{name.strip().lower()[:64]}", f"addr:{address}"


class Throttle:
    """Failed-login counters per key (``user:<name>``, ``addr:<ip>``), in memory."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures, locked until)

    def check(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            wait = max((self._failures.get(k, (0, 0.0))[1] - now for k in keys), default=0.0)
        if wait > 0:
            raise LockedOut(max(1, int(wait + 0.999)))

    def failed(self, *keys: str) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                count, _ = self._failures.get(key, (0, 0.0))
                count += 1
                until = 0.0
                if count >= FAILURES_BEFORE_LOCK:
                    until = now + min(MAX_LOCK_S, 2.0 ** (count - FAILURES_BEFORE_LOCK))
                self._failures[key] = (count, until)
            if len(self._failures) > 100_000:  # a flood of addresses: forget the oldest half
                for stale in list(self._failures)[:50_000]:
                    del self._failures[stale]

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)


class AuthService:
    def __init__(
        self, db: Database, users: UserService, secret: bytes, bus: EventBus | None = None
    ) -> None:
        self.db = db
        self.users = users
        self.secret = secret
        self.bus = bus  # sign-ins and failures, for the activity log
        self.throttle = Throttle()
        self.two_factor = TwoFactor(db, secret)
        self.tickets = Tickets()  # half sign-ins waiting for their two-factor code
        self.picker = PickerStore(db)

    # -- logging in ---------------------------------------------------------------------

    def login(
        self,
        name: str,
        password: str,
        *,
        address: str,
        device: str | None = None,
        totp: str | None = None,
    ) -> Login:
        """Tokens for a correct name and password (and two-factor code, when the user has
        turned it on); LockedOut, TwoFactorRequired or PermissionError otherwise.

        Without ``totp`` a two-factor account gets TwoFactorRequired carrying a ticket:
        :meth:`finish_login` takes that and the code, so the password is given once."""
        keys = _keys(name, address)
        seen: dict[str, Any] = {"name": name.strip()[:64], "device": device, "address": address}
        self._check_throttle(keys, seen)
        user = self.users.authenticate(name, password)
        if user is None:
            self.throttle.failed(*keys)
            self._publish(Event.SIGN_IN_FAILED, seen, reason="wrong user name or password")
            raise PermissionError("wrong user name or password")
        seen = {**seen, "name": user.name, "user_id": user.id}
        if self.two_factor.enabled(user.id):
            if not totp:
                epoch = self._epoch(user.id) or ""
                ticket = self.tickets.issue(user.id, name=name, device=device, epoch=epoch)
                raise TwoFactorRequired(ticket)
            if not self.two_factor.check(user.id, totp):
                self._wrong_code(keys, seen)
                raise PermissionError("wrong or already used two-factor code")
        return self._signed_in(user, keys, seen)

    def finish_login(self, ticket: str, code: str, *, address: str) -> Login:
        """The code step of a two-factor sign-in: tokens for a good ticket and a right code.

        WrongCode keeps the ticket (until its tries run out); SignInExpired means the
        password step has to be done again; LockedOut as for :meth:`login`."""
        held = self.tickets.get(ticket)
        if held is None:
            raise SignInExpired()
        keys = _keys(held.name, address)
        seen: dict[str, Any] = {"name": held.name.strip()[:64], "device": held.device,
                                "address": address, "user_id": held.user_id}  # fmt: skip
        self._check_throttle(keys, seen)
        user = self.users.get(held.user_id)
        if user is None or self._epoch(user.id) != held.epoch:  # removed, or a new password
            self.tickets.use(ticket)
            raise SignInExpired()
        seen["name"] = user.name
        if not self.two_factor.check(user.id, code):
            self._wrong_code(keys, seen)
            raise WrongCode(self.tickets.wrong_code(ticket))
        if self.tickets.use(ticket) is None:  # another request used it a moment ago
            raise SignInExpired()
        return self._signed_in(user, keys, seen)

    def picker_login(
        self, user_id: int, pin: str, *, address: str, device: str | None = None
    ) -> Login:
        """Tokens for a tile of the profile picker and its PIN (none when it has none).

        PermissionError for someone not on the picker, an admin or two-factor account
        (their tile asks for the password) or a wrong PIN, which the throttle counts for
        the person's name and the address exactly like a wrong password; LockedOut as for
        :meth:`login`.  Whether the picker may be used at all is the caller's to check."""
        person = self.picker.person(user_id)
        user = self.users.get(user_id) if person is not None else None
        if person is None or user is None or person.needs_password:
            raise PermissionError("this person signs in with their password")
        keys = _keys(user.name, address)
        seen: dict[str, Any] = {"name": user.name, "user_id": user.id, "device": device,
                                "address": address}  # fmt: skip
        self._check_throttle(keys, seen)
        if person.has_pin and not self.picker.pin_matches(user.id, pin):
            self.throttle.failed(*keys)
            self._publish(Event.SIGN_IN_FAILED, seen, reason="wrong PIN")
            raise PermissionError("wrong PIN")
        return self._signed_in(user, keys, seen)

    def _check_throttle(self, keys: tuple[str, str], seen: dict[str, Any]) -> None:
        try:
            self.throttle.check(*keys)
        except LockedOut:
            self._publish(Event.SIGN_IN_FAILED, seen, reason="locked out")
            raise

    def _wrong_code(self, keys: tuple[str, str], seen: dict[str, Any]) -> None:
        self.throttle.failed(*keys)
        self._publish(Event.SIGN_IN_FAILED, seen, reason="wrong two-factor code")

    def _signed_in(self, user: User, keys: tuple[str, str], seen: dict[str, Any]) -> Login:
        self.throttle.succeeded(*keys)
        refresh = self.issue(user.id, "refresh", device=seen["device"], address=seen["address"])
        self._publish(Event.SIGNED_IN, seen)
        return Login(user, self.access_token(user.id), refresh, ACCESS_TTL_S)

    def announce_sign_in(self, user: User, *, device: str | None, address: str, via: str) -> None:
        """Tell the bus someone signed in another way than a password (a pairing code)."""
        seen = {"name": user.name, "user_id": user.id, "device": device, "address": address}
        self._publish(Event.SIGNED_IN, seen, via=via)

    def _publish(self, event: Event, seen: dict[str, Any], **extra: Any) -> None:
        """Who, from where and with what; never the password or a code."""
        if self.bus is not None:
            self.bus.publish(event, {"user_id": None, **seen, **extra})

    def refresh(self, token: str, *, address: str) -> Login:
        """Swap a refresh token for a new pair; a reused one revokes the login."""
        row = self._credential(token, "refresh", touch=False)
        if row is None:
            raise PermissionError("this refresh token is not valid; sign in again")
        user = self.users.get(int(row["user_id"]))
        if user is None:
            raise PermissionError("this refresh token is not valid; sign in again")
        self.db.write(lambda db: db.execute("DELETE FROM credentials WHERE id = ?", [row["id"]]))
        new = self.issue(user.id, "refresh", device=row["device"], address=address)
        return Login(user, self.access_token(user.id), new, ACCESS_TTL_S)

    # -- access tokens ------------------------------------------------------------------

    def _epoch(self, user_id: int) -> str | None:
        def load() -> str | None:
            row = self.db.query_one("SELECT password_changed_at FROM users WHERE id = ?", [user_id])
            return str(row["password_changed_at"]) if row else None

        return self.db.memo(("epoch", user_id), load)

    def _mac(self, user_id: int, expiry: int, epoch: str) -> str:
        message = f"access\n{user_id}\n{expiry}\n{epoch}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()[:32]

    def access_token(self, user_id: int, *, ttl_s: int = ACCESS_TTL_S) -> str:
        epoch = self._epoch(user_id) or ""
        expiry = int(time.time()) + ttl_s
        return f"hat_{user_id}.{expiry}.{self._mac(user_id, expiry, epoch)}"

    def user_for_access_token(self, token: str) -> User | None:
        try:
            user_text, expiry_text, mac = token.removeprefix("hat_").split(".")
            user_id, expiry = int(user_text), int(expiry_text)
        except ValueError:
            return None
        epoch = self._epoch(user_id)
        if epoch is None or expiry < time.time():
            return None
        if not same_secret(mac, self._mac(user_id, expiry, epoch)):
            return None
        return self.users.get(user_id)

    # -- stored credentials -------------------------------------------------------------

    def issue(
        self,
        user_id: int,
        kind: Kind,
        *,
        name: str | None = None,
        device: str | None = None,
        address: str | None = None,
    ) -> str:
        """A new secret of ``kind`` for the user; shown once, stored as its hash."""
        secret = _PREFIX[kind] + secrets.token_urlsafe(32)
        ttl = {"session": SESSION_TTL_S, "refresh": REFRESH_TTL_S, "api_key": None}[kind]
        expires = _stamp(_now() + timedelta(seconds=ttl)) if ttl else None
        self.db.write(
            lambda db: db.execute(
                "INSERT INTO credentials (user_id, kind, secret_hash, name, device, address, "
                "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [user_id, kind, _digest(secret), name, device, address, expires],
            )
        )
        return secret

    def _credential(self, secret: str, kind: Kind, *, touch: bool = True) -> Any:
        if not secret.startswith(_PREFIX[kind]):
            return None
        digest = _digest(secret)
        # Remembered until the next write (a revocation is one): no query on every request.
        row = self.db.memo(
            ("credential", digest, kind),
            lambda: self.db.query_one(
                "SELECT * FROM credentials WHERE secret_hash = ? AND kind = ?", [digest, kind]
            ),
        )
        if row is None:
            return None
        if row["expires_at"] and row["expires_at"] < _stamp(_now()):
            return None
        if touch and (row["last_used_at"] or "") < _stamp(_now() - timedelta(minutes=1)):
            now = _stamp(_now())  # at most one write a minute per credential, not waited for
            self.db.submit(
                lambda db: db.execute(
                    "UPDATE credentials SET last_used_at = ? WHERE id = ?", [now, row["id"]]
                )
            )
        return row

    def user_for(self, secret: str, kind: Kind) -> User | None:
        row = self._credential(secret, kind)
        return self.users.get(int(row["user_id"])) if row is not None else None

    def authenticate_bearer(self, token: str) -> User | None:
        """The user of an ``Authorization: Bearer`` value: an access token or an API key."""
        if token.startswith("hat_"):
            return self.user_for_access_token(token)
        if token.startswith(_PREFIX["api_key"]):
            return self.user_for(token, "api_key")
        return None

    def credentials(self, user_id: int) -> list[dict[str, Any]]:
        return [
            {
                k: row[k]
                for k in (
                    "id",
                    "kind",
                    "name",
                    "device",
                    "address",
                    "created_at",
                    "last_used_at",
                    "expires_at",
                )
            }
            for row in self.db.query(
                "SELECT * FROM credentials WHERE user_id = ? ORDER BY created_at DESC", [user_id]
            )
        ]

    def revoke(self, user_id: int, credential_id: int) -> bool:
        """Revoke one of the user's own credentials; False when it is not theirs."""

        def delete(db: Any) -> int:
            return int(
                db.execute(
                    "DELETE FROM credentials WHERE id = ? AND user_id = ?", [credential_id, user_id]
                ).rowcount
            )

        return bool(self.db.write(delete))

    def describe(self, secret: str) -> dict[str, Any] | None:
        """id, kind, name and times of the credential ``secret`` (for answering "created")."""
        row = self.db.query_one(
            "SELECT id, kind, name, created_at FROM credentials WHERE secret_hash = ?",
            [_digest(secret)],
        )
        return dict(row) if row else None

    def revoke_secret(self, secret: str) -> None:
        self.db.write(
            lambda db: db.execute(
                "DELETE FROM credentials WHERE secret_hash = ?", [_digest(secret)]
            )
        )
