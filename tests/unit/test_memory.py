"""What keeps the server's memory small: heavy libraries load only where they are used,
and the recommendation job's memory leaves with its child process."""

from __future__ import annotations

import array
import functools
import gc
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from mediaserver.db.memo import BUDGET
from mediaserver.testing import open_catalog
from tests.unit.test_recommender import House, house  # noqa: F401 (a fixture)

HEAVY = ("numpy", "scipy", "zxcvbn")


def python(code: str, *args: str) -> str:
    """Run ``code`` in a fresh interpreter (this one has loaded everything already)."""
    done = subprocess.run(  # noqa: S603 (this interpreter, our code)
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_server_starts_without_the_heavy_libraries() -> None:
    loaded = python(f"""
        import sys
        import mediaserver.app, mediaserver.cli
        print(" ".join(m for m in {HEAVY!r} if m in sys.modules))
    """)
    assert loaded == ""


def test_the_servers_recommendation_run_leaves_numpy_in_its_child(house: House) -> None:  # noqa: F811
    house.watch("ann", 1, 2, 3, 4, 6)
    house.watch("amy", 1, 2, 3, 5)
    answer = python(
        """
        import sys
        from pathlib import Path
        from mediaserver.accounts.users import UserService
        from mediaserver.db import Database
        from mediaserver.recommend.service import Recommender

        with Database(Path(sys.argv[1])) as db:
            result = Recommender(db, UserService(db)).run_in_child()
        print(result.people, "numpy" in sys.modules, "scipy" in sys.modules)
        """,
        str(house.db.path),
    )
    assert answer.splitlines()[-1] == "6 False False"  # the first: the log line
    ann = house.rows("ann")["for-you"]
    assert ann[0] == (5, "Because you watched Comedy 1")  # as the in-process run gives


def open_files(path: Path) -> int:
    """How many of this process's file descriptors are ``path``."""
    return sum(1 for fd in Path("/proc/self/fd").iterdir() if fd.resolve() == path)


def test_a_threads_reader_is_closed_when_the_thread_ends(tmp_path: Path) -> None:
    """Worker threads come and go; the catalog connection of a gone one must not stay."""

    def work() -> None:
        assert db.query("SELECT count(*) FROM items")[0][0] == 0

    def threads(count: int) -> int:
        for _ in range(count):
            worker = threading.Thread(target=work)
            worker.start()
            worker.join()
        gc.collect()
        return open_files(db.path)

    with open_catalog(tmp_path) as db:
        work()  # this thread's reader, kept while the thread lives
        first = threads(5)  # SQLite may keep one closed file open to reuse it
        assert threads(5) == first
        work()


def test_the_catalog_memo_keeps_to_its_byte_budget(tmp_path: Path) -> None:
    """Answers keyed by what people ask (a search, a filter) are bounded in bytes, not only
    in number: 300 different 80 KB answers do not all stay."""
    computed: list[int] = []

    def answer(n: int) -> array.array[int]:
        computed.append(n)
        return array.array("q", range(10_000))  # 80 KB, like the ids of a big library

    with open_catalog(tmp_path) as db:
        for n in range(300):
            db.memo(("ids", n), functools.partial(answer, n))
        computed.clear()
        kept = 0
        for n in reversed(range(300)):  # newest first, until one has to be computed again
            db.memo(("ids", n), functools.partial(answer, n))
            if computed:
                break
            kept += 1
        assert 0 < kept * 80_000 <= BUDGET  # the newest answers stayed, within the budget


def test_the_memo_forgets_answers_from_before_a_write(tmp_path: Path) -> None:
    with open_catalog(tmp_path) as db:
        for n in range(100):
            db.memo(("count", n), lambda: 1)
        db.write(lambda d: d.execute("INSERT INTO libraries (name, path) VALUES ('Films', '/f')"))
        db.memo(("count", "new"), lambda: 2)
        assert len(db._memo) == 1  # the hundred stale answers went at once


def test_stopping_the_server_ends_a_recommendation_run_before_the_catalog_closes(
    house: House,  # noqa: F811
) -> None:
    """A run's child holding the catalog when the server closed it kept the journal
    (``-wal``) from being folded in: the server did not close cleanly."""
    from mediaserver.recommend.service import Recommender

    house.watch("ann", 1, 2, 3)
    recommender = Recommender(house.db, house.users)
    failures: list[str] = []

    def run() -> None:
        try:
            recommender.run_in_child()
        except RuntimeError as exc:
            failures.append(str(exc))

    catalog = house.db.path.resolve()
    blocker = sqlite3.connect(catalog)
    blocker.execute("BEGIN IMMEDIATE")  # the child's writes wait: it stays mid-run
    runner = threading.Thread(target=run)
    runner.start()
    deadline = time.monotonic() + 60
    while not _holds(recommender, catalog):
        assert time.monotonic() < deadline, "the child never opened the catalog"
        time.sleep(0.05)
    child = recommender._child
    recommender.stop()
    blocker.rollback()
    blocker.close()
    runner.join(30)
    assert child is not None and not child.is_alive()
    assert failures == ["the recommendation run was stopped: the server is stopping"]
    house.db.close()
    assert not catalog.with_name(catalog.name + "-wal").exists()


def _holds(recommender: Any, catalog: Path) -> bool:
    """Whether the recommender's child has the catalog file open."""
    child = recommender._child
    if child is None or child.pid is None:
        return False
    try:
        return any(fd.resolve() == catalog for fd in Path(f"/proc/{child.pid}/fd").iterdir())
    except OSError:
        return False
