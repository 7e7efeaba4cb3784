"""The keyframe index: read once in a worker, stored with the file, relative to the stream start."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mediaserver.db import schema
from mediaserver.streaming.keyframes import (
    KeyframeError,
    KeyframeIndex,
    pack,
    read_keyframes,
    unpack,
)
from mediaserver.testing import make_clip, open_catalog, scan_folder


def _clip(target: Path, ffmpeg_binary: str, **output: object) -> Path:
    """9 s with a keyframe exactly every 2 s (25 fps, GOP 50, no scene cuts)."""
    gop = {"g": 50, "keyint_min": 50, "sc_threshold": 0, **output}
    return make_clip(
        target, seconds=9, size="160x90", audio=False, output=gop, ffmpeg=ffmpeg_binary
    )


def test_keyframes_every_two_seconds(tmp_path: Path, ffmpeg_binary: str) -> None:
    clip = _clip(tmp_path / "gop.mp4", ffmpeg_binary)
    assert read_keyframes(str(clip)) == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_keyframes_are_relative_to_a_stream_that_does_not_start_at_zero(
    tmp_path: Path, ffmpeg_binary: str
) -> None:
    clip = _clip(tmp_path / "late.ts", ffmpeg_binary, output_ts_offset=10)
    assert read_keyframes(str(clip)) == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_pack_round_trip() -> None:
    times = [0.0, 2.002, 4.004, 8.341]
    assert unpack(pack(times)) == times and len(pack(times)) == 32


def test_the_index_is_computed_once_and_kept(tmp_path: Path, ffmpeg_binary: str) -> None:
    root = tmp_path / "media"
    _clip(root / "Movies/Gop (2001)/Gop.2001.mp4", ffmpeg_binary)
    (root / "Movies/Broken.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 4000)
    with open_catalog(tmp_path / "data") as db:
        scan_folder(db, root, ffmpeg=ffmpeg_binary)
        assert db.schema_version == schema.SCHEMA_VERSION
        (good,) = db.query("SELECT id FROM files WHERE probe_error IS NULL")
        (bad,) = db.query("SELECT id FROM files WHERE probe_error IS NOT NULL")
        index = KeyframeIndex(db, timeout_s=30)
        try:
            assert index.get(good["id"]) == [0.0, 2.0, 4.0, 6.0, 8.0]
            stored = db.query_one("SELECT keyframes FROM files WHERE id = ?", [good["id"]])
            assert stored is not None and unpack(stored["keyframes"]) == [0.0, 2.0, 4.0, 6.0, 8.0]
            db.write(
                lambda d: d.execute(
                    "UPDATE files SET path = '/gone.mp4' WHERE id = ?", [good["id"]]
                )
            )
            assert index.get(good["id"])[-1] == 8.0  # from the catalog: the file is not read again
            with pytest.raises(KeyframeError):
                index.get(bad["id"])
            with pytest.raises(KeyError):
                index.get(999_999)
        finally:
            index.close()


def test_a_version_1_catalog_is_migrated_with_a_backup_and_keeps_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediaserver.db import Database

    path = tmp_path / "catalog.sqlite3"
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        patch.setattr(schema, "SCHEMA_VERSION", 1)
        with Database(path) as old:
            old.write(
                lambda d: d.execute(
                    "INSERT INTO libraries (name, path) VALUES ('Films', '/srv/films')"
                )
            )
            assert old.schema_version == 1
    with Database(path) as db:
        assert db.schema_version == schema.SCHEMA_VERSION == len(schema.MIGRATIONS)
        tables = {
            r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        assert {"users", "credentials"} <= tables  # every later migration ran too
        assert [r["name"] for r in db.query("SELECT name FROM libraries")] == ["Films"]
        assert "keyframes" in {r["name"] for r in db.query("PRAGMA table_info(files)")}
        assert db.integrity_check() == ["ok"]
    backup = sqlite3.connect(f"file:{tmp_path / 'catalog.sqlite3.v1.bak'}?mode=ro", uri=True)
    try:  # the copy taken before migrating is the complete version-1 catalog
        assert backup.execute("PRAGMA user_version").fetchone()[0] == 1
        assert backup.execute("SELECT name FROM libraries").fetchall() == [("Films",)]
    finally:
        backup.close()
