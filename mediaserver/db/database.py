"""The one class that owns the SQLite catalog file.

Every write runs on a single writer thread, one transaction per call, so "database is
locked" can never reach a caller; reads use one connection per thread (WAL lets them run
beside the writer).  Nothing here is opened at import time.
"""

from __future__ import annotations

import asyncio
import errno
import queue
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from mediaserver.db import schema
from mediaserver.db.memo import Memo
from mediaserver.db.search_index import register_functions

__all__ = ["Database", "DatabaseError", "is_disk_full", "is_storage_failure"]

T = TypeVar("T")
_STOP = object()
_MAX_BATCH = 64  # writes committed together at most: a batch stays a short transaction
# SQLite's primary result codes that mean the file or its disk fails, not the write's SQL:
# IOERR, CORRUPT, FULL, CANTOPEN, READONLY, NOTADB.
_STORAGE_CODES = frozenset({10, 11, 13, 14, 8, 26})
_SQLITE_FULL = 13


def is_disk_full(exc: BaseException) -> bool:
    """The disk (or the user's quota) has no room for what was being written."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) is not None:
        return exc.sqlite_errorcode & 0xFF == _SQLITE_FULL
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def is_storage_failure(exc: BaseException) -> bool:
    """The catalog's file or disk failed (full, I/O error, read-only), not the write itself."""
    if isinstance(exc, OSError) or is_disk_full(exc):
        return True
    code = getattr(exc, "sqlite_errorcode", None) if isinstance(exc, sqlite3.Error) else None
    return code is not None and code & 0xFF in _STORAGE_CODES


