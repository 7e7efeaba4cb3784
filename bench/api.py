"""API latency under load: list, search and detail on a 20,000-item catalog.

The catalog is filled with direct SQL through ``Database.write`` (films, and shows with
seasons and episodes, each film and episode with a file and its streams; titles, overviews
and people from a word list so full-text search has real work).  Then ``mediaserver serve``
runs as its own process on 127.0.0.1 (no scan, no watcher, no timer) and N clients in this
process keep one request each in flight for a bounded time, signed in with an API key of an
admin made in the catalog beforehand.

    .venv/bin/python bench/api.py --items 20000 --clients 50 --seconds 10

The last line is machine-readable: ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils

from mediaserver.db import Database
from mediaserver.library import catalog
from mediaserver.testing import user_credentials


def words(text: str) -> tuple[str, ...]:
    """A word list written as one string, for readability."""
    return tuple(text.split())


TARGET_P99_MS = 50.0
KINDS = ("list", "search", "detail")
TITLE_WORDS = words(
    "silent harbor midnight glass river crown iron garden winter echo hollow signal copper "
    "lantern northern shadow velvet orbit ember quiet falcon paper empire storm summer ghost "
    "atlas violet machine desert island thunder coral saffron marble tide kingdom secret "
    "broken golden last first dark bright lost found city night day morning evening star "
    "moon sun fire water stone wind forest mountain valley ocean road house station letter "
    "song dream memory promise journey return rising fall edge heart hunter keeper "
    "stranger daughter son mother father brother sister king queen soldier doctor thief"
)
PROSE_WORDS = words(
    "a an the of in on at with without after before across beyond under between who what "
    "young old retired reluctant brilliant disgraced small-town family crew team detective "
    "pilot teacher engineer smuggler musician chef journalist discovers must races against "
    "time to save uncover hidden truth behind mysterious disappearance village fleet "
    "conspiracy that threatens everything they love while storm gathers over coast "
    "friendship betrayal courage loss redemption comedy drama thriller documentary epic"
)
NAMES = words(
    "Ada Lovelace Grace Hopper Alan Turing Katherine Johnson Linus Torvalds Margaret Hamilton "
    "Dennis Ritchie Barbara Liskov Ken Thompson Frances Allen Edsger Dijkstra Radia Perlman"
)
# streams columns after file_id: idx, type, codec, profile, level, width, height, bit_depth,
# pix_fmt, frame_rate, channels, channel_layout, sample_rate, bit_rate, language, is_default
VIDEO_STREAM: tuple[Any, ...] = (0, "video", "h264", "High", 41, 1920, 1080, 8, "yuv420p")
VIDEO_STREAM += (23.976, None, None, None, 7_000_000, None, 1)
AUDIO_STREAM: tuple[Any, ...] = (1, "audio", "aac", "LC", None, None, None, None, None)
AUDIO_STREAM += (None, 6, "5.1", 48000, 640_000, "eng", 1)
GENRES = ("Drama", "Comedy", "Thriller", "Documentary", "Science Fiction", "Animation", "Horror")


# -- the catalog ---------------------------------------------------------------------------
@dataclass
class Catalog:
    """Rows to insert, built in memory first so the write transaction is one quick batch."""

    items: list[tuple[Any, ...]] = field(default_factory=list)
    files: list[tuple[Any, ...]] = field(default_factory=list)
    streams: list[tuple[Any, ...]] = field(default_factory=list)
    genres: list[tuple[int, str]] = field(default_factory=list)
    people: list[tuple[int, int, str, str]] = field(default_factory=list)
    movie_count: int = 0


def _title(rng: random.Random) -> str:
    words = rng.sample(TITLE_WORDS, rng.choice((1, 2, 2, 3, 3, 4)))
    title = " ".join(w.capitalize() for w in words)
    return f"The {title}" if rng.random() < 0.2 else title


def _overview(rng: random.Random) -> str:
    return " ".join(rng.choices(PROSE_WORDS, k=rng.randint(12, 40))).capitalize() + "."


def build_catalog(library_id: int, total: int, rng: random.Random) -> Catalog:
    cat = Catalog()
    seen: set[str] = set()

    def add_item(kind: str, key: str, title: str, **extra: Any) -> int:
        item_id = len(cat.items) + 1
        people = rng.sample(NAMES, 3) if kind in ("movie", "episode") else []
        genres = rng.sample(GENRES, rng.randint(1, 3)) if kind in ("movie", "show") else []
        row: dict[str, Any] = {
            "id": item_id,
            "library_id": library_id,
            "parent_id": extra.get("parent_id"),
            "kind": kind,
            "match_key": key,
            "title": title,
            "sort_title": catalog.sort_title(title),
            "year": extra.get("year"),
            "overview": _overview(rng) if kind != "season" else None,
            "season_number": extra.get("season"),
            "episode_number": extra.get("episode"),
            "runtime_s": extra.get("runtime"),
            "rating": round(rng.uniform(4, 9.5), 1) if kind in ("movie", "show") else None,
            "genres": json.dumps(genres),
            "people": " ".join(people),
            "added_at": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T12:00:00.000Z",
        }
        cat.items.append(tuple(row.values()))
        cat.genres += [(item_id, g) for g in genres]
        cat.people += [(item_id, n, name, "actor") for n, name in enumerate(people)]
        if kind in ("movie", "episode"):
            add_file(item_id, f"/media/{kind}s/{key.replace(':', '/')}.mkv", row["runtime_s"])
        return item_id

    def add_file(item_id: int, path: str, runtime: float) -> None:
        file_id = len(cat.files) + 1
        size = int(runtime * 1_000_000)
        cat.files.append(
            (file_id, library_id, item_id, path, size, 1, f"{file_id:032x}", "mkv", runtime, 8e6)
        )
        cat.streams += [(file_id, *VIDEO_STREAM), (file_id, *AUDIO_STREAM)]

    movies_wanted = int(total * 0.45)
    while len(cat.items) < movies_wanted:
        title, year = _title(rng), rng.randint(1930, 2026)
        key = f"movie:{catalog.sort_title(title)}:{year}"
        if key in seen:
            continue
        seen.add(key)
        add_item("movie", key, title, year=year, runtime=rng.uniform(80, 170) * 60)
        cat.movie_count += 1
    while len(cat.items) < total:
        title = _title(rng)
        key = f"show:{catalog.sort_title(title)}"
        if key in seen:
            continue
        seen.add(key)
        show = add_item("show", key, title, year=rng.randint(1980, 2026))
        for season in range(1, rng.randint(1, 6) + 1):
            if len(cat.items) >= total:
                break
            sid = add_item("season", f"season:{show}:{season}", f"Season {season}", parent_id=show)
            for episode in range(1, rng.randint(6, 13) + 1):
                if len(cat.items) >= total:
                    break
                add_item(
                    "episode",
                    f"episode:{show}:{season}:{episode}",
                    _title(rng),
                    parent_id=sid,
                    season=season,
                    episode=episode,
                    runtime=rng.uniform(20, 60) * 60,
                )
    return cat


def fill_catalog(db_path: Path, media_dir: Path, total: int, seed: int) -> tuple[list[int], int]:
    """Write the catalog; (every item id, number of films)."""
    db = Database(db_path)
    db.open()
    try:

        def write(conn: sqlite_utils.Database) -> Catalog:
            library_id = catalog.ensure_library(conn, media_dir.name, media_dir)
            cat = build_catalog(library_id, total, random.Random(seed))
            c = conn.conn
            c.executemany(
                "INSERT INTO items (id, library_id, parent_id, kind, match_key, title, sort_title,"
                " year, overview, season_number, episode_number, runtime_s, rating, genres,"
                " people, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                cat.items,
            )
            # What the scanner sets: films and shows are "recently added" by this column.
            c.execute("UPDATE items SET last_added_at = added_at WHERE kind IN ('movie', 'show')")
            c.executemany(
                "INSERT INTO files (id, library_id, item_id, path, size, mtime_ns, fingerprint,"
                " container, duration_s, bit_rate, probed_at) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '2026-12-01T00:00:00Z')",
                cat.files,
            )
            c.executemany(
                "INSERT INTO streams (file_id, idx, type, codec, profile, level, width, height,"
                " bit_depth, pix_fmt, frame_rate, channels, channel_layout, sample_rate,"
                " bit_rate, language, is_default) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                cat.streams,
            )
            c.executemany("INSERT INTO item_genres (item_id, genre) VALUES (?, ?)", cat.genres)
            c.executemany(
                "INSERT INTO item_people (item_id, ord, name, role) VALUES (?, ?, ?, ?)",
                cat.people,
            )
            return cat

        cat = db.write(write)
        db.write(lambda conn: conn.execute("ANALYZE"))
    finally:
        db.close()
    return [row[0] for row in cat.items], cat.movie_count


def make_api_key(data_dir: Path) -> str:
    """An admin in the catalog and a new API key, before the server starts: every route
    but health, sign-in and the HLS media needs one."""
    return user_credentials(
        data_dir, "bench", "the bench admin's long password", admin=True, label="bench"
    )[0]


# -- the server ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    work: Path, media_dir: Path, port: int, log_level: str, *, config_toml: str | None = None
) -> subprocess.Popen[bytes]:
    """``mediaserver serve`` on 127.0.0.1 with this config (a benchmark's own, if given)."""
    config = work / "hearth.toml"
    config.write_text(
        config_toml
        # The limiter runs (its cost is measured) but one benchmark user never trips it.
        or "[server]\nrate_limit_per_minute = 100000000\n"
        "[library]\nscan_on_startup = false\nwatch = false\nscan_interval_minutes = 0\n"
        f'[logging]\nlevel = "{log_level}"\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "MEDIASERVER_HOST": "127.0.0.1",
        "MEDIASERVER_DISCOVERY": "off",  # never announce on the machine's real network
        "MEDIASERVER_PORT": str(port),
        "MEDIASERVER_DATA_DIR": str(work / "data"),
        "MEDIASERVER_MEDIA_DIRS": str(media_dir),  # an empty folder: no demo library
    }
    log = (work / "server.log").open("ab")  # restarts add to it
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "mediaserver", "--config", str(config), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode}")
        try:
            health = httpx.get(base_url + "/health", timeout=2).json()
            if health.get("startup") == "ready":
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"the server was not ready within {timeout} s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the load ------------------------------------------------------------------------------
@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    empty_searches: int = 0


