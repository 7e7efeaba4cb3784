"""Pairing a device by code: expiry, one use, the cap on waiting devices, no guessing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaserver.accounts.auth import AuthService, LockedOut
from mediaserver.accounts.pairing import PairingError, PairingService, normalise_code
from mediaserver.accounts.users import User, UserService
from mediaserver.db import Database
from mediaserver.testing import ManualClock as Clock


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[PairingService, User, Clock]]:
    with Database(tmp_path / "catalog.sqlite3") as db:
        users = UserService(db)
        user = users.create("Kim", "a long household password")
        clock = Clock()
        yield (
            PairingService(AuthService(db, users, b"k" * 32), max_pending=3, clock=clock),
            user,
            clock,
        )


def test_an_approved_device_gets_tokens_once(setup: tuple[PairingService, User, Clock]) -> None:
    service, user, _ = setup
    started = service.start("TV", "127.0.0.1")
    assert service.poll(started.poll_token) is None  # waiting
    assert service.waiting(started.code) is not None
    service.approve(started.code, user)
    login = service.poll(started.poll_token)
    assert login is not None and login.user.id == user.id and login.refresh_token.startswith("hrt_")
    with pytest.raises(PairingError):
        service.poll(started.poll_token)


def test_a_pairing_expires_after_five_minutes(setup: tuple[PairingService, User, Clock]) -> None:
    service, user, clock = setup
    started = service.start("TV", "127.0.0.1")
    clock.now += 301
    with pytest.raises(PairingError):
        service.poll(started.poll_token)
    with pytest.raises(PairingError):
        service.approve(started.code, user)


def test_too_many_waiting_devices_are_refused(setup: tuple[PairingService, User, Clock]) -> None:
    service, _, clock = setup
    codes = {service.start(f"TV {i}", "127.0.0.1").code for i in range(3)}
    assert len(codes) == 3 and all(len(c) == 6 and c.isalnum() for c in codes)
    assert not set("01OI") & set("".join(codes))  # nothing to misread on a TV
    with pytest.raises(PairingError, match="too many"):
        service.start("TV 4", "127.0.0.1")
    clock.now += 301  # the old ones expire and make room
    service.start("TV 4", "127.0.0.1")


def test_wrong_codes_lock_the_guesser_out(setup: tuple[PairingService, User, Clock]) -> None:
    service, user, clock = setup
    started = service.start("TV", "127.0.0.1")
    for _ in range(5):
        with pytest.raises(PairingError):
            service.approve("AAAAAA", user)
    with pytest.raises(LockedOut):
        service.approve(started.code, user)  # even the right code waits out the lock
    clock.now += 2
    service.approve(started.code, user)


def test_typed_codes_are_normalised() -> None:
    assert normalise_code(" k7m-4qx ") == "K7M4QX"
