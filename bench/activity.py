"""Progress writes under load, and after ``kill -9``: the reliability figures of issue 6.

1. **Load**: N clients (200) post progress for S seconds (60), each for its own user and
   film, one report every ``--interval`` seconds (1 s: ten times a real player's rate),
   while a scan adds ``--scan-files`` films to the library.  Each client also posts its
   playback events (a progress event per report) in a batch every ten reports, and an admin
   runs the roll-up task and opens the analytics page every ``--rollup-every`` seconds.
   Prints the p50/p99 of a progress write (time to the durable 200), errors by kind,
   whether any answer said "database is locked", and how long the dashboard took.
2. **Kills**: K times (50), writers post rising positions, the server is killed with
   SIGKILL at a random moment and restarted; every position answered 200 must be stored,
   and ``integrity_check`` / ``foreign_key_check`` must be clean at the end.

    .venv/bin/python bench/activity.py --clients 200 --seconds 60 --kills 50

The last line is machine-readable: ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from api import (  # bench/, run as a script
    free_port,
    percentile,
    start_server,
    stop_server,
    wait_ready,
)

from mediaserver.testing import make_clip, user_credentials

COLOURS = ["red", "green", "blue", "navy", "olive", "teal", "maroon", "purple", "gray", "black"]


def make_films(folder: Path, count: int, seconds: float, tag: str) -> None:
    """``count`` distinct small films (colour x length), well under a second each."""
    for n in range(count):
        colour = COLOURS[n % len(COLOURS)]
        length = seconds + n // len(COLOURS)
        make_clip(folder / f"{tag} {n:03d} (2020).mp4", seconds=length, size="64x36",
                  video=f"color=c={colour}", audio=False, output={"r": 1, "preset": "ultrafast"})  # fmt: skip


CONFIG = (
    "[server]\nrate_limit_per_minute = 100000000\n"
    "[library]\nwatch = false\nscan_interval_minutes = 0\n"
    '[streaming]\ntrickplay = false\n[logging]\nlevel = "warning"\n'
)


def start(work: Path, media: Path, port: int) -> subprocess.Popen[bytes]:
    """The server with a scan on start-up (bench/api.py's has none), once it is ready."""
    server = start_server(work, media, port, "warning", config_toml=CONFIG)
    wait_ready(f"http://127.0.0.1:{port}", server, timeout=60)
    return server


def film_ids(url: str, headers: dict[str, str], count: int) -> list[int]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answer = httpx.get(f"{url}/api/v1/items?kind=movie&limit=500", headers=headers).json()
        if answer["total"] >= count:
            return [int(i["id"]) for i in answer["items"]]
        time.sleep(0.2)
    raise TimeoutError("the scan did not finish")


async def load(
    url: str, keys: list[str], films: list[int], admin: dict[str, str], args: argparse.Namespace
) -> dict:
    latencies: list[float] = []
    dashboards: list[float] = []
    errors: dict[str, int] = {}
    locked = 0
    rollups = 0
    deadline = time.monotonic() + args.seconds
    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one(n: int) -> None:
            nonlocal locked
            headers = {"Authorization": f"Bearer {keys[n % len(keys)]}"}
            film = films[n % len(films)]
            position = 31.0 + n
            events: list[dict] = []
            await asyncio.sleep(random.uniform(0, args.interval))  # not all at once
            while time.monotonic() < deadline:
                position += args.interval
                events.append({"type": "progress", "item_id": film,
                               "position_s": position % 500 + 31, "decision": "direct"})  # fmt: skip
                if len(events) >= 10:
                    batch, events = events, []
                    sent = await client.post("/api/v1/playback/events", json={"events": batch},
                                             headers=headers)  # fmt: skip
                    if sent.status_code != 202:
                        errors[f"events {sent.status_code}"] = (
                            errors.get(f"events {sent.status_code}", 0) + 1
                        )
                started = time.perf_counter()
                try:
                    answer = await client.post(
                        f"/api/v1/items/{film}/progress",
                        json={"position_s": position % 500 + 31, "state": "playing"},
                        headers=headers,
                    )
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                else:
                    latencies.append(time.perf_counter() - started)
                    if answer.status_code != 200:
                        errors[str(answer.status_code)] = errors.get(str(answer.status_code), 0) + 1
                    if "locked" in answer.text:
                        locked += 1
                await asyncio.sleep(args.interval)

        async def housekeeping() -> None:
            nonlocal rollups
            while time.monotonic() < deadline - args.rollup_every:
                await asyncio.sleep(args.rollup_every)
                await client.post("/api/v1/tasks/rollup/run", headers=admin)
                rollups += 1
                started = time.perf_counter()
                page = await client.get("/analytics", headers=admin)
                dashboards.append(time.perf_counter() - started)
                if page.status_code != 200:
                    errors[f"analytics {page.status_code}"] = (
                        errors.get(f"analytics {page.status_code}", 0) + 1
                    )

        await asyncio.gather(housekeeping(), *(one(n) for n in range(args.clients)))
    return {"latencies": latencies, "errors": errors, "locked": locked, "rollups": rollups,
            "dashboards": dashboards}  # fmt: skip


def kills(work: Path, media: Path, headers: dict[str, str], films: list[int], rounds: int) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    acked = dict.fromkeys(films, 0.0)
    lost = 0
    position = 31.0
    server = start(work, media, port)
    for _ in range(rounds):
        stop = threading.Event()

        def write(film: int, begin: float, stop: threading.Event = stop) -> None:
            at = begin
            with httpx.Client(base_url=url, headers=headers, timeout=5) as client:
                while not stop.is_set():
                    at += 0.01
                    try:
                        answer = client.post(f"/api/v1/items/{film}/progress",
                                             json={"position_s": at, "state": "playing"})  # fmt: skip
                    except httpx.HTTPError:
                        return
                    if answer.status_code == 200:
                        acked[film] = at

        writers = [threading.Thread(target=write, args=(f, position)) for f in films]
        for thread in writers:
            thread.start()
        time.sleep(random.uniform(0.2, 1.5))
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        stop.set()
        for thread in writers:
            thread.join(10)
        server = start(work, media, port)
        for film in films:
            stored = httpx.get(f"{url}/api/v1/items/{film}", headers=headers).json()
            # Positions come back rounded to the millisecond.
            if stored["user_data"]["position_s"] < round(acked[film], 3):
                lost += 1
                print(f"  lost: film {film} acked {acked[film]:.3f} stored {stored['user_data']}")
        position = max(acked.values()) + 1
        if position > 400:  # stay clear of "watched" (90 % of 600 s)
            position = 31.0
            acked.update(dict.fromkeys(films, 0.0))
    stop_server(server)
    with sqlite3.connect(work / "data" / "catalog.sqlite3") as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        foreign = conn.execute("PRAGMA foreign_key_check").fetchall() == []
    return {"lost": lost, "integrity_ok": integrity, "foreign_keys_ok": foreign}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between reports")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--films", type=int, default=40)
    parser.add_argument("--scan-files", type=int, default=100)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--rollup-every", type=float, default=10.0, help="seconds")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="hearth-activity-"))
    media = work / "media"
    try:
        make_films(media, args.films, 600, "Film")
        keys = [user_credentials(work / "data", f"viewer{n}", "a long benchmark password")[0]
                for n in range(args.users)]  # fmt: skip
        admin = user_credentials(work / "data", "admin", "a long benchmark password", admin=True)[0]
        headers = {"Authorization": f"Bearer {admin}"}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start(work, media, port)
        films = film_ids(url, headers, args.films)
        # New films for a scan to find while the clients write.
        make_films(media / "Arrivals", args.scan_files, 60, "Arrival")
        httpx.post(f"{url}/api/v1/scan", headers=headers)
        began = time.monotonic()
        result = asyncio.run(load(url, keys, films, headers, args))
        scan = httpx.get(f"{url}/api/v1/scan/status", headers=headers).json()
        total = httpx.get(f"{url}/api/v1/items?kind=movie&limit=1", headers=headers).json()["total"]
        stop_server(server)
        lat = sorted(result["latencies"])
        p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
        errors = sum(result["errors"].values())
        print(f"load: {args.clients} clients, {len(lat)} reports in {time.monotonic() - began:.0f} s "
              f"({len(lat) / args.seconds:.0f}/s); p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
              f"errors {result['errors'] or 0}; 'database is locked' {result['locked']}; "
              f"films after the scan {total} (scan state {scan['state']})")  # fmt: skip
        pages = sorted(result["dashboards"])
        if pages:
            print(f"analytics: {result['rollups']} roll-ups run during the load; the dashboard "
                  f"took p50 {percentile(pages, 50) * 1000:.0f} ms, max {pages[-1] * 1000:.0f} ms")  # fmt: skip
        killed = kills(work, media, headers, films[:8], args.kills) if args.kills else {}
        if killed:
            print(
                f"kill -9 x {args.kills}: acknowledged writes lost {killed['lost']}, "
                f"integrity_check ok {killed['integrity_ok']}, "
                f"foreign_key_check ok {killed['foreign_keys_ok']}"
            )
        ok = errors == 0 and result["locked"] == 0 and p99 <= 200 and killed.get("lost", 0) == 0
        fields = {
            "clients": args.clients, "seconds": args.seconds, "reports": len(lat),
            "p50_ms": f"{p50:.1f}", "p99_ms": f"{p99:.1f}", "errors": errors,
            "rollups": result["rollups"],
            "dashboard_p50_ms": f"{percentile(pages, 50) * 1000:.0f}" if pages else "-",
            "locked": result["locked"], "kills": args.kills, "lost": killed.get("lost", 0),
            "integrity_ok": killed.get("integrity_ok", True), "target_p99_ms": 200,
            "pass": str(ok).lower(),
        }  # fmt: skip
        print(" ".join(f"{k}={v}" for k, v in fields.items()))
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