def request_for(kind: str, rng: random.Random, ids: list[int], movies: int) -> str:
    if kind == "list":
        return f"/api/v1/items?kind=movie&limit=50&offset={rng.randrange(max(1, movies - 50))}"
    if kind == "search":
        word = rng.choice(TITLE_WORDS)
        return f"/api/v1/items?q={word[: rng.randint(3, max(3, min(6, len(word))))]}"
    return f"/api/v1/items/{rng.choice(ids)}"


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1: GET, read the head, read the body.

    Far cheaper per request than httpx, which matters when the clients share the server's
    two cores: the figures should be the server's, not the load generator's.
    """

    def __init__(self, port: int, key: str, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout
        self.head = f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self._streams is None:
            self._streams = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._streams
        writer.write(f"GET {path} HTTP/1.1\r\n{self.head}\r\n".encode())
        try:
            async with asyncio.timeout(self.timeout):
                head = await reader.readuntil(b"\r\n\r\n")
                length = None
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length is None:
                    raise ConnectionError("response without Content-Length")
                body = await reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        return int(head[9:12]), body

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


class HttpxConnection:
    """The same interface over a shared ``httpx.AsyncClient`` (``--client httpx``)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def get(self, path: str) -> tuple[int, bytes]:
        response = await self.http.get(path)
        return response.status_code, response.content

    def close(self) -> None:
        pass


