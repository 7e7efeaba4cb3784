"""Database: migrations, the single writer under contention, transactions, FTS search."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from mediaserver.db import Database, DatabaseError, schema
from mediaserver.library import catalog, queries
from mediaserver.testing import open_catalog

TABLES = {
    "libraries",
    "items",
    "item_genres",
    "item_people",
    "collection_items",
    "files",
    "streams",
    "scan_problems",
    "scans",
    "items_fts",
}


def _user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _make_table(db: Database) -> None:
    db.write(lambda d: d.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL)"))


def test_migrations_create_the_schema_and_set_user_version(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        assert db.schema_version == schema.SCHEMA_VERSION == len(schema.MIGRATIONS)
        names = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert names >= TABLES
        assert db.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    assert _user_version(tmp_path / "catalog.sqlite3") == schema.SCHEMA_VERSION
    # A fresh file has nothing worth backing up.
    assert list(tmp_path.glob("*.bak")) == []
    # Opening again is a no-op migration.
    with open_catalog(tmp_path) as db:
        assert db.schema_version == schema.SCHEMA_VERSION


def test_a_catalog_from_a_newer_hearth_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    newer = schema.SCHEMA_VERSION + 1
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {newer}")
    conn.close()
    db = Database(path)
    with pytest.raises(DatabaseError) as info:
        db.open()
    message = str(info.value)
    assert str(path) in message
    assert f"schema version {newer}" in message
    assert "newer" in message and "upgrade Hearth" in message
    # Nothing was migrated, and the database did not start a writer.
    assert _user_version(path) == newer
    with pytest.raises(DatabaseError, match="not open"):
        db.write(lambda d: None)


def test_migrating_an_existing_catalog_backs_it_up_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_catalog(tmp_path) as db:
        db.write(lambda d: catalog.ensure_library(d, "Films", Path("/media/films")))
    old = schema.SCHEMA_VERSION

    def add_ratings(d: sqlite_utils.Database) -> None:
        d.execute("CREATE TABLE ratings (item_id INTEGER, stars INTEGER)")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, add_ratings))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 1)
    with open_catalog(tmp_path) as db:
        assert db.schema_version == old + 1
        assert db.query("SELECT count(*) FROM ratings")[0][0] == 0
        assert [r["name"] for r in db.query("SELECT name FROM libraries")] == ["Films"]
    backup = tmp_path / f"catalog.sqlite3.v{old}.bak"
    assert backup.is_file()
    assert _user_version(backup) == old
    conn = sqlite3.connect(backup)
    try:
        assert conn.execute("SELECT name FROM libraries").fetchall() == [("Films",)]
        assert (
            conn.execute("SELECT name FROM sqlite_master WHERE name = 'ratings'").fetchall() == []
        )
    finally:
        conn.close()


def test_a_failing_migration_leaves_the_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_catalog(tmp_path):
        pass
    old = schema.SCHEMA_VERSION

    def broken(d: sqlite_utils.Database) -> None:
        d.execute("CREATE TABLE half (x)")
        d.execute("THIS IS NOT SQL")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", old + 1)
    with pytest.raises(DatabaseError, match="syntax error"):
        Database(tmp_path / "catalog.sqlite3").open()
    assert _user_version(tmp_path / "catalog.sqlite3") == old
    conn = sqlite3.connect(tmp_path / "catalog.sqlite3")
    try:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchall() == []
    finally:
        conn.close()
    assert (tmp_path / f"catalog.sqlite3.v{old}.bak").is_file()


def test_copies_of_a_childs_poster_are_dropped_and_own_art_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 14: a show, season or collection no longer keeps a child's poster."""
    path = tmp_path / "catalog.sqlite3"
    rows = [  # id, kind, parent, poster
        (1, "show", None, "cache:e1.jpg"),  # its first episode's, through its season
        (2, "season", 1, "cache:e1.jpg"),
        (3, "episode", 2, "cache:e1.jpg"),
        (4, "season", 1, "file:/tv/Show/season02-poster.jpg"),  # its own
        (5, "episode", 4, "cache:e2.jpg"),
        (6, "show", None, "file:/tv/Other/poster.jpg"),  # its own
        (7, "movie", None, "cache:m.jpg"),
        (8, "collection", None, "cache:m.jpg"),
    ]
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:13])
        patch.setattr(schema, "SCHEMA_VERSION", 13)
        with Database(path) as old:

            def fill(d: sqlite_utils.Database) -> None:
                d.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'TV', '/tv')")
                d.conn.executemany(
                    "INSERT INTO items (id, library_id, kind, parent_id, poster, match_key, title,"
                    " sort_title) VALUES (?, 1, ?, ?, ?, ?, 'x', 'x')",
                    [(*r, f"k{r[0]}") for r in rows],
                )
                d.execute("INSERT INTO collection_items VALUES (8, 7)")

            old.write(fill)
    with Database(path) as db:
        posters = {r["id"]: r["poster"] for r in db.query("SELECT id, poster FROM items")}
    assert posters == {
        1: None,
        2: None,
        3: "cache:e1.jpg",
        4: "file:/tv/Show/season02-poster.jpg",
        5: "cache:e2.jpg",
        6: "file:/tv/Other/poster.jpg",
        7: "cache:m.jpg",
        8: None,
    }