class _ThreadReader:
    """One thread's read connection, closed when the thread ends and its locals go."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.db = sqlite_utils.Database(conn)

    def __del__(self) -> None:
        self.conn.close()


class DatabaseError(Exception):
    """The catalog cannot be opened or migrated; the message says why."""


class Database:
    """SQLite catalog: ``read()`` for queries, ``write(fn)`` for changes."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 10_000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        # Each thread's reader, closed when that thread ends: worker threads come and go
        # (anyio's stop after 10 s idle), and readers kept for gone threads held their
        # page cache (up to 2 MB each) and file handles for good.
        self._readers: weakref.WeakSet[_ThreadReader] = weakref.WeakSet()
        self._readers_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self.write_latency_observer: Callable[[float], None] | None = None
        # Bumped after every committed write: anything derived from the catalog and
        # remembered under the old number is stale.
        self.generation = 0
        self._memo = Memo()
        # Why writes fail (a full disk, an I/O error), until one succeeds again: /health.
        self.write_failure: BaseException | None = None

    # -- life cycle -------------------------------------------------------------------
    def open(self) -> None:
        """Create or migrate the file, then start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            schema.check_version(self.path)  # before WAL: a refused file stays untouched
            conn = self._connect()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path}: {exc}") from exc
        try:
            schema.migrate(conn, self.path)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise DatabaseError(f"{self.path}: {exc}") from exc
            raise
        self._writer = threading.Thread(
            target=self._write_loop, args=(conn,), name="db-writer", daemon=True
        )
        self._writer.start()

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(_STOP)
            self._writer.join(timeout=30)
            self._writer = None
        with self._readers_lock:
            for reader in list(self._readers):
                reader.conn.close()
            self._readers.clear()
        self._local = threading.local()

    def __enter__(self) -> Database:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        register_functions(conn)  # the search triggers fold titles with it
        if readonly:
            conn.execute("PRAGMA query_only = ON")
        return conn

    # -- reads ------------------------------------------------------------------------
    def read(self) -> sqlite_utils.Database:
        """This thread's read-only connection, wrapped by sqlite-utils."""
        reader: _ThreadReader | None = getattr(self._local, "reader", None)
        if reader is None:
            reader = _ThreadReader(self._connect(readonly=True))
            with self._readers_lock:
                self._readers.add(reader)
            self._local.reader = reader
        return reader.db

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return list(self.read().execute(sql, params).fetchall())

    def query_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.read().execute(sql, params).fetchone()
        return row

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """``compute()``, remembered until the next write (for counts and similar aggregates);
        bounded in count and bytes (:mod:`~mediaserver.db.memo`)."""
        return self._memo.get(key, self.generation, compute)

    # -- writes -----------------------------------------------------------------------
    def write(
        self,
        fn: Callable[[sqlite_utils.Database], T],
        *,
        catalog: bool = True,
        durable: bool = False,
    ) -> T:
        """Run ``fn`` on the writer thread inside one transaction; return its result.

        ``catalog=False`` for writes that change nothing :meth:`memo` remembers (viewing
        progress, a few a second in a busy house): they leave the memo standing.
        ``durable=True`` commits with ``synchronous = FULL``: the WAL is on the disk, not
        only in the OS cache, before this returns, so the write outlives a power cut too.
        Everything else keeps ``NORMAL`` (safe against a crash of the process, which is
        what a scan's thousands of small writes need, fast on an SD card too).
        """
        if self._writer is None:
            raise DatabaseError("the database is not open")
        if threading.current_thread() is self._writer:
            raise DatabaseError("write() called from inside a write")
        future: Future[T] = Future()
        self._queue.put((fn, future, catalog, durable))
        return future.result()

    def submit(
        self, fn: Callable[[sqlite_utils.Database], T], *, catalog: bool = True
    ) -> Future[T]:
        """Queue ``fn`` for the writer without waiting (bookkeeping such as "last used")."""
        if self._writer is None:
            raise DatabaseError("the database is not open")
        future: Future[T] = Future()
        self._queue.put((fn, future, catalog, False))
        return future

    async def awrite(
        self,
        fn: Callable[[sqlite_utils.Database], T],
        *,
        catalog: bool = True,
        durable: bool = False,
    ) -> T:
        """``write`` for async callers: waits without blocking the event loop."""
        if self._writer is None:
            raise DatabaseError("the database is not open")
        future: Future[T] = Future()
        self._queue.put((fn, future, catalog, durable))
        return await asyncio.wrap_future(future)

    @property
    def write_queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def writer_alive(self) -> bool:
        return self._writer is not None and self._writer.is_alive()

    def probe_write(self, *, timeout_s: float = 2.0) -> None:
        """One small real write (a row in ``settings``), to learn whether writes work again
        after a failure; raises what the write raised, or TimeoutError."""

        def touch(db: sqlite_utils.Database) -> None:
            db.execute(
                "INSERT INTO settings (name, value) VALUES ('write_probe', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [str(time.time())],
            )

        self.submit(touch, catalog=False).result(timeout=timeout_s)

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        """Run queued writes; what is waiting when one starts goes in the same transaction.

        Group commit: each job runs in its own savepoint (a job that raises undoes only
        itself), the batch commits once, and every caller learns its result only after
        that commit, so a "done" is never a write that could still be rolled back.  Under
        load this turns a commit (and, for durable writes, an fsync) per write into one
        per batch; alone, a write is a batch of one.
        """
        db = sqlite_utils.Database(conn)
        stopping = False
        try:
            while not stopping:
                batch: list[Any] = [self._queue.get()]
                while len(batch) < _MAX_BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if _STOP in batch:
                    stopping = True
                    batch = [job for job in batch if job is not _STOP]
                jobs = [job for job in batch if job[1].set_running_or_notify_cancel()]
                if jobs:
                    self._run_batch(conn, db, jobs)
        finally:
            conn.execute("PRAGMA optimize")
            conn.close()

    def _run_batch(
        self, conn: sqlite3.Connection, db: sqlite_utils.Database, jobs: list[Any]
    ) -> None:
        started = time.perf_counter()
        durable = any(job[3] for job in jobs)
        if durable:
            conn.execute("PRAGMA synchronous = FULL")
        outcomes: list[tuple[bool, Any]] = []
        try:
            with _transaction(conn):
                for fn, _, _, _ in jobs:
                    conn.execute("SAVEPOINT job")
                    try:
                        outcomes.append((True, fn(db)))
                    except BaseException as exc:  # this job only: the others stand
                        conn.execute("ROLLBACK TO job")
                        outcomes.append((False, exc))
                    conn.execute("RELEASE job")
        except BaseException as exc:  # the commit itself failed: nothing of it is there
            self._note_outcome([(False, exc)])
            for _, future, _, _ in jobs:
                future.set_exception(exc)
        else:
            self._note_outcome(outcomes)
            if any(ok and job[2] for job, (ok, _) in zip(jobs, outcomes, strict=True)):
                self.generation += 1  # before any caller can read its own write
            for (_, future, _, _), (ok, value) in zip(jobs, outcomes, strict=True):
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        finally:
            if durable:
                conn.execute("PRAGMA synchronous = NORMAL")
        if self.write_latency_observer is not None:
            self.write_latency_observer(time.perf_counter() - started)

    def _note_outcome(self, outcomes: list[tuple[bool, Any]]) -> None:
        """Remember a storage failure until a write succeeds (for /health)."""
        if any(ok for ok, _ in outcomes):
            self.write_failure = None
            return
        failed = [value for ok, value in outcomes if not ok and is_storage_failure(value)]
        if failed:
            self.write_failure = failed[-1]

    # -- maintenance ------------------------------------------------------------------
    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check`` lines; ``["ok"]`` when the file is sound."""
        return [row[0] for row in self.query("PRAGMA integrity_check")]

    @property
    def schema_version(self) -> int:
        row = self.query_one("PRAGMA user_version")
        return int(row[0]) if row else 0


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
