"""Users: create, rename-proof lookup, passwords, roles.  Plain Python over the catalog.

Changing or resetting a password revokes every session, refresh token and API key of the
user, so a leaked password stops working everywhere the moment it is changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mediaserver.accounts.passwords import check_strength, hash_password, needs_rehash, verify
from mediaserver.db import Database

__all__ = ["User", "UserError", "UserService"]

_NAME = re.compile(r"^[\w][\w .@+-]{0,63}$", re.UNICODE)


class UserError(ValueError):
    """A user cannot be created or changed; the message says why."""


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    is_admin: bool
    max_rating: str | None
    show_unrated: bool

    @classmethod
    def from_row(cls, row: Any) -> User:
        return cls(
            int(row["id"]),
            str(row["name"]),
            bool(row["is_admin"]),
            row["max_rating"],
            bool(row["show_unrated"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_admin": self.is_admin,
            "max_rating": self.max_rating,
            "show_unrated": self.show_unrated,
        }


def _clean_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise UserError(
            "a user name is 1-64 letters, digits, spaces or . @ + - _, starting with a letter or digit"
        )
    return name


class UserService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def count(self) -> int:
        row = self.db.query_one("SELECT count(*) AS n FROM users")
        return int(row["n"]) if row else 0

    def has_admin(self) -> bool:
        return self.db.query_one("SELECT 1 FROM users WHERE is_admin = 1 LIMIT 1") is not None

    def get(self, user_id: int) -> User | None:
        def load() -> User | None:
            row = self.db.query_one("SELECT * FROM users WHERE id = ?", [user_id])
            return User.from_row(row) if row else None

        return self.db.memo(("user", user_id), load)  # until the next write

    def by_name(self, name: str) -> User | None:
        row = self.db.query_one("SELECT * FROM users WHERE name = ?", [name.strip()])
        return User.from_row(row) if row else None

    def all(self) -> list[User]:
        return [User.from_row(r) for r in self.db.query("SELECT * FROM users ORDER BY name")]

    def create(self, name: str, password: str, *, admin: bool = False) -> User:
        name = _clean_name(name)
        check_strength(password, context=[name])
        if self.by_name(name) is not None:
            raise UserError(f"there is already a user called {name!r}")
        hashed = hash_password(password)

        def insert(db: Any) -> int:
            cursor = db.execute(
                "INSERT INTO users (name, password_hash, is_admin) VALUES (?, ?, ?)",
                [name, hashed, int(admin)],
            )
            return int(cursor.lastrowid)

        user = self.get(self.db.write(insert))
        assert user is not None
        return user

    def set_password(self, user_id: int, password: str) -> int:
        """New password, every credential of the user revoked; returns how many were."""
        user = self.get(user_id)
        if user is None:
            raise UserError(f"no user with id {user_id}")
        check_strength(password, context=[user.name])
        hashed = hash_password(password)

        def change(db: Any) -> int:
            db.execute(
                "UPDATE users SET password_hash = ?, "
                "password_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ') WHERE id = ?",
                [hashed, user_id],
            )
            return int(db.execute("DELETE FROM credentials WHERE user_id = ?", [user_id]).rowcount)

        return int(self.db.write(change))

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when name and password match; None otherwise, in the same time."""
        row = self.db.query_one("SELECT * FROM users WHERE name = ?", [name.strip()[:64]])
        stored = row["password_hash"] if row else None
        if not verify(stored, password) or row is None:
            return None
        if needs_rehash(str(stored)):
            rehashed = hash_password(password)
            self.db.write(
                lambda db: db.execute(
                    "UPDATE users SET password_hash = ? WHERE id = ?", [rehashed, row["id"]]
                )
            )
        return User.from_row(row)
