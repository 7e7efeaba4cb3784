"""What /health reports, from a real catalog on a real disk (a full disk: test_disk_full.py)."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mediaserver.db import Database
from mediaserver.health import HealthCheck
from mediaserver.testing import open_catalog


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` immutable (chattr +i: even root cannot write it) while the block runs."""
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)  # noqa: S603
    if made.returncode != 0:
        pytest.skip(f"cannot make a file immutable here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)  # noqa: S603


def _save(db: Database, value: str) -> None:
    db.write(lambda conn: conn.execute("INSERT INTO settings VALUES ('test', ?)", [value]))


def test_a_healthy_server_has_no_problems(tmp_path: Path, ffmpeg_binary: str) -> None:
    with open_catalog(tmp_path) as db:
        health = HealthCheck(db, tmp_path, ffmpeg_binary).check()
    assert health.ok and health.writable and health.db and health.ffmpeg
    assert health.problems == []


def test_a_failing_writer_is_reported_until_a_probe_succeeds(
    tmp_path: Path, ffmpeg_binary: str
) -> None:
    with open_catalog(tmp_path) as db:
        check = HealthCheck(db, tmp_path, ffmpeg_binary, probe_every_s=0)
        with unwritable(tmp_path / "catalog.sqlite3-wal"):
            with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
                _save(db, "1")
            health = check.check()
            assert not health.ok and not health.writable and health.db
            assert health.problems == [
                "saving to the catalog fails: the disk or the catalog file reports an error"
            ]
        recovered = check.check()  # its own small write finds that saving works again
        assert recovered.ok and recovered.writable, recovered.problems
        _save(db, "2")


def test_a_stopped_writer_and_a_missing_ffmpeg_are_problems(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        check = HealthCheck(db, tmp_path, str(tmp_path / "no-ffmpeg"))
        health = check.check()
        assert not health.ok and health.writable and not health.ffmpeg
        assert health.problems == [
            "ffmpeg cannot be found, so nothing can be converted for playing"
        ]
    stopped = check.check()  # open_catalog closed the catalog: no writer any more
    assert "saving to the catalog has stopped (its writer is not running)" in stopped.problems
    assert not stopped.writable
