"""Two-factor sign-in in two steps: the password earns a ticket, the ticket and a code earn
the tokens.  The ticket never stands in for the password, works once, for five minutes and
five codes, and wrong codes count toward the lockout like wrong passwords."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from mediaserver.accounts.auth import (
    FAILURES_BEFORE_LOCK,
    AuthService,
    LockedOut,
    SignInExpired,
    TwoFactorRequired,
    WrongCode,
)
from mediaserver.accounts.tickets import CODE_TRIES, TICKET_TTL_S, Tickets
from mediaserver.accounts.users import User, UserService
from mediaserver.db import Database

GOOD = "correct horse battery staple"
HOME = "192.0.2.1"


@pytest.fixture
def auth(tmp_path: Path) -> Iterator[AuthService]:
    db = Database(tmp_path / "catalog.sqlite3")
    db.open()
    yield AuthService(db, UserService(db), b"k" * 32)
    db.close()


@pytest.fixture
def alice(auth: AuthService) -> tuple[User, pyotp.TOTP, list[str]]:
    """Alice with two-factor on: her authenticator and her recovery codes."""
    user = auth.users.create("Alice", GOOD)
    totp = pyotp.TOTP(auth.two_factor.enrol(user.id, user.name)["secret"])
    # The previous step confirms it, so this step's code is still unused.
    codes = auth.two_factor.confirm(user.id, totp.at(time.time() - totp.interval))
    assert codes is not None
    return user, totp, codes


def password_step(auth: AuthService, name: str = "Alice", device: str = "Phone") -> str:
    with pytest.raises(TwoFactorRequired) as asked:
        auth.login(name, GOOD, address=HOME, device=device)
    assert asked.value.expires_in == TICKET_TTL_S
    return asked.value.ticket


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_the_code_alone_finishes_a_sign_in_the_password_began(
    auth: AuthService, alice: tuple[User, pyotp.TOTP, list[str]]
) -> None:
    user, totp, _ = alice
    ticket = password_step(auth)
    with pytest.raises(WrongCode) as first:
        auth.finish_login(ticket, wrong(totp.now()), address=HOME)
    assert first.value.tries_left == CODE_TRIES - 1  # still on the code step
    login = auth.finish_login(ticket, totp.now(), address=HOME)
    assert login.user == user
    assert auth.user_for(login.refresh_token, "refresh") == user
    sessions = [c for c in auth.credentials(user.id) if c["kind"] == "refresh"]
    assert [c["device"] for c in sessions] == ["Phone"]  # the device of the password step
    with pytest.raises(SignInExpired):  # used up by the right code
        auth.finish_login(ticket, totp.now(), address=HOME)


def test_a_recovery_code_works_on_the_code_step(
    auth: AuthService, alice: tuple[User, pyotp.TOTP, list[str]]
) -> None:
    user, _, codes = alice
    assert auth.finish_login(password_step(auth), codes[0], address=HOME).user == user
    assert auth.two_factor.recovery_left(user.id) == len(codes) - 1


def test_a_ticket_never_skips_the_password(
    auth: AuthService, alice: tuple[User, pyotp.TOTP, list[str]]
) -> None:
    _, totp, _ = alice
    with pytest.raises(PermissionError) as refused:  # a wrong password earns no ticket
        auth.login("Alice", "not the password", address=HOME)
    assert not isinstance(refused.value, TwoFactorRequired)
    for made_up in ("", "h2f_" + "A" * 43, "hss_whatever"):
        with pytest.raises(SignInExpired):
            auth.finish_login(made_up, totp.now(), address=HOME)
    ticket = password_step(auth)
    assert auth.authenticate_bearer(ticket) is None  # not a credential of any kind
    assert auth.user_for(ticket, "session") is None


def test_wrong_codes_end_the_ticket_and_count_toward_the_lockout(
    auth: AuthService, alice: tuple[User, pyotp.TOTP, list[str]]
) -> None:
    _, totp, _ = alice
    assert CODE_TRIES <= FAILURES_BEFORE_LOCK  # the ticket ends no later than the lock starts
    ticket = password_step(auth)
    left = []
    for _ in range(CODE_TRIES):
        with pytest.raises(WrongCode) as refused:
            auth.finish_login(ticket, wrong(totp.now()), address=HOME)
        left.append(refused.value.tries_left)
    assert left == list(range(CODE_TRIES - 1, -1, -1))
    with pytest.raises(SignInExpired):  # out of tries, even with the right code
        auth.finish_login(ticket, totp.now(), address=HOME)
    with pytest.raises(LockedOut):  # five wrong codes locked the account, password or not
        auth.login("Alice", GOOD, address="198.51.100.7")


def test_a_ticket_expires_and_a_new_password_ends_it(
    auth: AuthService, alice: tuple[User, pyotp.TOTP, list[str]]
) -> None:
    user, totp, _ = alice
    now = [1000.0]
    auth.tickets = Tickets(clock=lambda: now[0])
    ticket = password_step(auth)
    now[0] += TICKET_TTL_S + 1
    with pytest.raises(SignInExpired):
        auth.finish_login(ticket, totp.now(), address=HOME)
    ticket = password_step(auth)
    auth.users.set_password(user.id, "another long household phrase")
    with pytest.raises(SignInExpired):
        auth.finish_login(ticket, totp.now(), address=HOME)


def test_the_one_call_sign_in_with_a_code_still_works(
    auth: AuthService, alice: tuple[User, pyotp.TOTP, list[str]]
) -> None:
    user, totp, _ = alice
    assert auth.login("Alice", GOOD, address=HOME, totp=totp.now()).user == user
