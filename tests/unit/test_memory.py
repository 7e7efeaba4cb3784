"""What keeps the server's memory small: heavy libraries load only where they are used,
and the recommendation job's memory leaves with its child process."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

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
