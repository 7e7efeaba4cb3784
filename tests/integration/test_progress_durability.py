"""``kill -9`` during sustained progress writes: every acknowledged write survives, and the
catalog stays sound (issue 6, reliability; ``bench/activity.py`` repeats it 50 times).

The server runs as its own process (``mediaserver serve``), so the kill is a real one.
Each writer thread reports rising positions for its own film and remembers the last one
answered 200; after the kill and a restart, every film's stored position must be at least
that (a later write may have landed without its answer getting out).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mediaserver.testing import make_clip, user_credentials

FILMS = ["red", "green", "blue", "navy"]  # one colour each: distinct files
ROUNDS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, work: Path, media: Path) -> None:
        self.work, self.media = work, media
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = work / "hearth.toml"
        self.config.write_text(
            "[server]\nrate_limit_per_minute = 100000000\n"
            "[library]\nwatch = false\nscan_interval_minutes = 0\n"
            '[streaming]\ntrickplay = false\n[logging]\nlevel = "warning"\n',
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "MEDIASERVER_HOST": "127.0.0.1",
            "MEDIASERVER_PORT": str(self.port),
            "MEDIASERVER_DATA_DIR": str(self.work / "data"),
            "MEDIASERVER_MEDIA_DIRS": str(self.media),
        }
        log = (self.work / "server.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "mediaserver", "--config", str(self.config), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.work / "server.log").read_text()
            try:
                if httpx.get(self.url + "/health", timeout=1).json().get("startup") == "ready":
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.05)
        raise TimeoutError("the server did not start")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, str]]]:
    work = tmp_path_factory.mktemp("durability")
    media = work / "media"
    for colour in FILMS:
        make_clip(media / f"{colour.title()} Film (2020).mp4", seconds=600, size="64x36",
                  video=f"color=c={colour}", audio=False, output={"r": 1, "preset": "ultrafast"})  # fmt: skip
    key = user_credentials(work / "data", "admin", "the test admin's long password", admin=True)[0]
    running = Server(work, media)
    running.start()
    try:
        yield running, {"Authorization": f"Bearer {key}"}
    finally:
        running.stop()


def _film_ids(server: Server, headers: dict[str, str]) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        items = httpx.get(server.url + "/api/v1/items?kind=movie", headers=headers).json()["items"]
        if len(items) == len(FILMS):
            return [int(i["id"]) for i in items]
        time.sleep(0.1)
    raise TimeoutError("the scan did not find the films")


def test_acknowledged_progress_survives_kill_9(server: tuple[Server, dict[str, str]]) -> None:
    running, headers = server
    films = _film_ids(running, headers)
    acked: dict[int, float] = dict.fromkeys(films, 0.0)
    next_position = 31.0  # above the resume threshold, far below 90 % of 600 s
    rng = random.Random(7)
    for _ in range(ROUNDS):
        stop = threading.Event()

        def write(film: int, start: float, stop: threading.Event = stop) -> None:
            position = start
            with httpx.Client(base_url=running.url, headers=headers, timeout=5) as client:
                while not stop.is_set():
                    position += 0.25
                    try:
                        answer = client.post(
                            f"/api/v1/items/{film}/progress",
                            json={"position_s": position, "state": "playing"},
                        )
                    except httpx.HTTPError:
                        return  # the server is gone
                    if answer.status_code == 200:
                        acked[film] = position
                    else:
                        assert answer.status_code >= 500, answer.text  # never a wrong 4xx

        writers = [threading.Thread(target=write, args=(f, next_position)) for f in films]
        for thread in writers:
            thread.start()
        time.sleep(rng.uniform(0.4, 1.2))
        running.kill()
        stop.set()
        for thread in writers:
            thread.join(10)
        running.start()
        for film in films:
            item = httpx.get(f"{running.url}/api/v1/items/{film}", headers=headers).json()
            assert item["user_data"]["position_s"] >= acked[film], (film, acked[film])
        assert min(acked.values()) > next_position  # every writer really wrote this round
        next_position = max(acked.values()) + 10
    running.stop()
    with sqlite3.connect(running.work / "data" / "catalog.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    running.start()
