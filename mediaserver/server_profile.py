"""What the admin chose for the whole server in the web UI: its name, the household's
languages, whether the first-run set-up is done, and whether the demo library has had its day.

Stored in the ``settings`` table, one row per name with a JSON value, so a backup of the
catalog carries it.  Each person's own languages (``accounts.preferences``) win over the
household's; these fill in for people who have not chosen.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from mediaserver.db import Database
from mediaserver.streaming.tracks import language_code

__all__ = ["MAX_NAME", "ProfileError", "ServerProfile", "ServerProfileStore"]

MAX_NAME = 63  # what mDNS allows in one label, and what a top bar shows


class ProfileError(ValueError):
    """A choice that cannot be stored; the message says why."""


@dataclass(frozen=True, slots=True)
class ServerProfile:
    name: str = ""  # empty: "Hearth on <host name>"
    # ISO 639-3 codes.  Audio tracks in metadata_language play first, and it is the language
    # any metadata download will ask for; subtitles in subtitle_language are picked when
    # forced (or always, for people who chose that).  None: the file's own defaults.
    metadata_language: str | None = None
    subtitle_language: str | None = None
    setup_done: bool = False  # the first-run set-up was finished or skipped
    demo_retired: bool = False  # a library of the household's own was added once
    # The sign-in page shows tiles of the people who opted in, to home-network visitors only.
    profile_picker: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = {f.name for f in fields(ServerProfile)}


def _checked_name(raw: object) -> str:
    name = " ".join(str(raw).split())
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ProfileError("name: control characters cannot be part of a name")
    if len(name) > MAX_NAME:
        raise ProfileError(f"name: at most {MAX_NAME} characters")
    return name


def _checked_language(key: str, raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    code = language_code(str(raw)[:40])
    if code is None:
        raise ProfileError(f"{key}: {str(raw)[:40]!r} is not a language Hearth knows")
    return code


class ServerProfileStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self) -> ServerProfile:
        def load() -> ServerProfile:
            stored: dict[str, Any] = {}
            for name, value in self.db.query("SELECT name, value FROM settings"):
                if name in _FIELDS:
                    try:
                        stored[name] = json.loads(value)
                    except ValueError:
                        continue  # written by hand or by a newer Hearth: the default
            try:
                return ServerProfile(**stored)
            except TypeError:
                return ServerProfile()

        return self.db.memo(("server-profile",), load)

    def update(self, **changes: Any) -> ServerProfile:
        """Store the given fields (checked first: nothing is stored if one is wrong)."""
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise ProfileError(f"{unknown[0]}: not a server setting")
        checked = dict(changes)
        if "name" in checked:
            checked["name"] = _checked_name(checked["name"])
        for key in ("metadata_language", "subtitle_language"):
            if key in checked:
                checked[key] = _checked_language(key, checked[key])
        for key in ("setup_done", "demo_retired", "profile_picker"):
            if key in checked:
                checked[key] = bool(checked[key])
        updated = replace(self.get(), **checked)

        def write(db: Any) -> None:
            for key in checked:
                db.execute(
                    "INSERT INTO settings (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                    [key, json.dumps(getattr(updated, key))],
                )

        self.db.write(write)
        return updated
