"""Users, passwords, tokens and login throttling, on a real catalog in a temp folder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from mediaserver.accounts import passwords
from mediaserver.accounts.auth import (
    FAILURES_BEFORE_LOCK,
    AuthService,
    LockedOut,
    Throttle,
    TwoFactorRequired,
)
from mediaserver.accounts.users import UserError, UserService
from mediaserver.db import Database

GOOD = "correct horse battery staple"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "catalog.sqlite3")
    database.open()
    yield database
    database.close()


@pytest.fixture
def users(db: Database) -> UserService:
    return UserService(db)


@pytest.fixture
def auth(db: Database, users: UserService) -> AuthService:
    return AuthService(db, users, b"k" * 32)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 10 characters"),
        ("password123", "very common password"),
        ("qwertyuiop", "too weak"),
        ("aaaaaaaaaaaa", "too weak"),
        ("alice-alice-alice", "too weak"),  # made of the user's own name
        ("x" * 300, "at most 256"),
        ("password" * 32, "too weak"),  # 256 characters, every piece of them weak
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password: str, reason: str) -> None:
    with pytest.raises(passwords.WeakPassword, match=reason):
        passwords.check_strength(password, context=["alice"])


BRIDGES = " the ferry lanterns hum under seven bridges at dusk" * 6


@pytest.mark.parametrize(
    "phrase",
    [BRIDGES[:73], BRIDGES[:256], ("a" * 72 + BRIDGES)[:200]],  # the last: a weak first piece
)
def test_a_long_passphrase_is_judged_in_pieces_and_hashed_whole(
    users: UserService, phrase: str
) -> None:
    user = users.create("Alice", phrase)
    assert users.authenticate("Alice", phrase) == user
    assert users.authenticate("Alice", phrase[:-1]) is None


def test_a_password_is_stored_as_argon2id_and_verified(users: UserService, db: Database) -> None:
    user = users.create("Alice", GOOD, admin=True)
    stored = db.query_one("SELECT password_hash FROM users WHERE id = ?", [user.id])
    assert stored is not None and stored["password_hash"].startswith("$argon2id$")
    assert GOOD not in stored["password_hash"]
    assert users.authenticate("alice", GOOD) == user  # names are case-insensitive
    assert users.authenticate("Alice", GOOD + "x") is None
    assert users.authenticate("nobody", GOOD) is None
    assert user.is_admin and users.has_admin()


def test_an_unknown_user_costs_as_much_time_as_a_known_one(users: UserService) -> None:
    users.create("Alice", GOOD)

    def timed(name: str) -> float:
        start = time.perf_counter()
        assert users.authenticate(name, "wrong password here") is None
        return time.perf_counter() - start

    known = min(timed("Alice") for _ in range(3))
    unknown = min(timed("nobody") for _ in range(3))
    assert unknown > 0.5 * known  # the hash is computed either way (argon2: tens of ms)


@pytest.mark.parametrize("name", ["", " ", "-dash", "a" * 65, "semi;colon", "<script>"])
def test_bad_user_names_are_refused(users: UserService, name: str) -> None:
    with pytest.raises(UserError):
        users.create(name, GOOD)


def test_a_duplicate_name_is_refused(users: UserService) -> None:
    users.create("Alice", GOOD)
    with pytest.raises(UserError, match="already"):
        users.create("ALICE", GOOD)


def test_tokens_work_until_the_password_changes(auth: AuthService, users: UserService) -> None:
    user = users.create("Alice", GOOD)
    login = auth.login("Alice", GOOD, address="192.0.2.1", device="TV")
    assert auth.authenticate_bearer(login.access_token) == user
    key = auth.issue(user.id, "api_key", name="script")
    assert auth.authenticate_bearer(key) == user
    kinds = sorted(c["kind"] for c in auth.credentials(user.id))
    assert kinds == ["api_key", "refresh"]
    assert users.set_password(user.id, "an entirely new phrase") == 2
    assert auth.authenticate_bearer(login.access_token) is None  # the epoch moved
    assert auth.authenticate_bearer(key) is None
    with pytest.raises(PermissionError):
        auth.refresh(login.refresh_token, address="192.0.2.1")


def test_a_refresh_token_works_once(auth: AuthService, users: UserService) -> None:
    users.create("Alice", GOOD)
    first = auth.login("Alice", GOOD, address="192.0.2.1")
    second = auth.refresh(first.refresh_token, address="192.0.2.1")
    assert second.refresh_token != first.refresh_token
    with pytest.raises(PermissionError):
        auth.refresh(first.refresh_token, address="192.0.2.1")
    assert auth.authenticate_bearer(second.access_token) is not None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "hat_1.9999999999.0000",
        "hat_x.y.z",
        "hak_" + "A" * 43,
        "Bearer",
        "hrt_whatever",  # a refresh token is not a bearer credential
        "hat_1.9999999999.é" + "0" * 31,  # another script: refused, never a TypeError
    ],
)
def test_forged_or_malformed_tokens_are_refused(
    auth: AuthService, users: UserService, token: str
) -> None:
    users.create("Alice", GOOD)
    assert auth.authenticate_bearer(token) is None


def test_an_expired_or_tampered_access_token_is_refused(
    auth: AuthService, users: UserService
) -> None:
    user = users.create("Alice", GOOD)
    expired = auth.access_token(user.id, ttl_s=-1)
    assert auth.authenticate_bearer(expired) is None
    good = auth.access_token(user.id)
    tampered = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert auth.authenticate_bearer(tampered) is None
    other = AuthService(auth.db, users, b"o" * 32).access_token(user.id)
    assert auth.authenticate_bearer(other) is None  # signed with another server's secret


def test_throttle_locks_after_five_failures_and_backs_off() -> None:
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(FAILURES_BEFORE_LOCK - 1):
        throttle.check("user:alice")
        throttle.failed("user:alice")
    throttle.check("user:alice")  # four failures: not yet
    throttle.failed("user:alice")
    with pytest.raises(LockedOut) as locked:
        throttle.check("user:alice")
    assert locked.value.retry_after == 1
    now[0] += 1.1
    throttle.check("user:alice")
    throttle.failed("user:alice")
    with pytest.raises(LockedOut) as longer:
        throttle.check("user:alice")
    assert longer.value.retry_after == 2  # exponential
    throttle.check("user:bob")  # others are not affected
    now[0] += 2.1
    throttle.succeeded("user:alice")
    throttle.check("user:alice")


def test_login_locks_per_account_and_per_address(auth: AuthService, users: UserService) -> None:
    users.create("Alice", GOOD)
    for n in range(FAILURES_BEFORE_LOCK):
        with pytest.raises(PermissionError):
            auth.login("Alice", "wrong", address=f"198.51.100.{n}")  # a new address each time
    with pytest.raises(LockedOut):  # the account is locked, whatever the address
        auth.login("Alice", GOOD, address="198.51.100.99")
    for _ in range(FAILURES_BEFORE_LOCK):
        with pytest.raises(PermissionError):
            auth.login("nobody", "wrong", address="203.0.113.7")
    with pytest.raises(LockedOut):  # and the address is locked, whatever the account
        auth.login("someone-else", "wrong", address="203.0.113.7")


def current_code(auth: AuthService, user_id: int, *, step_offset: int = 0) -> str:
    row = auth.db.query_one("SELECT totp_secret, totp_pending FROM users WHERE id = ?", [user_id])
    assert row is not None
    key = auth.two_factor.sealer.open(row["totp_secret"] or row["totp_pending"])
    totp = pyotp.TOTP(key)
    return totp.generate_otp(totp.timecode(time.time()) + step_offset)


def test_two_factor_is_on_only_after_a_code_confirms_it(
    auth: AuthService, users: UserService
) -> None:
    user = users.create("Alice", GOOD)
    enrolment = auth.two_factor.enrol(user.id, user.name)
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/Hearth:Alice?secret=")
    assert enrolment["qr_svg"].lstrip().startswith("<?xml") or "<svg" in enrolment["qr_svg"]
    assert not auth.two_factor.enabled(user.id)
    auth.login("Alice", GOOD, address="192.0.2.1")  # still a plain sign-in
    wrong = "000000" if current_code(auth, user.id) != "000000" else "111111"
    assert auth.two_factor.confirm(user.id, wrong) is None
    codes = auth.two_factor.confirm(user.id, current_code(auth, user.id))
    assert codes is not None and len(codes) == 10 and len(set(codes)) == 10
    assert auth.two_factor.enabled(user.id)
    with pytest.raises(TwoFactorRequired):
        auth.login("Alice", GOOD, address="192.0.2.1")


def test_a_code_works_once_and_recovery_codes_once_each(
    auth: AuthService, users: UserService
) -> None:
    user = users.create("Alice", GOOD)
    auth.two_factor.enrol(user.id, user.name)
    codes = auth.two_factor.confirm(user.id, current_code(auth, user.id, step_offset=-1))
    assert codes is not None
    fresh = current_code(auth, user.id)
    assert auth.login("Alice", GOOD, address="192.0.2.1", totp=fresh).user == user
    with pytest.raises(PermissionError, match="already used"):
        auth.login("Alice", GOOD, address="192.0.2.1", totp=fresh)  # replayed
    assert auth.login("Alice", GOOD, address="192.0.2.1", totp=codes[0].lower()).user == user
    with pytest.raises(PermissionError):
        auth.login("Alice", GOOD, address="192.0.2.1", totp=codes[0])
    assert auth.two_factor.recovery_left(user.id) == 9
    too_late = current_code(auth, user.id, step_offset=-3)
    assert not auth.two_factor.check(user.id, too_late)
    auth.two_factor.disable(user.id)
    assert auth.login("Alice", GOOD, address="192.0.2.1").user == user