def test_concurrent_writers_and_readers_never_see_locked(tmp_path: Path) -> None:
    writers, per_writer = 8, 200
    errors: list[BaseException] = []
    counts: list[list[int]] = [[], [], []]
    done = threading.Event()
    with open_catalog(tmp_path) as db:
        _make_table(db)

        def write_rows(w: int) -> None:
            try:
                for i in range(per_writer):

                    def insert(d: sqlite_utils.Database, i: int = i) -> None:
                        d.execute("INSERT INTO t VALUES (?, ?)", [f"{w}-{i}", i])

                    db.write(insert)
            except BaseException as exc:
                errors.append(exc)

        def read_rows(seen: list[int]) -> None:
            try:
                while not done.is_set():
                    seen.append(db.query("SELECT count(*) FROM t")[0][0])
                    db.query("SELECT * FROM t ORDER BY n DESC LIMIT 5")
            except BaseException as exc:
                errors.append(exc)

        readers = [threading.Thread(target=read_rows, args=(seen,)) for seen in counts]
        threads = [threading.Thread(target=write_rows, args=(w,)) for w in range(writers)]
        for t in [*readers, *threads]:
            t.start()
        for t in threads:
            t.join(timeout=60)
        done.set()
        for t in readers:
            t.join(timeout=10)
        assert errors == []
        assert db.query("SELECT count(*) FROM t")[0][0] == writers * per_writer
        assert db.query("SELECT count(DISTINCT k) FROM t")[0][0] == writers * per_writer
        for seen in counts:
            assert seen, "a reader never ran"
            assert seen == sorted(seen)  # a reader's view only ever grows
            assert seen[-1] <= writers * per_writer
        # The readers ran while the writes were landing, not only before or after them.
        assert any(0 < n < writers * per_writer for seen in counts for n in seen)
        assert db.write_queue_depth == 0


