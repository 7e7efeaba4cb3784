"""Resident memory of Hearth: idle after its first scan, then after 10,000 varied requests.

The server runs as its own process on 127.0.0.1 (discovery off) with a fresh data folder
and a library of ``--files`` files (1,000: see ``memory_load.py``; ``--files 0`` uses the
demo library instead, as the first version of this bench did).  Once ``/health`` says
startup is ready and the scanner is idle, and 3 s more have passed, VmRSS is read from
``/proc`` for the server and for each process below it.  Then ``--requests`` varied
requests (random ids, widths, search words, filters, as an admin and as a member) from
four clients, ``--rounds`` times, each round followed by the same settling and reading.
Then SIGTERM: the server must close its catalog and exit, and its children must follow,
within 15 s.

    .venv/bin/python bench/idle_memory.py             # --files 1000 --requests 10000

The last line is machine-readable: ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx
from memory_load import make_library, varied_requests  # bench/, run as a script

from mediaserver.testing import user_credentials

TARGET_MB = 100.0  # the server, idle after its scan
TARGET_GROWTH_MB = 10.0  # after the varied requests, against idle


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a zombie has no VmRSS line


def rss_split(pid: int) -> str:
    """Of the VmRSS: heap and other private memory (RssAnon), mapped files such as
    libraries' code (RssFile), shared memory (RssShmem)."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    parts = [(n, int(fields.get(n, "0 kB").split()[0]) / 1024) for n in ("RssAnon", "RssFile", "RssShmem")]  # fmt: skip
    return ", ".join(f"{n[3:].lower()} {mb:.1f}" for n, mb in parts)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, found through each thread's ``children`` file."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its parent to reap it counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_of(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:90]


def make_api_key(data_dir: Path, name: str = "bench", *, admin: bool = True) -> str:
    """A person in the catalog and a new API key, before the server starts: every route
    but health, sign-in and the HLS media needs one."""
    return user_credentials(
        data_dir, name, f"the bench {name}'s long password", admin=admin, label="bench"
    )[0]


def wait_idle(base_url: str, server: subprocess.Popen[bytes], timeout: float, key: str) -> float:
    """Seconds until startup is ready and a finished scan is on record with nothing queued."""
    started = time.monotonic()
    signed_in = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, timeout=5, headers=signed_in) as http:
        while time.monotonic() - started < timeout:
            if server.poll() is not None:
                raise RuntimeError(f"the server exited with code {server.returncode}")
            try:
                health = http.get("/health").json()
                scan = http.get("/api/v1/scan/status").json()
            except (httpx.HTTPError, ValueError):
                time.sleep(0.2)
                continue
            if health.get("startup") == "failed":
                raise RuntimeError("the server could not prepare its libraries")
            if (
                health.get("startup") == "ready"
                and scan["state"] == "idle"
                and scan["last"] is not None
                and not scan["queued"]
            ):
                return time.monotonic() - started
            time.sleep(0.2)
    raise TimeoutError(f"the server was not idle within {timeout} s")


