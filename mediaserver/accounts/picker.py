"""The sign-in page's profile picker: who is on it, their optional PIN, and who may use it.

A person is on the picker only when they (or an admin) opted in.  A PIN is 4 to 8 digits,
stored as an argon2 hash exactly like a password, never as the digits.  Admins and people
with two-factor sign-in appear on the picker but their tile always asks for the password
(and then the code): a PIN has at most 10^8 values and would unlock the whole server or
skip the second factor, which is the point of having one.

Whether the picker is shown at all (the server setting, the home network) is the web
layer's business; :class:`AuthService.picker_login` counts wrong PINs exactly like wrong
passwords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mediaserver.accounts.passwords import hash_password, verify
from mediaserver.db import Database

__all__ = ["PIN_RULE", "PickerPerson", "PickerStore", "PinError", "check_pin"]

PIN_RULE = "a PIN is 4 to 8 digits"
_PIN = re.compile(r"^[0-9]{4,8}$")


class PinError(ValueError):
    """A PIN cannot be stored; the message says why."""


@dataclass(frozen=True, slots=True)
class PickerPerson:
    id: int
    name: str
    has_avatar: bool
    has_pin: bool
    needs_password: bool  # an admin or a two-factor account: the tile asks for the password

    @property
    def initial(self) -> str:
        return self.name[:1].upper()


def check_pin(pin: str) -> str:
    """The PIN when it is 4 to 8 ASCII digits; PinError otherwise."""
    if not _PIN.match(pin):
        raise PinError(PIN_RULE)
    return pin


def _person(row: Any) -> PickerPerson:
    return PickerPerson(
        id=int(row["id"]),
        name=str(row["name"]),
        has_avatar=bool(row["has_avatar"]),
        has_pin=row["pin_hash"] is not None,
        needs_password=bool(row["is_admin"]) or bool(row["totp_secret"]),
    )


_SELECT = (
    "SELECT u.id, u.name, u.is_admin, u.totp_secret, u.pin_hash, "
    "EXISTS (SELECT 1 FROM avatars a WHERE a.user_id = u.id) AS has_avatar FROM users u"
)


class PickerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def people(self) -> list[PickerPerson]:
        """Everyone who opted in, by name."""
        rows = self.db.query(f"{_SELECT} WHERE u.on_picker = 1 ORDER BY u.name")
        return [_person(r) for r in rows]

    def person(self, user_id: int) -> PickerPerson | None:
        """One person, only while they are on the picker."""
        row = self.db.query_one(f"{_SELECT} WHERE u.on_picker = 1 AND u.id = ?", [user_id])
        return _person(row) if row else None

    def is_on(self, user_id: int) -> bool:
        row = self.db.query_one("SELECT on_picker FROM users WHERE id = ?", [user_id])
        return bool(row and row["on_picker"])

    def has_pin(self, user_id: int) -> bool:
        row = self.db.query_one("SELECT pin_hash FROM users WHERE id = ?", [user_id])
        return bool(row and row["pin_hash"])

    def show(self, user_id: int, on: bool) -> None:
        self.db.write(
            lambda db: db.execute("UPDATE users SET on_picker = ? WHERE id = ?", [int(on), user_id])
        )

    def set_pin(self, user_id: int, pin: str | None) -> None:
        """A new PIN (checked, then hashed), or None to sign in from the tile without one."""
        hashed = None if pin is None else hash_password(check_pin(pin))
        self.db.write(
            lambda db: db.execute("UPDATE users SET pin_hash = ? WHERE id = ?", [hashed, user_id])
        )

    def pin_matches(self, user_id: int, pin: str) -> bool:
        """Whether ``pin`` is the person's PIN; the same argon2 work when they have none."""
        row = self.db.query_one("SELECT pin_hash FROM users WHERE id = ?", [user_id])
        stored = row["pin_hash"] if row else None
        return verify(stored, pin) and stored is not None