def test_an_exception_rolls_back_only_its_own_transaction(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        _make_table(db)
        db.write(lambda d: d.execute("INSERT INTO t VALUES ('kept', 1)"))

        def half_done(d: sqlite_utils.Database) -> None:
            d.execute("INSERT INTO t VALUES ('lost', 2)")
            d.execute("UPDATE t SET n = 99 WHERE k = 'kept'")
            raise ValueError("changed my mind")

        with pytest.raises(ValueError, match="changed my mind"):
            db.write(half_done)
        assert [tuple(r) for r in db.query("SELECT k, n FROM t")] == [("kept", 1)]
        # The writer thread survived and the next transaction commits.
        assert db.write(lambda d: d.execute("INSERT INTO t VALUES ('after', 3)").rowcount) == 1
        assert [r[0] for r in db.query("SELECT k FROM t ORDER BY n")] == ["kept", "after"]


def test_write_inside_write_is_refused(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db, pytest.raises(DatabaseError, match="inside a write"):
        db.write(lambda d: db.write(lambda inner: None))
    with pytest.raises(DatabaseError, match="not open"):
        db.write(lambda d: None)


def test_awrite_from_asyncio(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        _make_table(db)
        ticks: list[int] = []

        async def ticker() -> None:
            for n in range(3):
                ticks.append(n)
                await asyncio.sleep(0)

        def slow_insert(d: sqlite_utils.Database) -> int:
            d.execute("INSERT INTO t VALUES ('async', 7)")
            return 7

        async def main() -> list[int]:
            results = await asyncio.gather(db.awrite(slow_insert), db.awrite(lambda d: 8), ticker())
            with pytest.raises(ValueError):
                await db.awrite(lambda d: int("not a number"))
            return [r for r in results if r is not None]

        assert asyncio.run(main()) == [7, 8]
        assert ticks == [0, 1, 2]
        assert db.query("SELECT n FROM t WHERE k = 'async'")[0][0] == 7


def test_reads_see_committed_writes(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        _make_table(db)
        assert db.query("SELECT count(*) FROM t")[0][0] == 0  # this thread's reader is open now
        db.write(lambda d: d.execute("INSERT INTO t VALUES ('a', 1)"))
        assert db.query("SELECT count(*) FROM t")[0][0] == 1
        seen: list[int] = []
        reader = threading.Thread(
            target=lambda: seen.append(db.query("SELECT n FROM t WHERE k = 'a'")[0][0])
        )
        reader.start()
        reader.join(timeout=10)
        assert seen == [1]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.read().execute("INSERT INTO t VALUES ('b', 2)")


def test_integrity_check(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        assert db.integrity_check() == ["ok"]


def _add_movie(d: sqlite_utils.Database, library_id: int, title: str, year: int) -> int:
    values = {"library_id": library_id, "kind": "movie", "match_key": f"movie:{title}"}
    values |= {"title": title, "sort_title": catalog.sort_title(title), "year": year}
    return int(
        d.execute(
            f"INSERT INTO items ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        ).lastrowid
        or 0
    )


def test_fts_finds_titles_by_prefix(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:

        def seed(d: sqlite_utils.Database) -> dict[str, int]:
            lib = catalog.ensure_library(d, "Films", Path("/media/films"))
            return {
                t: _add_movie(d, lib, t, y)
                for t, y in [
                    ("The Grand Budapest Hotel", 2014),
                    ("Amélie", 2001),
                    ("Hotel Rwanda", 2004),
                ]
            }

        ids = db.write(seed)

        def titles(q: str) -> list[str]:
            items, total = queries.list_items(db, queries.ItemQuery(q=q))
            assert total == len(items)
            return sorted(i["title"] for i in items)

        assert titles("budap") == ["The Grand Budapest Hotel"]
        assert titles("grand hot") == ["The Grand Budapest Hotel"]
        assert titles("hotel") == ["Hotel Rwanda", "The Grand Budapest Hotel"]
        assert titles("ame") == ["Amélie"]  # diacritics are folded
        assert titles("zebra") == []
        assert titles("  ?! ") == []  # no words at all
        items, _ = queries.list_items(db, queries.ItemQuery(q="rwan"))
        assert items[0]["id"] == ids["Hotel Rwanda"] and items[0]["year"] == 2004
        # The FTS index follows updates made through the catalog.
        db.write(
            lambda d: d.execute(
                "UPDATE items SET title = 'Le Fabuleux Destin' WHERE id = ?", [ids["Amélie"]]
            )
        )
        assert titles("fabul") == ["Le Fabuleux Destin"]
        assert titles("ame") == []


def test_a_durable_write_commits_with_full_sync_and_others_do_not(tmp_path: Path) -> None:
    def level(db: sqlite_utils.Database) -> int:
        return int(db.execute("PRAGMA synchronous").fetchone()[0])

    with open_catalog(tmp_path) as db:
        assert db.write(level) == 1  # NORMAL: safe against a crash of the process
        assert db.write(level, durable=True) == 2  # FULL: the WAL reaches the disk first
        assert db.write(level) == 1  # and back


def test_a_write_outside_the_catalog_keeps_the_memo(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        calls: list[int] = []

        def compute() -> int:
            calls.append(1)
            return len(calls)

        def remembered() -> int:
            return db.memo("k", compute)

        assert remembered() == 1
        db.write(lambda d: d.execute("SELECT 1"), catalog=False)
        assert remembered() == 1  # no recomputation
        db.write(lambda d: d.execute("SELECT 1"))
        assert remembered() == 2


def test_waiting_writes_commit_together_and_a_failing_one_undoes_only_itself(
    tmp_path: Path,
) -> None:
    import time

    with open_catalog(tmp_path) as db:
        db.write(lambda d: d.execute("CREATE TABLE t (n INTEGER)"))
        commits: list[float] = []
        db.write_latency_observer = commits.append
        holding = db.submit(lambda d: time.sleep(0.3))  # the writer is busy meanwhile

        def insert(n: int) -> Any:
            def job(d: sqlite_utils.Database) -> int:
                d.execute("INSERT INTO t VALUES (?)", [n])
                if n == 10:
                    raise ValueError("job 10 fails")
                return n

            return job

        futures = [db.submit(insert(n)) for n in range(50)]
        holding.result()
        results = []
        for future in futures:
            try:
                results.append(future.result(timeout=10))
            except ValueError as exc:
                results.append(str(exc))
        assert results == [*range(10), "job 10 fails", *range(11, 50)]
        stored = sorted(r[0] for r in db.query("SELECT n FROM t"))
        assert stored == [n for n in range(50) if n != 10]
        assert len(commits) <= 3  # one for the sleeper, one or two for the fifty
