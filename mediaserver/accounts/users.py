"""Users: create, rename-proof lookup, passwords, roles.  Plain Python over the catalog.

Changing or resetting a password revokes every session, refresh token and API key of the
user, so a leaked password stops working everywhere the moment it is changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mediaserver.accounts.passwords import check_strength, hash_password, needs_rehash, verify
from mediaserver.accounts.preferences import Preferences
from mediaserver.accounts.preferences import decode as decode_preferences
from mediaserver.accounts.preferences import encode as encode_preferences
from mediaserver.db import Database
from mediaserver.library.access import EVERYTHING, Access
from mediaserver.library.ratings import KNOWN_RATINGS, rating_age

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
    all_libraries: bool = True
    libraries: frozenset[int] = frozenset()  # when not all_libraries: the ones allowed

    @classmethod
    def from_row(cls, row: Any, libraries: frozenset[int] = frozenset()) -> User:
        return cls(
            int(row["id"]),
            str(row["name"]),
            bool(row["is_admin"]),
            row["max_rating"],
            bool(row["show_unrated"]),
            bool(row["all_libraries"]),
            libraries,
        )

    @property
    def access(self) -> Access:
        """What this user may see: everything for an admin."""
        if self.is_admin:
            return EVERYTHING
        return Access(
            libraries=None if self.all_libraries else self.libraries,
            max_age=rating_age(self.max_rating),
            show_unrated=self.show_unrated,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "is_admin": self.is_admin,
            "max_rating": self.max_rating,
            "show_unrated": self.show_unrated,
            "all_libraries": self.all_libraries,
            "libraries": sorted(self.libraries),
            "avatar_url": f"/api/v1/users/{self.id}/avatar",
        }


def _clean_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise UserError(
            "a user name is 1-64 letters, digits, spaces or . @ + - _, starting with a letter or digit"
        )
    return name


class _Unset:
    """The default of an argument that None would be a real value for."""


_KEEP = _Unset()


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
            return self._user(row) if row else None

        return self.db.memo(("user", user_id), load)  # until the next write

    def _user(self, row: Any) -> User:
        rows = self.db.query("SELECT library_id FROM user_libraries WHERE user_id = ?", [row["id"]])
        return User.from_row(row, frozenset(int(r[0]) for r in rows))

    def by_name(self, name: str) -> User | None:
        row = self.db.query_one("SELECT * FROM users WHERE name = ?", [name.strip()])
        return self._user(row) if row else None

    def all(self) -> list[User]:
        libraries: dict[int, set[int]] = {}
        for user_id, library_id in self.db.query("SELECT user_id, library_id FROM user_libraries"):
            libraries.setdefault(int(user_id), set()).add(int(library_id))
        return [  # two reads for everyone, not one per person
            User.from_row(r, frozenset(libraries.get(int(r["id"]), ())))
            for r in self.db.query("SELECT * FROM users ORDER BY name")
        ]

    def update(
        self,
        user_id: int,
        *,
        is_admin: bool | None = None,
        max_rating: str | _Unset | None = _KEEP,
        show_unrated: bool | None = None,
        libraries: list[int] | _Unset | None = _KEEP,
    ) -> User:
        """Change a user's role and limits; ``libraries=None`` means every library.

        The last admin cannot stop being one: nobody could manage the server after that.
        """
        user = self.get(user_id)
        if user is None:
            raise UserError(f"no user with id {user_id}")
        sets: dict[str, Any] = {}
        if is_admin is not None:
            if user.is_admin and not is_admin and self._admins() == 1:
                raise UserError("this is the only admin; make someone else an admin first")
            sets["is_admin"] = int(is_admin)
        if not isinstance(max_rating, _Unset):
            max_rating = (max_rating or "").strip() or None
            if max_rating is not None and rating_age(max_rating) is None:
                raise UserError(
                    f"{max_rating!r} is not a content rating Hearth knows; "
                    f"use an age (e.g. 12) or one of {', '.join(KNOWN_RATINGS)}"
                )
            sets["max_rating"] = max_rating
        if show_unrated is not None:
            sets["show_unrated"] = int(show_unrated)
        wanted: set[int] | None = None
        if not isinstance(libraries, _Unset):
            sets["all_libraries"] = int(libraries is None)
            wanted = set(libraries or ())
            known = {int(r[0]) for r in self.db.query("SELECT id FROM libraries")}
            if unknown := sorted(wanted - known):
                raise UserError(f"no library with id {unknown[0]}")

        def change(db: Any) -> None:
            if sets:
                columns = ", ".join(f"{k} = ?" for k in sets)
                db.execute(f"UPDATE users SET {columns} WHERE id = ?", [*sets.values(), user_id])
            if wanted is not None:
                db.execute("DELETE FROM user_libraries WHERE user_id = ?", [user_id])
                db.conn.executemany(
                    "INSERT INTO user_libraries (user_id, library_id) VALUES (?, ?)",
                    [(user_id, lid) for lid in sorted(wanted)],
                )

        self.db.write(change)
        changed = self.get(user_id)
        assert changed is not None
        return changed

    def delete(self, user_id: int) -> None:
        """Remove a user and everything theirs; never the last admin."""
        user = self.get(user_id)
        if user is None:
            raise UserError(f"no user with id {user_id}")
        if user.is_admin and self._admins() == 1:
            raise UserError("this is the only admin; it cannot be removed")
        self.db.write(lambda db: db.execute("DELETE FROM users WHERE id = ?", [user_id]))

    def _admins(self) -> int:
        row = self.db.query_one("SELECT count(*) FROM users WHERE is_admin = 1")
        return int(row[0]) if row else 0

    def preferences(self, user_id: int) -> Preferences:
        def load() -> Preferences:
            row = self.db.query_one("SELECT preferences FROM users WHERE id = ?", [user_id])
            return decode_preferences(row[0] if row else None)

        return self.db.memo(("preferences", user_id), load)

    def set_preferences(self, user_id: int, wanted: Preferences) -> Preferences:
        """Store checked preferences (languages as ISO 639-3); PreferenceError if unusable."""
        checked = wanted.checked()
        self.db.write(
            lambda db: db.execute(
                "UPDATE users SET preferences = ? WHERE id = ?",
                [encode_preferences(checked), user_id],
            )
        )
        return checked

    def set_avatar(self, user_id: int, data: bytes, content_type: str) -> None:
        self.db.write(
            lambda db: db.execute(
                """INSERT INTO avatars (user_id, content_type, data) VALUES (?, ?, ?)
                   ON CONFLICT (user_id) DO UPDATE SET content_type = excluded.content_type,
                   data = excluded.data, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ')""",
                [user_id, content_type, data],
            )
        )

    def avatar(self, user_id: int) -> tuple[bytes, str, str] | None:
        """The picture's bytes, content type and last change, or None."""
        row = self.db.query_one(
            "SELECT data, content_type, updated_at FROM avatars WHERE user_id = ?", [user_id]
        )
        return (bytes(row[0]), str(row[1]), str(row[2])) if row else None

    def remove_avatar(self, user_id: int) -> None:
        self.db.write(lambda db: db.execute("DELETE FROM avatars WHERE user_id = ?", [user_id]))

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
        return self._user(row)
