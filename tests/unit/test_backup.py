"""Backups: online copies that are checked, pruning, restores that refuse bad files and a
running server and keep what they replace."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlite_utils

from mediaserver.backup import (
    BackupError,
    ServerRunning,
    hold_data_folder,
    list_backups,
    prune,
    restore,
    take_backup,
    verify,
)
from mediaserver.db import Database, schema
from mediaserver.testing import open_catalog


def _insert(title: str) -> Callable[[sqlite_utils.Database], object]:
    return lambda d: d.execute(
        "INSERT INTO items (library_id, kind, match_key, title, sort_title) "
        "VALUES (1, 'movie', ?, ?, ?)",
        [title, title, title],
    )


def _catalog(folder: Path, titles: list[str]) -> Path:
    with open_catalog(folder) as db:
        db.write(lambda d: d.execute("INSERT INTO libraries (name, path) VALUES ('L', '/m')"))
        for title in titles:
            db.write(_insert(title))
        return db.path


def _titles(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT title FROM items ORDER BY title")]


def test_a_backup_is_a_sound_copy_taken_while_writes_go_on(tmp_path: Path) -> None:
    database = _catalog(tmp_path / "data", ["Alpha"])
    config = tmp_path / "hearth.toml"
    config.write_text("[server]\nport = 8420\n", encoding="utf-8")
    steps: list[tuple[int, int]] = []
    with Database(database) as db:  # a live writer the whole time
        stop = threading.Event()

        def keep_writing() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                db.write(_insert(f"w{n}"))

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            path = take_backup(
                database,
                tmp_path / "backups",
                config_file=config,
                on_progress=lambda d, t: steps.append((d, t)),
            )
        finally:
            stop.set()
            writer.join()
    assert path.name.startswith("hearth-") and path.suffix == ".sqlite3"
    assert verify(path) == schema.SCHEMA_VERSION
    assert "Alpha" in _titles(path)
    assert steps and steps[-1][0] == steps[-1][1]  # the bar reaches the end
    assert path.with_suffix(".toml").read_text(encoding="utf-8") == config.read_text(
        encoding="utf-8"
    )
    assert not list((tmp_path / "backups").glob("*.part"))


def test_only_the_newest_backups_are_kept(tmp_path: Path) -> None:
    database = _catalog(tmp_path / "data", ["Alpha"])
    made = [take_backup(database, tmp_path / "b") for _ in range(4)]
    assert [b.path for b in list_backups(tmp_path / "b")] == sorted(made, reverse=True)
    gone = prune(tmp_path / "b", keep=2)
    assert sorted(gone) == sorted(made)[:2]
    assert [b.path for b in list_backups(tmp_path / "b")] == sorted(made, reverse=True)[:2]


def test_a_restore_brings_the_old_catalog_back_and_keeps_the_replaced_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = _catalog(data, ["Alpha"])
    backup = take_backup(database, tmp_path / "b")
    with Database(database) as db:
        db.write(_insert("Beta"))
    kept = restore(backup, database, data)
    assert _titles(database) == ["Alpha"]
    assert kept is not None and _titles(kept) == ["Alpha", "Beta"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "newer", "not-ours"])
def test_a_bad_backup_is_refused_and_the_catalog_is_untouched(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    database = _catalog(data, ["Alpha"])
    bad = tmp_path / "bad.sqlite3"
    if damage == "garbage":
        bad.write_bytes(b"this is not a database" * 100)
    elif damage == "truncated":
        good = take_backup(database, tmp_path / "b")
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif damage == "newer":
        bad.write_bytes(take_backup(database, tmp_path / "b").read_bytes())
        with sqlite3.connect(bad) as conn:
            conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    else:
        with sqlite3.connect(bad) as conn:
            conn.execute("CREATE TABLE notes (x)")
            conn.execute("PRAGMA user_version = 3")
    before = database.read_bytes()
    with pytest.raises(BackupError):
        restore(bad, database, data)
    assert database.read_bytes() == before


def test_a_restore_refuses_while_a_server_holds_the_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = _catalog(data, ["Alpha"])
    backup = take_backup(database, tmp_path / "b")
    with hold_data_folder(data):
        with pytest.raises(ServerRunning, match="stop it first"):
            restore(backup, database, data)
        with pytest.raises(ServerRunning), hold_data_folder(data):  # nor a second server
            pass
    assert restore(backup, database, data) is not None  # once it is free
