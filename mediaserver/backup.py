"""Backups of the catalog (and the config), taken online; restores that check first.

A backup is SQLite's online backup API copying the live catalog page by page while the
server keeps serving (readers and the writer go on), into ``hearth-<UTC time>.sqlite3``
in the backup folder, next to a copy of the config file and of the key that opens its
two-factor secrets (``hearth-<time>.totp.key``, ``db/sealing.py``).  It is checked
(``integrity_check``) before it gets its final name, so a half-written file never looks
like a backup.  A restore refuses while a server holds the data folder, checks the file
(integrity, a schema this Hearth understands, a key that opens its two-factor secrets),
adds the backup's key to the data folder's, keeps the catalog it replaces, and swaps the
backup in with a rename, so a crash half-way leaves one catalog or the other.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from mediaserver.db.schema import SCHEMA_VERSION
from mediaserver.db.sealing import KEY_FILE, SealingError, add_keys, check_catalog, read_keys

__all__ = [
    "Backup",
    "BackupError",
    "ServerRunning",
    "hold_data_folder",
    "key_of",
    "list_backups",
    "prune",
    "restore",
    "take_backup",
    "verify",
]

Progress = Callable[[int, int], None]  # (pages copied, pages in all)
_LOCK_NAME = "server.lock"


class BackupError(Exception):
    """A backup cannot be taken or used; the message says why."""


class ServerRunning(BackupError):
    """A server is using this data folder."""


@dataclass(frozen=True, slots=True)
class Backup:
    path: Path
    size: int
    taken_at: str
    config: Path | None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.path.name, "size": self.size, "taken_at": self.taken_at,
                "config": self.config.name if self.config else None}  # fmt: skip


@contextlib.contextmanager
def hold_data_folder(data_dir: Path) -> Iterator[None]:
    """Held by a running server for its whole life; restore waits for no one."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = (data_dir / _LOCK_NAME).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ServerRunning(
                f"another Hearth server is using {data_dir}; stop it first"
            ) from None
        yield
    finally:
        handle.close()  # closing releases the lock, also when the process dies


def verify(path: Path) -> int:
    """The schema version of a sound catalog file; BackupError saying what is wrong."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path.name} is not a Hearth catalog: {exc}") from None
    if problems != ["ok"]:
        raise BackupError(f"{path.name} is damaged: {'; '.join(problems[:3])}")
    if version > SCHEMA_VERSION:
        raise BackupError(
            f"{path.name} has schema version {version}, newer than this Hearth "
            f"({SCHEMA_VERSION}); restore it with the Hearth that made it"
        )
    if version < 1 or "items" not in tables:
        raise BackupError(f"{path.name} is not a Hearth catalog")
    return version


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def take_backup(
    database: Path,
    folder: Path,
    *,
    config_file: Path | None = None,
    on_progress: Progress | None = None,
) -> Path:
    """A consistent copy of the live catalog (and the config) in ``folder``; its path."""
    if not database.is_file():
        raise BackupError(f"there is no catalog at {database} yet")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"hearth-{_stamp()}.sqlite3"
    n = 1
    while target.exists():  # two in one second
        target = folder / f"hearth-{_stamp()}-{n}.sqlite3"
        n += 1
    part = target.with_name(target.name + ".part")
    try:
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        copy = sqlite3.connect(part)
        try:

            def report(_: int, remaining: int, total: int) -> None:
                if on_progress is not None:
                    on_progress(total - remaining, total)

            # 256 pages (1 MiB) a step: the writer gets its turn between steps.
            source.backup(copy, pages=256, progress=report)
        finally:
            copy.close()
            source.close()
        verify(part)
        os.replace(part, target)
    except (OSError, sqlite3.DatabaseError) as exc:
        part.unlink(missing_ok=True)
        raise BackupError(f"the backup failed: {exc}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if config_file is not None and config_file.is_file():
        _copy_beside(config_file, target.with_suffix(".toml"))
    key = database.with_name(KEY_FILE)
    if key.is_file():  # without it, the backup's two-factor secrets open nowhere else
        _copy_beside(key, key_of(target))
    return target


def key_of(backup: Path) -> Path:
    """Where the two-factor key of ``backup`` is kept: ``hearth-<time>.totp.key``."""
    return backup.with_suffix("." + KEY_FILE)


def _copy_beside(source: Path, target: Path) -> None:
    part = target.with_name(target.name + ".part")
    shutil.copyfile(source, part)
    os.replace(part, target)


def list_backups(folder: Path) -> list[Backup]:
    """Finished backups in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("hearth-*.sqlite3"):
        stat = path.stat()
        config = path.with_suffix(".toml")
        taken = datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found.append(Backup(path, stat.st_size, taken, config if config.is_file() else None))
    return sorted(found, key=lambda b: b.path.name, reverse=True)


def prune(folder: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups; the ones deleted."""
    gone = []
    for old in list_backups(folder)[keep:]:
        old.path.unlink(missing_ok=True)
        if old.config is not None:
            old.config.unlink(missing_ok=True)
        key_of(old.path).unlink(missing_ok=True)
        gone.append(old.path)
    return gone


def restore(backup: Path, database: Path, data_dir: Path) -> Path | None:
    """Put ``backup`` in place of the catalog; the path the replaced catalog was kept at.

    The backup is copied next to the catalog first, the old catalog is kept by a hard link
    (no copy), its journal moved with it (left behind, a WAL would be replayed into the
    restored file), and one rename swaps the copy in.  The backup's two-factor key joins
    the data folder's (which keeps its own: the replaced catalog still opens with it).
    """
    verify(backup)
    try:  # before anything changes: a catalog whose secrets open nowhere locks people out
        keys = read_keys(key_of(backup))
        check_catalog(backup, keys=read_keys(data_dir / KEY_FILE) + keys)
    except SealingError:
        raise BackupError(
            f"{backup.name} holds two-factor secrets that neither {key_of(backup).name} "
            f"beside it nor {data_dir / KEY_FILE} opens; put the "
            f"{key_of(backup).name} taken with it beside it and restore again"
        ) from None
    with hold_data_folder(data_dir):  # ServerRunning while a server has it
        add_keys(data_dir / KEY_FILE, keys)
        part = database.with_name(database.name + ".restoring")
        shutil.copyfile(backup, part)
        with part.open("rb") as copied:
            os.fsync(copied.fileno())
        kept: Path | None = None
        if database.exists():
            kept = database.with_name(f"{database.name}.replaced-{_stamp()}")
            try:
                os.link(database, kept)
            except OSError:  # a filesystem without hard links
                shutil.copyfile(database, kept)
            for suffix in ("-wal", "-shm"):
                journal = database.with_name(database.name + suffix)
                if journal.exists():
                    os.replace(journal, kept.with_name(kept.name + suffix))
        os.replace(part, database)
        return kept
