"""Two-factor secrets sealed at rest (migration 23, ``db/sealing.py``), through backups and
restores, and the data folder's permissions (``data_folder.py``), on real catalogs."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest

from mediaserver.accounts.auth import AuthService
from mediaserver.accounts.totp import TwoFactor
from mediaserver.accounts.users import UserService
from mediaserver.backup import BackupError, key_of, restore, take_backup
from mediaserver.data_folder import tighten
from mediaserver.db import Database, DatabaseError
from mediaserver.db.sealing import KEY_FILE, SealingError, load_sealer, read_keys
from mediaserver.testing import as_older_catalog

PASSWORD = "a long household password"
CLEAR = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # what a catalog before 23 held in clear
PENDING = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"


def raw_catalog(data: Path) -> bytes:
    """Every byte SQLite keeps for the catalog: the file and its journal (not the copy
    taken before a migration, which the docs tell people to delete)."""
    return b"".join(p.read_bytes() for p in data.glob("catalog.sqlite3*") if ".bak" not in p.name)


def sign_in(db: Database, name: str, secret: str) -> bool:
    auth = AuthService(db, UserService(db), b"k" * 32)
    user = auth.users.by_name(name)
    assert user is not None
    return auth.two_factor.check(user.id, pyotp.TOTP(secret).now())


@pytest.fixture
def before_23(tmp_path: Path) -> Iterator[Path]:
    """A data folder whose catalog is at version 22: Ann with two-factor on, Ben setting it
    up, both secrets in clear as Hearth kept them until now."""
    data = tmp_path / "data"
    with Database(data / "catalog.sqlite3") as db:
        users = UserService(db)
        ann, ben = users.create("Ann", PASSWORD), users.create("Ben", PASSWORD)
        db.write(
            lambda d: d.execute("UPDATE users SET totp_secret = ? WHERE id = ?", [CLEAR, ann.id])
        )
        db.write(
            lambda d: d.execute("UPDATE users SET totp_pending = ? WHERE id = ?", [PENDING, ben.id])
        )
    as_older_catalog(data / "catalog.sqlite3", 22)
    assert CLEAR.encode() in raw_catalog(data)
    yield data


def test_migration_23_seals_clear_secrets_and_sign_in_still_works(before_23: Path) -> None:
    with Database(before_23 / "catalog.sqlite3") as db:
        raw = raw_catalog(before_23)  # while it runs: not waiting in the file for a checkpoint
        assert CLEAR.encode() not in raw and PENDING.encode() not in raw
        rows = db.query("SELECT name, totp_secret, totp_pending FROM users ORDER BY name")
        assert rows[0]["totp_secret"].startswith("fernet:")
        assert rows[1]["totp_pending"].startswith("fernet:")
        assert sign_in(db, "Ann", CLEAR)
        assert TwoFactor(db, b"k" * 32).pending_secret(2) == PENDING
    assert (before_23 / KEY_FILE).stat().st_mode & 0o777 == 0o600
    raw = raw_catalog(before_23)
    assert CLEAR.encode() not in raw and PENDING.encode() not in raw  # not even in free space


def test_a_secret_already_sealed_is_not_sealed_again(before_23: Path) -> None:
    sealed = load_sealer(before_23).seal(CLEAR)
    assert load_sealer(before_23).seal(sealed) == sealed
    conn = sqlite3.connect(before_23 / "catalog.sqlite3")
    with conn:
        conn.execute("UPDATE users SET totp_secret = ? WHERE name = 'Ann'", [sealed])
    conn.close()
    with Database(before_23 / "catalog.sqlite3") as db:
        row = db.query_one("SELECT totp_secret FROM users WHERE name = 'Ann'")
        assert row is not None and row["totp_secret"] == sealed
        assert sign_in(db, "Ann", CLEAR)


def test_new_secrets_are_sealed_from_the_first_step(tmp_path: Path) -> None:
    with Database(tmp_path / "catalog.sqlite3") as db:
        user = UserService(db).create("Cat", PASSWORD)
        two_factor = TwoFactor(db, b"k" * 32)
        secret = two_factor.enrol(user.id, user.name)["secret"]
        assert two_factor.confirm(user.id, pyotp.TOTP(secret).now())
        row = db.query_one("SELECT totp_secret FROM users WHERE id = ?", [user.id])
        assert row is not None and two_factor.sealer.open(row["totp_secret"]) == secret
    assert secret.encode() not in raw_catalog(tmp_path)


def test_a_lost_key_stops_the_start_with_what_to_do(before_23: Path) -> None:
    with Database(before_23 / "catalog.sqlite3") as db:
        pass  # migrated: the secrets are sealed
    (before_23 / KEY_FILE).unlink()
    with Database(before_23 / "catalog.sqlite3") as db:
        with pytest.raises(SealingError, match=r"\(Ann, Ben\).*totp\.key is missing.*put back"):
            TwoFactor(db, b"").check_key()
        assert not (before_23 / KEY_FILE).exists()  # no new key hiding the lost one
        for name in ("Ann", "Ben"):  # what `mediaserver user two-factor-off` does
            user = UserService(db).by_name(name)
            assert user is not None
            TwoFactor(db, b"").disable(user.id)
        TwoFactor(db, b"").check_key()  # nothing sealed is left: a new key is made
    assert read_keys(before_23 / KEY_FILE)


def test_a_key_from_elsewhere_is_refused_not_used(before_23: Path, tmp_path: Path) -> None:
    with Database(before_23 / "catalog.sqlite3"):
        pass
    other = tmp_path / "other"
    load_sealer(other)
    (before_23 / KEY_FILE).write_bytes((other / KEY_FILE).read_bytes())
    with (
        Database(before_23 / "catalog.sqlite3") as db,
        pytest.raises(SealingError, match="does not open the two-factor secrets of Ann"),
    ):
        TwoFactor(db, b"").check_key()


def test_a_migration_refuses_a_broken_key_file(before_23: Path) -> None:
    (before_23 / KEY_FILE).write_text("not a key\n")
    with pytest.raises(DatabaseError, match="not a Hearth key file"):
        Database(before_23 / "catalog.sqlite3").open()
    conn = sqlite3.connect(before_23 / "catalog.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 22  # nothing half-done
    conn.close()


def test_a_backup_carries_its_key_to_a_new_data_folder(before_23: Path, tmp_path: Path) -> None:
    with Database(before_23 / "catalog.sqlite3"):
        pass
    backup = take_backup(before_23 / "catalog.sqlite3", tmp_path / "backups")
    assert key_of(backup).read_bytes() == (before_23 / KEY_FILE).read_bytes()
    new = tmp_path / "new machine"
    restore(backup, new / "catalog.sqlite3", new)
    with Database(new / "catalog.sqlite3") as db:
        TwoFactor(db, b"").check_key()
        assert sign_in(db, "Ann", CLEAR)


def test_a_restore_keeps_both_keys_so_both_catalogs_open(before_23: Path, tmp_path: Path) -> None:
    with Database(before_23 / "catalog.sqlite3"):
        pass
    backup = take_backup(before_23 / "catalog.sqlite3", tmp_path / "backups")
    here = tmp_path / "here"
    with Database(here / "catalog.sqlite3") as db:  # a server with a two-factor user of its own
        user = UserService(db).create("Dan", PASSWORD)
        secret = TwoFactor(db, b"").enrol(user.id, user.name)["secret"]
        TwoFactor(db, b"").confirm(user.id, pyotp.TOTP(secret).now())
    kept = restore(backup, here / "catalog.sqlite3", here)
    assert kept is not None and len(read_keys(here / KEY_FILE)) == 2
    with Database(here / "catalog.sqlite3") as db:
        TwoFactor(db, b"").check_key()
        assert sign_in(db, "Ann", CLEAR)
    os.replace(kept, here / "catalog.sqlite3")  # and back again: Dan's secret still opens
    with Database(here / "catalog.sqlite3") as db:
        TwoFactor(db, b"").check_key()


def test_a_backup_without_its_key_is_refused_before_anything_changes(
    before_23: Path, tmp_path: Path
) -> None:
    with Database(before_23 / "catalog.sqlite3"):
        pass
    backup = take_backup(before_23 / "catalog.sqlite3", tmp_path / "backups")
    key_of(backup).unlink()
    new = tmp_path / "new machine"
    with pytest.raises(BackupError, match=r"hearth-.*\.totp\.key taken with it beside it"):
        restore(backup, new / "catalog.sqlite3", new)
    assert not (new / "catalog.sqlite3").exists() and not (new / KEY_FILE).exists()


def test_tighten_takes_other_users_bits_off_and_leaves_links(tmp_path: Path) -> None:
    data, media = tmp_path / "data", tmp_path / "media"
    (data / "cache" / "hls").mkdir(parents=True)
    media.mkdir(mode=0o755)
    media.chmod(0o755)
    for path in (data / "catalog.sqlite3", data / "cache" / "hls" / "0.m4s"):
        path.write_bytes(b"x")
        path.chmod(0o644)
    for folder in (data, data / "cache", data / "cache" / "hls"):
        folder.chmod(0o755)
    (data / "secret.key").write_bytes(b"k")
    (data / "secret.key").chmod(0o600)
    (data / "films").symlink_to(media)
    changed = tighten([data, data / "backups"])
    assert len(changed) == 5
    modes = {p.relative_to(data).as_posix(): stat.S_IMODE(p.lstat().st_mode)
             for p in [data, *data.rglob("*")] if not p.is_symlink()}  # fmt: skip
    assert modes == {
        ".": 0o700, "cache": 0o700, "cache/hls": 0o700, "cache/hls/0.m4s": 0o600,
        "catalog.sqlite3": 0o600, "secret.key": 0o600,
    }  # fmt: skip
    assert stat.S_IMODE(media.stat().st_mode) == 0o755  # a link is not followed
    assert tighten([data]) == []


def test_a_server_without_two_factor_users_never_loads_cryptography(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from pathlib import Path; from mediaserver.db import Database; "
        "from mediaserver.accounts.totp import TwoFactor; import mediaserver.context\n"
        f"with Database(Path({str(tmp_path)!r}) / 'catalog.sqlite3') as db:\n"
        "    TwoFactor(db, b'').check_key()\n"
        "print('cryptography' in sys.modules)"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"  # 4 MB of RSS saved
    assert len(read_keys(tmp_path / KEY_FILE)) == 1  # yet the key exists from the start