async def client_loop(
    conn: Connection | HttpxConnection,
    n: int,
    ids: list[int],
    movies: int,
    warm_until: float,
    stop_at: float,
    results: Results,
    max_requests: int = 1_000_000,
) -> None:
    """One client: a request, its answer, the next request; until ``stop_at``."""
    rng = random.Random(1000 + n)
    for _ in range(max_requests):
        if time.perf_counter() >= stop_at:
            break
        kind = rng.choice(KINDS)
        url = request_for(kind, rng, ids, movies)
        started = time.perf_counter()
        try:
            status, body = await conn.get(url)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, httpx.HTTPError):
            status, body = 0, b""
        elapsed = time.perf_counter() - started
        if started < warm_until:
            continue
        if status != 200:
            results.errors[kind] += 1
            continue
        results.latencies[kind].append(elapsed)
        if kind == "search" and not json.loads(body)["items"]:
            results.empty_searches += 1
    conn.close()


async def run_load(
    port: int,
    clients: int,
    seconds: float,
    warmup: float,
    ids: list[int],
    movies: int,
    key: str,
    client: str = "raw",
) -> tuple[Results, float]:
    results = Results()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}",
        limits=limits,
        timeout=30,
        headers={"Authorization": f"Bearer {key}"},
    ) as http:
        conns = [
            Connection(port, key) if client == "raw" else HttpxConnection(http)
            for _ in range(clients)
        ]
        start = time.perf_counter()
        warm_until, stop_at = start + warmup, start + warmup + seconds
        await asyncio.gather(
            *(
                client_loop(conn, n, ids, movies, warm_until, stop_at, results)
                for n, conn in enumerate(conns)
            )
        )
        measured = time.perf_counter() - warm_until
    return results, measured


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=20_000, help="catalog size (default 20000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time first (1 s)")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: a lean keep-alive HTTP/1.1 client (default); httpx: httpx.AsyncClient",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep it")
    args = parser.parse_args(argv)
    if not (1 <= args.clients <= 1000 and 0 < args.seconds <= 600 and args.items >= 100):
        parser.error("use 1-1000 clients, 0-600 seconds and at least 100 items")

    load_1m = os.getloadavg()[0]  # other work on the machine skews every figure below
    work = args.keep.absolute() if args.keep else Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    shutil.rmtree(work / "data", ignore_errors=True)
    media_dir = work / "Bench Library"
    media_dir.mkdir(parents=True, exist_ok=True)
    server: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        ids, movies = fill_catalog(
            work / "data" / "catalog.sqlite3", media_dir, args.items, args.seed
        )
        print(
            f"catalog: {len(ids)} items ({movies} films) in {time.perf_counter() - started:.1f} s"
        )
        key = make_api_key(work / "data")
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        server = start_server(work, media_dir, port, args.log_level)
        wait_ready(base_url, server)
        total = httpx.get(
            base_url + "/api/v1/items",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        ).json()
        if total["total"] < args.items * 0.5:
            raise RuntimeError(f"the server sees {total['total']} items; the library is inactive")
        server_cpu, client_cpu = cpu_seconds(server.pid), time.process_time()
        results, measured = asyncio.run(
            run_load(port, args.clients, args.seconds, args.warmup, ids, movies, key, args.client)
        )
        server_cpu, client_cpu = (
            cpu_seconds(server.pid) - server_cpu,
            time.process_time() - client_cpu,
        )
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    everything = [x for kind in KINDS for x in results.latencies[kind]]
    errors = sum(results.errors.values())
    rps = len(everything) / measured
    summary = [
        f"items={len(ids)} clients={args.clients} client={args.client} seconds={args.seconds:g}"
    ]
    for kind in KINDS:
        values = results.latencies[kind]
        p50, p99 = percentile(values, 50) * 1000, percentile(values, 99) * 1000
        print(
            f"{kind:>6}: {len(values):6d} requests  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
            f"max {max(values, default=0) * 1000:7.1f} ms  errors {results.errors[kind]}"
        )
        summary.append(f"{kind}_n={len(values)} {kind}_p50_ms={p50:.1f} {kind}_p99_ms={p99:.1f}")
    p50, p99 = percentile(everything, 50) * 1000, percentile(everything, 99) * 1000
    print(
        f"   all: {len(everything):6d} requests  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
        f"{rps:,.0f} req/s; server CPU {server_cpu:.1f} s, client CPU {client_cpu:.1f} s "
        f"over {measured + args.warmup:.1f} s; {results.empty_searches} searches found nothing"
    )
    ok = p99 <= TARGET_P99_MS and errors == 0
    summary.append(
        f"requests={len(everything)} rps={rps:.1f} p50_ms={p50:.1f} p99_ms={p99:.1f} "
        f"errors={errors} server_cpu_s={server_cpu:.1f} client_cpu_s={client_cpu:.1f} "
        f"load_1m={load_1m:.2f} target_p99_ms={TARGET_P99_MS:g} pass={str(ok).lower()}"
    )
    print(" ".join(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
