"""Resident memory of an idle Hearth: ``mediaserver serve`` after startup and its first scan.

The server runs as its own process on 127.0.0.1 with a fresh data folder and no media
folders configured, so it generates and scans its demo library first (about 8 s).  Once
``/health`` says startup is ready and the scanner is idle, and 3 s more have passed, VmRSS
is read from ``/proc`` for the server and for each process below it.  Then SIGTERM: the server must close its
catalog and exit, and its children must follow, within 15 s.

    .venv/bin/python bench/idle_memory.py

The last line is machine-readable: ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from mediaserver.testing import user_credentials

TARGET_MB = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # a zombie has no VmRSS line


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


def make_api_key(data_dir: Path) -> str:
    """An admin in the catalog and a new API key, before the server starts: every route
    but health, sign-in and the HLS media needs one."""
    return user_credentials(
        data_dir, "bench", "the bench admin's long password", admin=True, label="bench"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds idle before measuring")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed to get idle")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="data folder to use and keep")
    args = parser.parse_args(argv)

    load_1m = os.getloadavg()[0]
    data = args.keep.absolute() if args.keep else Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "MEDIASERVER_HOST": "127.0.0.1",
        "MEDIASERVER_DISCOVERY": "off",  # never announce on the machine's real network
        "MEDIASERVER_PORT": str(port),
        "MEDIASERVER_DATA_DIR": str(data),
    }
    for name in ("MEDIASERVER_MEDIA_DIRS", "MEDIASERVER_CONFIG"):
        env.pop(name, None)  # the defaults: the demo library, no config file
    key = make_api_key(data)
    log = (data / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "mediaserver", "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    exit_code: int | None = None
    leftovers: list[int] = []
    catalog_closed = False
    try:
        ready_s = wait_idle(f"http://127.0.0.1:{port}", server, args.timeout, key)
        time.sleep(args.settle)
        server_kib = rss_kib(server.pid)
        children = {pid: rss_kib(pid) for pid in descendants(server.pid)}
        print(f"idle after {ready_s:.1f} s (demo library generated and scanned)")
        print(f"server pid {server.pid}: {server_kib / 1024:.1f} MB")
        for pid, kib in children.items():
            print(f"  child pid {pid}: {kib / 1024:.1f} MB  {command_of(pid)}")
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
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)

    server_mb = server_kib / 1024
    children_mb = sum(children.values()) / 1024
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is a clean stop.
    clean = exit_code in (0, -signal.SIGTERM) and catalog_closed and not leftovers
    ok = server_mb <= TARGET_MB and clean
    print(
        f"server_rss_mb={server_mb:.1f} children={len(children)} children_rss_mb={children_mb:.1f} "
        f"total_rss_mb={server_mb + children_mb:.1f} ready_s={ready_s:.1f} "
        f"exit_code={exit_code} stop_s={stop_s:.2f} catalog_closed={str(catalog_closed).lower()} "
        f"leftover_children={len(leftovers)} "
        f"load_1m={load_1m:.2f} target_server_rss_mb={TARGET_MB:g} pass={str(ok).lower()}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
