"""The data folder on a real server: private from the first start, tightened when an older
Hearth left it loose; two-factor secrets sealed by the upgrade, and sign-in with a code
still working after it, and after a backup restored on a new machine."""

from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyotp

from mediaserver.testing import as_older_catalog, user_credentials
from tests.integration.conftest import run_hearth
from tests.integration.test_cli import PYTHON, cli_env, free_port, mediaserver

PASSWORD = "a long household password"
CLEAR = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TIGHTENED = "made the data folder private"


@contextmanager
def served(data: Path, media: Path, logs: Path, poll: Callable[..., Any]) -> Iterator[str]:
    """``mediaserver serve`` in its own process (the umask is the process's), until SIGTERM."""
    port = free_port()
    env = cli_env(data, media, {"MEDIASERVER_HOST": "127.0.0.1", "MEDIASERVER_PORT": str(port)})
    url = f"http://127.0.0.1:{port}"
    with logs.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            [PYTHON, "-m", "mediaserver", "serve"], env=env, stdout=out, stderr=out
        )
    try:

        def healthy() -> bool:
            assert process.poll() is None, logs.read_text()
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        poll(healthy, 30, "the server to answer /health", interval=0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(15)


def modes(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` (itself too) with its permissions, in octal."""
    return {
        p.relative_to(root).as_posix(): oct(stat.S_IMODE(p.lstat().st_mode))
        for p in [root, *root.rglob("*")]
        if not p.is_symlink()
    }


def catalog_before_23(data: Path) -> None:
    """A catalog in ``data`` as one before schema 23 held it: Ann's two-factor secret in
    clear (23 changes no table, only those values)."""
    user_credentials(data, "Ann", PASSWORD)
    conn = sqlite3.connect(data / "catalog.sqlite3")
    with conn:
        conn.execute("UPDATE users SET totp_secret = ? WHERE name = 'Ann'", [CLEAR])
    conn.close()
    as_older_catalog(data / "catalog.sqlite3", 22)


def test_the_data_folder_is_private_from_the_start_and_loose_ones_are_tightened(
    tmp_path: Path, poll: Callable[..., Any]
) -> None:
    data, media, logs = tmp_path / "data", tmp_path / "media", tmp_path / "output"
    media.mkdir()  # not the demo: an empty library keeps this quick
    with served(data, media, logs, poll):
        backup = mediaserver("backup", "--quiet", env=cli_env(data, media))
        assert backup.returncode == 0, backup.stderr
        seen = modes(data)
        loose = {name: mode for name, mode in seen.items() if mode not in ("0o700", "0o600")}
        assert loose == {}
        # While it runs: the journal, the keys, the lock, the backup and its key, caches.
        for name in ("catalog.sqlite3-wal", "catalog.sqlite3-shm", "secret.key", "totp.key",
                     "server.lock", "backups", "cache"):  # fmt: skip
            assert name in seen, sorted(seen)
        assert any(name.endswith(".totp.key") for name in seen)
    assert TIGHTENED not in logs.read_text()
    for path in [data, *data.rglob("*")]:  # as an older Hearth left it (umask 022)
        path.chmod(0o755 if path.is_dir() else 0o644)
    with served(data, media, logs, poll):
        assert set(modes(data).values()) <= {"0o700", "0o600"}, modes(data)
    said = [line for line in logs.read_text().splitlines() if TIGHTENED in line]
    assert len(said) == 1, said


def test_two_factor_survives_the_upgrade_a_backup_and_a_restore(tmp_path: Path) -> None:
    data, media = tmp_path / "data", tmp_path / "media"
    media.mkdir()
    catalog_before_23(data)
    code = pyotp.TOTP(CLEAR)
    ann = {"username": "Ann", "password": PASSWORD}
    with run_hearth(data, [media]) as url, httpx.Client(base_url=url, timeout=30) as client:
        taken = mediaserver("backup", "--quiet", env=cli_env(data, media))
        assert taken.returncode == 0, taken.stderr
        backup = Path(taken.stdout.split("backed up to ", 1)[1].split()[0])
        needed = client.post("/api/v1/auth/login", json=ann)
        assert needed.status_code == 401 and needed.json()["totp_required"] is True
        signed_in = client.post("/api/v1/auth/login", json={**ann, "totp": code.now()})
        assert signed_in.status_code == 200, signed_in.text
        live = b"".join(
            p.read_bytes() for p in data.glob("catalog.sqlite3*") if ".bak" not in p.name
        )
        assert CLEAR.encode() not in live
    # A new machine: the backup (and the key beside it) is all it gets.
    new = tmp_path / "new machine"
    restored = mediaserver("restore", str(backup), env=cli_env(new))
    assert restored.returncode == 0, restored.stderr
    with run_hearth(new, [media]) as url, httpx.Client(base_url=url, timeout=30) as client:
        signed_in = client.post("/api/v1/auth/login", json={**ann, "totp": code.now()})
        assert signed_in.status_code == 200, signed_in.text


def test_a_lost_key_is_one_clear_line_and_two_factor_off_is_the_way_out(tmp_path: Path) -> None:
    from mediaserver.db import Database

    data = tmp_path / "data"
    catalog_before_23(data)
    with Database(data / "catalog.sqlite3"):  # sealed, with a new totp.key
        pass
    (data / "totp.key").unlink()
    refused = mediaserver("serve", env=cli_env(data, extra={"MEDIASERVER_PORT": "1"}))
    assert refused.returncode == 1
    assert "(Ann)" in refused.stderr and "mediaserver user two-factor-off" in refused.stderr
    assert "Traceback" not in refused.stderr
    data.chmod(0o755)
    checked = mediaserver("doctor", env=cli_env(data))
    assert checked.returncode == 1
    assert "[FAIL] the catalog holds two-factor secrets (Ann)" in checked.stdout
    assert "[warn] other users can read the data folder (mode 755)" in checked.stdout
    off = mediaserver("user", "two-factor-off", "Ann", env=cli_env(data))
    assert off.returncode == 0 and "two-factor sign-in is off for Ann" in off.stdout, off.stderr
    conn = sqlite3.connect(data / "catalog.sqlite3")
    assert conn.execute("SELECT totp_secret FROM users WHERE name = 'Ann'").fetchone() == (None,)
    conn.close()
