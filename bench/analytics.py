"""How fast the analytics answer on a busy household's history.

Builds a catalog with ``--films`` films and ``--users`` people who each watch
``--hours-per-day`` hours a day for ``--days`` days (a play, a progress event every ten
seconds, a completion: a year of one heavy household is about 2 million events), rolls it
up as the hourly job would, and times every chart query and the whole dashboard (all its
charts drawn), both with everything rolled up and with ``--raw-hours`` of raw events not
rolled up yet.  Prints one line per query and a machine-readable last line.

    .venv/bin/python bench/analytics.py --days 90
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from mediaserver.activity.analytics import Analytics
from mediaserver.activity.rollups import Rollups
from mediaserver.testing import open_catalog
from mediaserver.ui.analytics import build_charts


def fill(db: Any, args: argparse.Namespace, now: datetime) -> int:
    """Films, people and their viewing; returns how many events were written."""
    rng = random.Random(7)
    db.write(
        lambda d: (
            d.execute("INSERT INTO libraries (id, name, path) VALUES (1, 'Films', '/m')"),
            d.conn.executemany(
                "INSERT INTO items (id, library_id, kind, title, sort_title, match_key)"
                " VALUES (?, 1, 'movie', ?, ?, ?)",
                [(n, f"Film {n}", f"film {n}", f"f{n}") for n in range(1, args.films + 1)],
            ),
            d.conn.executemany(
                "INSERT INTO files (item_id, library_id, path, size, mtime_ns, duration_s)"
                " VALUES (?, 1, ?, 1, 0, 6000)",
                [(n, f"/m/{n}.mkv") for n in range(1, args.films + 1)],
            ),
            d.conn.executemany(
                "INSERT INTO users (id, name, password_hash) VALUES (?, ?, 'x')",
                [(n, f"viewer{n}") for n in range(1, args.users + 1)],
            ),
        )
    )
    total = 0
    per_viewing = int(args.hours_per_day * 3600 / 10)
    for day in range(args.days, -1, -1):
        rows = []
        for user in range(1, args.users + 1):
            start = (now - timedelta(days=day)).replace(hour=19, minute=0, second=0)
            film = int(rng.paretovariate(1.2)) % args.films + 1  # a few films are popular
            decision = rng.choice(["direct", "direct", "direct", "remux", "transcode"])
            stamp = lambda s: (start + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.000Z")  # noqa: E731, B023
            rows.append((user, film, "play", stamp(0), None, decision))
            rows += [(user, film, "progress", stamp(10 * n), 10.0 * n, decision)
                     for n in range(per_viewing)]  # fmt: skip
            rows.append((user, film, "complete", stamp(10 * per_viewing), None, decision))
        total += len(rows)
        db.write(
            lambda d, rows=rows: d.conn.executemany(
                "INSERT INTO playback_events (user_id, item_id, type, at, received_at, "
                "position_s, decision) VALUES (?, ?, ?, ?, '2026-01-01T00:00:00.000Z', ?, ?)",
                rows,
            ),
            catalog=False,
        )
    return total


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median milliseconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--users", type=int, default=5)
    parser.add_argument("--films", type=int, default=2000)
    parser.add_argument("--hours-per-day", type=float, default=2.0)
    parser.add_argument("--raw-hours", type=int, default=2, help="left for the roll-up")
    args = parser.parse_args(argv)
    now = datetime.now(UTC)
    with (
        tempfile.TemporaryDirectory(prefix="hearth-analytics-") as tmp,
        open_catalog(Path(tmp)) as db,
    ):
        began = time.perf_counter()
        events = fill(db, args, now)
        print(f"{events:,} events for {args.users} people over {args.days} days "
              f"written in {time.perf_counter() - began:.1f} s")  # fmt: skip
        began = time.perf_counter()
        Rollups(db, keep_days=3650).run(now - timedelta(hours=args.raw_hours))
        rolled = time.perf_counter() - began
        rows = db.query_one("SELECT count(*) FROM playback_rollups")[0]
        print(f"first roll-up: {rolled:.1f} s, {rows:,} total rows")
        began = time.perf_counter()
        Rollups(db, keep_days=3650).run(now - timedelta(hours=args.raw_hours))
        print(f"an hourly roll-up after it: {(time.perf_counter() - began) * 1000:.0f} ms")
        a = Analytics(db)
        top = a.titles(args.days, limit=1)[0]["item_id"]  # the most watched: most moments
        queries: dict[str, Callable[[], object]] = {
            "daily": lambda: a.daily(args.days),
            "titles": lambda: a.titles(args.days),
            "trending": lambda: a.trending(7),
            "decisions": lambda: a.decisions(args.days),
            "people": lambda: a.people(args.days),
            "busiest": lambda: a.busiest(args.days),
            "moments (most watched film)": lambda: a.moments(top),
            "one person's daily": lambda: a.daily(args.days, user_id=1),
            "dashboard (all charts drawn)": lambda: build_charts(
                SimpleNamespace(analytics=a),  # type: ignore[arg-type]
                args.days,
                None,
            ),
        }
        results = {name: timed(fn) for name, fn in queries.items()}
        for name, ms in results.items():
            print(f"  {name:30} {ms:8.1f} ms")
        fields = {
            "events": events, "days": args.days, "rollup_s": f"{rolled:.1f}",
            "dashboard_ms": f"{results['dashboard (all charts drawn)']:.0f}",
            "slowest_query_ms": f"{max(v for k, v in results.items() if 'dashboard' not in k):.0f}",
        }  # fmt: skip
        print(" ".join(f"{k}={v}" for k, v in fields.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