def largest_id(data: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{data / 'catalog.sqlite3'}?mode=ro", uri=True)) as conn:  # fmt: skip
        return int(conn.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()[0])


def measure(server: subprocess.Popen[bytes]) -> tuple[int, dict[int, int]]:
    """VmRSS of the server and of each process below it, in KiB."""
    return rss_kib(server.pid), {pid: rss_kib(pid) for pid in descendants(server.pid)}


def take_trace(server: subprocess.Popen[bytes], data: Path, n: int) -> Path:
    """The ``n``-th tracemalloc snapshot of a server started by ``traced_server.py``."""
    server.send_signal(signal.SIGUSR1)
    path = data / f"trace-{n}.tracemalloc"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("the server wrote no tracemalloc snapshot")
        time.sleep(0.2)
    return path


def print_growth(before: Path, after: Path, top: int = 12) -> None:
    """Where the traced memory grew between two snapshots, by line and by call path."""
    old, new = tracemalloc.Snapshot.load(str(before)), tracemalloc.Snapshot.load(str(after))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    old, new = old.filter_traces(ignore), new.filter_traces(ignore)
    total = sum(s.size for s in new.statistics("filename")) - sum(
        s.size for s in old.statistics("filename")
    )
    print(f"traced Python memory grew {total / 2**20:+.1f} MB; by line:")
    for stat in new.compare_to(old, "lineno")[:top]:
        print(f"  {stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+7d} blocks  {stat.traceback}")
    print("the largest by call path:")
    for stat in new.compare_to(old, "traceback")[:4]:
        print(f"  {stat.size_diff / 1024:+9.0f} KiB")
        for line in stat.traceback.format(limit=8, most_recent_first=True):
            print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before measuring")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed to get idle")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="data folder to use and keep")
    parser.add_argument("--files", type=int, default=1000, help="library size (0: the demo)")
    parser.add_argument("--requests", type=int, default=10_000, help="varied requests a round")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of varied requests")
    parser.add_argument(
        "--trace", action="store_true", help="run under tracemalloc and print what grew"
    )
    args = parser.parse_args(argv)

    load_1m = os.getloadavg()[0]
    data = args.keep.absolute() if args.keep else Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    media = data.parent / f"{data.name}-media"
    port = free_port()
    env = {
        **os.environ,
        "MEDIASERVER_HOST": "127.0.0.1",
        "MEDIASERVER_DISCOVERY": "off",  # never announce on the machine's real network
        "MEDIASERVER_PORT": str(port),
        "MEDIASERVER_DATA_DIR": str(data),
    }
    for name in ("MEDIASERVER_MEDIA_DIRS", "MEDIASERVER_CONFIG"):
        env.pop(name, None)  # the defaults: the demo library
    if args.files:
        began = time.monotonic()
        folders = make_library(media, args.files)
        env["MEDIASERVER_MEDIA_DIRS"] = os.pathsep.join(str(f) for f in folders)
        print(f"library of {args.files} files made in {time.monotonic() - began:.1f} s")
    # The per-person limit (1,200 a minute) would answer most of the run with 429.
    (data / "bench.toml").write_text("[server]\nrate_limit_per_minute = 0\n")
    env["MEDIASERVER_CONFIG"] = str(data / "bench.toml")
    keys = [make_api_key(data), make_api_key(data, "member", admin=False)]
    log = (data / "server.log").open("wb")
    traced = [sys.executable, str(Path(__file__).with_name("traced_server.py"))]
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        traced if args.trace else [sys.executable, "-m", "mediaserver", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    exit_code: int | None = None
    leftovers: list[int] = []
    catalog_closed = False
    after_kib: list[int] = []
    try:
        base_url = f"http://127.0.0.1:{port}"
        ready_s = wait_idle(base_url, server, args.timeout, keys[0])
        time.sleep(args.settle)
        server_kib, children = measure(server)
        what = f"{args.files} files" if args.files else "demo library generated"
        print(f"idle after {ready_s:.1f} s ({what} and scanned)")
        print(f"server pid {server.pid}: {server_kib / 1024:.1f} MB ({rss_split(server.pid)})")
        for pid, kib in children.items():
            print(f"  child pid {pid}: {kib / 1024:.1f} MB  {command_of(pid)}")
        traces = [take_trace(server, data, 1)] if args.trace else []
        top_id = largest_id(data)
        for round_ in range(1, args.rounds + 1):
            began = time.monotonic()
            statuses = varied_requests(base_url, keys, args.requests, top_id, seed=11 * round_)
            took = time.monotonic() - began
            time.sleep(args.settle)
            kib, children = measure(server)
            after_kib.append(kib)
            if args.trace:
                traces.append(take_trace(server, data, round_ + 1))
                print_growth(traces[0], traces[-1])
            print(f"after {args.requests} varied requests (round {round_}, {took:.1f} s): "
                  f"server {kib / 1024:.1f} MB ({rss_split(server.pid)}), "
                  f"{(kib - server_kib) / 1024:+.1f} MB; "
                  f"statuses {dict(sorted(statuses.items()))}")  # fmt: skip
        server.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        try:
            exit_code = server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            exit_code = None
        stop_s = time.monotonic() - stopping
        leftovers = list(children)
        deadline = time.monotonic() + 5  # children notice their parent has gone
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = [pid for pid in leftovers if alive(pid)]
        # SQLite removes the WAL file when the last connection closes: the lifespan ran to the end.
        catalog_closed = not (data / "catalog.sqlite3-wal").exists()
        print(
            f"SIGTERM: exit code {exit_code} after {stop_s:.2f} s; catalog closed: "
            f"{catalog_closed}; children left: {leftovers}"
        )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(media, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)

    server_mb = server_kib / 1024
    children_mb = sum(children.values()) / 1024
    growth_mb = (max(after_kib) - server_kib) / 1024 if after_kib else 0.0
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is a clean stop.
    clean = exit_code in (0, -signal.SIGTERM) and catalog_closed and not leftovers
    ok = server_mb <= TARGET_MB and growth_mb <= TARGET_GROWTH_MB and clean
    print(
        f"files={args.files} server_rss_mb={server_mb:.1f} children={len(children)} "
        f"children_rss_mb={children_mb:.1f} total_rss_mb={server_mb + children_mb:.1f} "
        f"requests={args.requests * len(after_kib)} growth_mb={growth_mb:.1f} ready_s={ready_s:.1f} "
        f"exit_code={exit_code} stop_s={stop_s:.2f} catalog_closed={str(catalog_closed).lower()} "
        f"leftover_children={len(leftovers)} load_1m={load_1m:.2f} "
        f"target_server_rss_mb={TARGET_MB:g} target_growth_mb={TARGET_GROWTH_MB:g} "
        f"pass={str(ok).lower()}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
