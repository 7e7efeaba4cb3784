"""Two-factor secrets sealed at rest, with the key kept beside the catalog.

A TOTP secret is all anyone needs to make a person's codes, so the catalog holds it sealed
(Fernet: AES-128-CBC with an HMAC-SHA256, from ``cryptography``) under a key kept in
``totp.key`` next to ``secret.key`` in the data folder (mode 0600): a copy of the catalog
alone, a stray backup or a read of the file by another local user, gives nothing away.

The key file holds one Fernet key a line.  The first seals; every line opens: a restore
from another machine adds that machine's key (``backup.py``), so the restored catalog and
the one it replaced both still open.  A sealed value is ``fernet:`` and the token; a TOTP
secret is base32 (``A-Z2-7``) and can never start so, which is how a value is sealed once
and never twice.  ``cryptography`` is imported on the first seal or open only: a server
where nobody uses two-factor sign-in never loads it (4 MB).
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = [
    "KEY_FILE",
    "Sealer",
    "SealingError",
    "add_keys",
    "check_catalog",
    "is_sealed",
    "load_sealer",
    "read_keys",
    "sealed_values",
]

KEY_FILE = "totp.key"
_PREFIX = "fernet:"
# Every column that holds a two-factor secret (the confirmed one and one being set up).
_SEALED_SQL = (
    "SELECT name, totp_secret FROM users WHERE totp_secret LIKE 'fernet:%' "
    "UNION ALL SELECT name, totp_pending FROM users WHERE totp_pending LIKE 'fernet:%'"
)


class SealingError(Exception):
    """The key that opens the two-factor secrets is missing or wrong; the message says
    what to do about it."""


def is_sealed(value: str) -> bool:
    return value.startswith(_PREFIX)


class Sealer:
    """Seals and opens two-factor secrets with the keys of one key file."""

    def __init__(self, keys: Sequence[bytes], path: Path) -> None:
        self.keys = list(keys)
        self.path = path
        self._multi: MultiFernet | None = None

    @property
    def _fernet(self) -> MultiFernet:
        if self._multi is None:
            from cryptography.fernet import Fernet, MultiFernet

            self._multi = MultiFernet([Fernet(k) for k in self.keys])
        return self._multi

    def seal(self, clear: str) -> str:
        if is_sealed(clear):  # already sealed: once is enough
            return clear
        return _PREFIX + self._fernet.encrypt(clear.encode()).decode()

    def open(self, stored: str) -> str:
        """The clear secret; a value that was never sealed is returned as it is."""
        if not is_sealed(stored):
            return stored
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken:
            raise SealingError(_wrong_key(self.path)) from None

    def opens(self, stored: str) -> bool:
        try:
            self.open(stored)
        except SealingError:
            return False
        return True


def read_keys(path: Path) -> list[bytes]:
    """The keys in ``path`` (none when it does not exist); SealingError when it is not a key file."""
    try:
        lines = path.read_bytes().split()
    except FileNotFoundError:
        return []
    for line in lines:
        if not _is_key(line):
            raise SealingError(
                f"{path} is not a Hearth key file (each line must be one key); put back the "
                "one this data folder had"
            ) from None
    return lines


def add_keys(path: Path, keys: Iterable[bytes]) -> list[bytes]:
    """Append the ``keys`` that ``path`` lacks (a new file when there is none); the new ones."""
    have = read_keys(path)
    new = [k for k in dict.fromkeys(keys) if k not in have]
    if new:
        _write_keys(path, have + new)
    return new


def load_sealer(data_dir: Path, *, create: bool = True) -> Sealer:
    """The sealer of ``data_dir/totp.key``, made on first use when ``create`` (mode 0600)."""
    path = data_dir / KEY_FILE
    keys = read_keys(path)
    if not keys:
        if not create:
            raise SealingError(_missing_key(path))
        keys = _create_key(path)
    return Sealer(keys, path)


def sealed_values(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(person's name, sealed value) for every sealed secret in the catalog at ``conn``."""
    return [(str(row[0]), str(row[1])) for row in conn.execute(_SEALED_SQL)]


def check_catalog(database: Path, *, keys: Sequence[bytes] | None = None) -> None:
    """Raise SealingError unless the key beside ``database`` (or ``keys``) opens every
    sealed secret in it.  Reads only; a catalog without any is always fine, and one
    that cannot be read is left for the catalog's own checks to report."""
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            has_users = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'users' AND type = 'table'"
            ).fetchone()
            sealed = sealed_values(conn) if has_users else []
        finally:
            conn.close()
    except sqlite3.Error:
        return
    if not sealed:
        return
    path = database.with_name(KEY_FILE)
    keys = read_keys(path) if keys is None else keys
    if not keys:
        raise SealingError(_missing_key(path, _names(sealed)))
    sealer = Sealer(keys, path)
    locked = [(name, value) for name, value in sealed if not sealer.opens(value)]
    if locked:
        raise SealingError(_wrong_key(path, _names(locked)))


def _names(sealed: Sequence[tuple[str, str]]) -> str:
    return ", ".join(dict.fromkeys(name for name, _ in sealed))


def _is_key(line: bytes) -> bool:
    """What Fernet accepts as a key: 32 bytes in URL-safe base64."""
    try:
        return len(base64.urlsafe_b64decode(line)) == 32
    except (binascii.Error, ValueError):
        return False


def _create_key(path: Path) -> list[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32))  # as Fernet.generate_key() makes one
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    _write_file(tmp, key + b"\n")
    try:
        os.link(tmp, path)  # never over a key another process made meanwhile
    except FileExistsError:
        return read_keys(path)
    finally:
        tmp.unlink()
    return [key]


def _write_keys(path: Path, keys: Sequence[bytes]) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    _write_file(tmp, b"".join(k + b"\n" for k in keys))
    os.replace(tmp, path)


def _write_file(path: Path, content: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def _missing_key(path: Path, names: str = "") -> str:
    who = f" ({names})" if names else ""
    return (
        f"the catalog holds two-factor secrets{who} sealed with a key, but {path} is "
        f"missing: put back {path.name} from the old data folder or from beside the backup "
        f"(hearth-<time>.{path.name}), or turn two-factor sign-in off for those people with "
        "`mediaserver user two-factor-off NAME` (they sign in with their password and set "
        "it up again)"
    )


def _wrong_key(path: Path, names: str = "") -> str:
    who = f" of {names}" if names else ""
    return (
        f"{path} does not open the two-factor secrets{who} (a key from another data "
        f"folder?): put back the {path.name} this catalog was sealed with, or turn "
        "two-factor sign-in off for those people with `mediaserver user two-factor-off NAME`"
    )
