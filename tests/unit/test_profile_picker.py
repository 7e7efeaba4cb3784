"""The profile picker's rules, on a real catalog: PINs (format, argon2, checking), who may
sign in by a tile, wrong PINs on the password throttle, and what counts as the home network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import argon2
import pytest

from mediaserver.accounts import passwords
from mediaserver.accounts.auth import FAILURES_BEFORE_LOCK, AuthService, LockedOut
from mediaserver.accounts.picker import PinError, check_pin
from mediaserver.accounts.users import UserService
from mediaserver.api.clients import from_home_network
from mediaserver.db import Database

PASSWORD = "correct horse battery staple"
HOME = "192.168.1.20"


@pytest.fixture
def auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuthService]:
    # Light argon2 parameters: the rules are under test here, not the hash's cost (the real
    # parameters take 64 MiB and a good part of a second per hash on this machine).
    monkeypatch.setattr(passwords, "_hasher", argon2.PasswordHasher(time_cost=1, memory_cost=64))
    db = Database(tmp_path / "catalog.sqlite3")
    db.open()
    yield AuthService(db, UserService(db), b"k" * 32)
    db.close()


def _person(auth: AuthService, name: str, *, pin: str | None = None, admin: bool = False) -> int:
    user = auth.users.create(name, PASSWORD, admin=admin)
    auth.picker.show(user.id, True)
    auth.picker.set_pin(user.id, pin)
    return user.id


@pytest.mark.parametrize("pin", ["1234", "00000000", "902211"])
def test_a_pin_is_four_to_eight_digits(pin: str) -> None:
    assert check_pin(pin) == pin


@pytest.mark.parametrize(
    "pin", ["", "123", "123456789", "12a4", "\uff11\uff12\uff13\uff14", " 1234", "12.4"]
)
def test_anything_else_is_refused_in_words(pin: str) -> None:
    with pytest.raises(PinError, match="4 to 8 digits"):
        check_pin(pin)


def test_a_pin_is_stored_as_argon2_never_as_digits(auth: AuthService) -> None:
    user_id = _person(auth, "Ben", pin="2468")
    row = auth.db.query_one("SELECT pin_hash FROM users WHERE id = ?", [user_id])
    stored = row[0] if row else ""
    assert stored.startswith("$argon2id$") and "2468" not in stored
    assert auth.picker.pin_matches(user_id, "2468")
    assert not auth.picker.pin_matches(user_id, "2469")
    assert not auth.picker.pin_matches(user_id, "24680")  # no prefix games
    auth.picker.set_pin(user_id, None)
    assert not auth.picker.has_pin(user_id) and not auth.picker.pin_matches(user_id, "2468")


def test_only_people_who_opted_in_are_on_the_picker(auth: AuthService) -> None:
    ann = _person(auth, "Ann")
    cat = auth.users.create("Cat", PASSWORD).id  # never opted in
    assert [p.name for p in auth.picker.people()] == ["Ann"]
    with pytest.raises(PermissionError):
        auth.picker_login(cat, "", address=HOME)
    auth.picker.show(ann, False)
    assert auth.picker.people() == []
    with pytest.raises(PermissionError):
        auth.picker_login(ann, "", address=HOME)


def test_a_tile_without_a_pin_signs_in_and_one_with_a_pin_needs_it(auth: AuthService) -> None:
    assert auth.picker_login(_person(auth, "Ann"), "", address=HOME).user.name == "Ann"
    ben = _person(auth, "Ben", pin="2468")
    with pytest.raises(PermissionError, match="wrong PIN"):
        auth.picker_login(ben, "", address=HOME)
    assert auth.picker_login(ben, "2468", address=HOME).user.name == "Ben"


def test_admins_and_two_factor_accounts_always_need_their_password(auth: AuthService) -> None:
    boss = _person(auth, "Boss", admin=True)
    dee = _person(auth, "Dee", pin="1357")
    auth.db.write(lambda db: db.execute("UPDATE users SET totp_secret = 'X' WHERE id = ?", [dee]))
    for user_id, pin in ((boss, ""), (dee, "1357")):
        assert auth.picker.person(user_id).needs_password  # type: ignore[union-attr]
        with pytest.raises(PermissionError, match="password"):
            auth.picker_login(user_id, pin, address=HOME)


def test_wrong_pins_lock_the_account_like_wrong_passwords(auth: AuthService) -> None:
    ben = _person(auth, "Ben", pin="2468")
    for n in range(FAILURES_BEFORE_LOCK):
        with pytest.raises(PermissionError):
            auth.picker_login(ben, f"000{n}", address=f"10.0.0.{n}")  # a new address each time
    with pytest.raises(LockedOut):
        auth.picker_login(ben, "2468", address="10.0.0.99")  # the right PIN waits too
    with pytest.raises(LockedOut):  # the same lock as the password's: one account, one count
        auth.login("Ben", PASSWORD, address="10.0.0.98")


def test_wrong_pins_count_for_the_address_too(auth: AuthService) -> None:
    people = [_person(auth, f"P{n}", pin="2468") for n in range(FAILURES_BEFORE_LOCK + 1)]
    for user_id in people[:-1]:
        with pytest.raises(PermissionError):
            auth.picker_login(user_id, "1111", address=HOME)
    with pytest.raises(LockedOut):
        auth.picker_login(people[-1], "2468", address=HOME)


def _scope(client: str, *headers: tuple[str, str]) -> Any:
    return {
        "client": (client, 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }


@pytest.mark.parametrize(
    ("scope", "home"),
    [
        (_scope("192.168.1.20"), True),
        (_scope("10.1.2.3"), True),
        (_scope("fe80::1"), True),
        (_scope("127.0.0.1"), True),
        (_scope("127.0.0.1", ("X-Forwarded-For", "192.168.1.5")), True),
        (_scope("8.8.8.8"), False),
        (_scope("2606:4700::1111"), False),
        (_scope("127.0.0.1", ("X-Forwarded-For", "8.8.8.8")), False),
        (_scope("127.0.0.1", ("X-Forwarded-For", "192.168.1.5, 8.8.4.4")), False),
        (_scope("127.0.0.1", ("X-Real-IP", "8.8.8.8")), False),
        (_scope("127.0.0.1", ("Forwarded", 'for="[2606:4700::1111]:443";proto=https')), False),
        (_scope("127.0.0.1", ("X-Forwarded-For", "not an address")), False),
    ],
)
def test_the_home_network_rule(scope: Any, home: bool) -> None:
    """DLNA's rule: the peer and every forwarded address private, link-local or loopback."""
    assert from_home_network(scope) is home
