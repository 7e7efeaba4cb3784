"""The nightly recommendation job at the issue's scale, database included.

Builds a catalog of ``--titles`` films (genres, an overview, some in collections) and
``--users`` people with ``--events`` progress rows between them (a few taste groups and a
popularity skew), then runs :meth:`Recommender.run` exactly as the task does: reading the
catalog, learning, and writing every person's rows through the single writer.  Prints the
seconds of each stage and the peak memory (ru_maxrss) of the process.

    .venv/bin/python bench/recommend_job.py --users 10000 --titles 20000 --events 1000000

``--child`` runs it as the server does, in a child process (``Recommender.run_in_child``).
Either way the resident memory (VmRSS) of this process, and of the child, is printed
before, during (the highest, sampled every 50 ms) and after the run.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from mediaserver.accounts.users import UserService
from mediaserver.recommend.service import Recommender, RunResult
from mediaserver.testing import open_catalog

GENRES = [
    "Comedy",
    "Drama",
    "Horror",
    "Action",
    "Romance",
    "Science Fiction",
    "Animation",
    "Thriller",
]
WORDS = [
    "love",
    "war",
    "space",
    "ghost",
    "city",
    "family",
    "crime",
    "robot",
    "island",
    "heist",
    "dragon",
    "school",
    "music",
    "storm",
]


def build(db: object, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(7)
    titles, users = args.titles, args.users
    genre_of = rng.integers(0, len(GENRES), titles)

    def catalog(d: object) -> None:
        conn = d.conn  # type: ignore[attr-defined]
        conn.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'Films', '/m')")
        conn.executemany(
            "INSERT INTO items (id, library_id, kind, title, sort_title, match_key, overview, year)"
            " VALUES (?, 1, 'movie', ?, ?, ?, ?, ?)",
            [(n + 1, f"Film {n}", f"film {n}", f"f{n}",
              " ".join(rng.choice(WORDS, 8)) + f" {GENRES[genre_of[n]].lower()}", 1950 + n % 75)
             for n in range(titles)],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO item_genres (item_id, genre) VALUES (?, ?)",
            [(n + 1, GENRES[genre_of[n]]) for n in range(titles)],
        )
        conn.executemany(
            "INSERT INTO files (item_id, library_id, path, size, mtime_ns, duration_s)"
            " VALUES (?, 1, ?, 1, 0, 6000)",
            [(n + 1, f"/m/{n}.mkv") for n in range(titles)],
        )
        conn.executemany(
            "INSERT INTO users (id, name, password_hash) VALUES (?, ?, 'x')",
            [(u + 1, f"viewer{u}") for u in range(users)],
        )

    db.write(catalog)  # type: ignore[attr-defined]
    taste = rng.integers(0, len(GENRES), users)
    by_genre = [np.flatnonzero(genre_of == g) for g in range(len(GENRES))]
    popular = (rng.pareto(1.2, args.events) * 200).astype(np.int64) % titles
    people = rng.integers(0, users, args.events)
    own = rng.random(args.events) < 0.7  # most viewing is in one's own taste
    picks = np.where(
        own,
        [by_genre[taste[p]][rng.integers(0, len(by_genre[taste[p]]))] for p in people],
        popular,
    )
    pairs = np.unique(np.stack([people, picks], axis=1), axis=0)
    watched = rng.random(len(pairs)) < 0.6
    position = np.where(watched, 0, rng.random(len(pairs)) * 6000)
    rows = [
        (int(u) + 1, int(i) + 1, float(pos), int(w), 1, f"2026-11-{1 + int(u) % 28:02d}T20:00:00Z")
        for (u, i), pos, w in zip(pairs, position, watched, strict=True)
    ]
    for start in range(0, len(rows), 100_000):
        chunk = rows[start : start + 100_000]
        db.write(  # type: ignore[attr-defined]
            lambda d, c=chunk: d.conn.executemany(
                "INSERT INTO progress (user_id, item_id, position_s, watched, play_count,"
                " last_played_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'x')",
                c,
            ),
            catalog=False,
        )
    print(f"{len(rows):,} progress rows (people × titles) for {users:,} people, {titles:,} films")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--titles", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--child", action="store_true", help="in a child process, as the server")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hearth-recommend-") as tmp:
        began = time.perf_counter()
        # Built by another process, so that the peak memory below is the job's own.
        maker = multiprocessing.get_context("spawn").Process(target=build_in, args=(tmp, args))
        maker.start()
        maker.join()
        print(f"built in {time.perf_counter() - began:.1f} s")
        return run_job(Path(tmp), child=args.child)


def build_in(folder: str, args: argparse.Namespace) -> None:
    with open_catalog(Path(folder)) as db:
        build(db, args)


def writes_meanwhile(db: object, stop: threading.Event) -> list[float]:
    """What a player waits for while the job runs: a durable progress write every 50 ms."""
    latencies = []
    while not stop.is_set():
        began = time.perf_counter()
        db.write(  # type: ignore[attr-defined]
            lambda d: d.execute(
                "UPDATE progress SET position_s = position_s + 1 WHERE user_id = 1 AND item_id ="
                " (SELECT min(item_id) FROM progress WHERE user_id = 1)"
            ),
            catalog=False,
            durable=True,
        )
        latencies.append(time.perf_counter() - began)
        stop.wait(0.05)
    return latencies


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] * 1000 if ordered else 0.0


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines()
                 if line.startswith("VmRSS:")), 0.0)  # fmt: skip


def highest_rss(stop: threading.Event) -> tuple[float, float]:
    """The highest VmRSS of this process and of its children (multiprocessing's resource
    tracker, some 12 MB, is one of them) until ``stop``, in MB."""
    own = child = 0.0
    me = os.getpid()
    while not stop.wait(0.05):
        own = max(own, rss_mb(me))
        kids: set[int] = set()  # started by any thread (the job's thread starts the child)
        for task in Path(f"/proc/{me}/task").iterdir():
            with contextlib.suppress(OSError):  # a thread that just ended
                kids.update(int(k) for k in (task / "children").read_text().split())
        child = max(child, sum(rss_mb(k) for k in kids))
    return own, child


def run_job(folder: Path, *, child: bool = False) -> int:
    with open_catalog(folder) as db:
        quiet_stop = threading.Event()
        threading.Timer(5, quiet_stop.set).start()
        quiet = writes_meanwhile(db, quiet_stop)  # five seconds with nothing else running
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        recommender = Recommender(db, UserService(db))
        began = time.perf_counter()
        done: list[object] = []
        run = recommender.run_in_child if child else lambda: recommender.run(niced=True)
        job = threading.Thread(target=lambda: done.append(run()))
        stop = threading.Event()
        during: list[float] = []
        highest: list[tuple[float, float]] = []
        writer = threading.Thread(target=lambda: during.extend(writes_meanwhile(db, stop)))
        sampler = threading.Thread(target=lambda: highest.append(highest_rss(stop)))
        rss_before = rss_mb(os.getpid())
        writer.start()
        sampler.start()
        job.start()
        job.join()
        stop.set()
        writer.join()
        sampler.join()
        gc.collect()
        rss_after = rss_mb(os.getpid())
        result = done[0]
        assert isinstance(result, RunResult)
        seconds = time.perf_counter() - began
        peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024  # fmt: skip
        stored = db.query_one("SELECT count(*) FROM recommendations")[0]
    print(f"job: {seconds:.1f} s for {result.people:,} people, {result.rows:,} rows, "
          f"{stored:,} titles stored (learning {result.learn_seconds:.1f} s, then the people); "
          f"peak memory {peak:.0f} MB (before the job {base:.0f} MB: "
          "Python, numpy, scipy and the open catalog)")  # fmt: skip
    where = "in a child process" if child else "in this process"
    print(f"RSS {where}: before {rss_before:.0f} MB, during {highest[0][0]:.0f} MB "
          f"(the child {highest[0][1]:.0f} MB), after {rss_after:.0f} MB")  # fmt: skip
    print(f"a durable progress write every 50 ms: p50/p99 {p(quiet, 50):.1f}/{p(quiet, 99):.1f} ms "
          f"alone, {p(during, 50):.1f}/{p(during, 99):.1f} ms during the job ({len(during)} writes)")  # fmt: skip
    ok = seconds <= 60 and peak <= 1024
    print(f"job_seconds={seconds:.1f} peak_mb={peak:.0f} people={result.people} child={str(child).lower()} "
          f"rss_before_mb={rss_before:.0f} rss_during_mb={highest[0][0]:.0f} "
          f"child_rss_during_mb={highest[0][1]:.0f} rss_after_mb={rss_after:.0f} "
          f"write_p99_ms_during={p(during, 99):.1f} "
          f"target_seconds=60 target_mb=1024 pass={str(ok).lower()}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
