"""A LAN of our own for discovery tests: two network namespaces joined by a veth pair.

The server's namespace has 198.51.100.1, the client's 198.51.100.2 (TEST-NET-2, which no
real network uses); multicast is routed over the pair only.  Nothing here touches the
machine's own network, and the namespaces are removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["CLIENT_IP", "SERVER_IP", "Lan", "ip", "make_lan", "read_until", "serve_in"]

SERVER_IP, CLIENT_IP = "198.51.100.1", "198.51.100.2"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)  # noqa: S603


@dataclass
class Lan:
    server_ns: str
    client_ns: str
    client_link: str

    def run(
        self, ns: str, argv: list[str], timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout
        )

    def start(self, code: str, ns: str = "") -> subprocess.Popen[str]:
        """A Python script running in a namespace (the client's), its output read by line."""
        return subprocess.Popen(  # noqa: S603
            ["ip", "netns", "exec", ns or self.client_ns, sys.executable, "-c",
             textwrap.dedent(code)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def python(self, ns: str, code: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return self.run(ns, [sys.executable, "-c", textwrap.dedent(code)], timeout=timeout)


@contextmanager
def make_lan() -> Iterator[Lan]:
    """Skips the test (with the reason) where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2 (ip)")
    tag = uuid.uuid4().hex[:6]
    server_ns, client_ns = f"hearth-s-{tag}", f"hearth-c-{tag}"
    try:
        ip("netns", "add", server_ns)
        ip("netns", "add", client_ns)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot create network namespaces here: {exc.stderr!r}")
    try:
        ip("link", "add", f"vs{tag}", "type", "veth", "peer", "name", f"vc{tag}")
        for ns, link, address in ((server_ns, f"vs{tag}", SERVER_IP),
                                  (client_ns, f"vc{tag}", CLIENT_IP)):  # fmt: skip
            ip("link", "set", link, "netns", ns)
            ip("-n", ns, "addr", "add", f"{address}/24", "dev", link)
            ip("-n", ns, "link", "set", link, "up", "multicast", "on")
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", link)
        yield Lan(server_ns, client_ns, f"vc{tag}")
    finally:
        for ns in (server_ns, client_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)  # noqa: S603


@contextmanager
def serve_in(
    lan: Lan, data: Path, media: Path, config: str, port: int
) -> Iterator[subprocess.Popen[bytes]]:
    """``mediaserver serve`` in the server's namespace with discovery on, until /health
    answers; ``config`` is TOML added to a quiet base (no watching, no timed scans)."""
    path = data / "hearth.toml"
    path.write_text(
        '[library]\nwatch = false\nscan_interval_minutes = 0\n[logging]\nlevel = "warning"\n'
        + config,
        encoding="utf-8",
    )
    env = {**os.environ, "MEDIASERVER_DISCOVERY": "on", "MEDIASERVER_DATA_DIR": str(data),
           "MEDIASERVER_MEDIA_DIRS": str(media), "MEDIASERVER_PORT": str(port)}  # fmt: skip
    log = (data / "server.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        ["ip", "netns", "exec", lan.server_ns, sys.executable, "-m", "mediaserver",
         "--config", str(path), "serve"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = lan.python(
                lan.server_ns,
                f"import httpx; print(httpx.get('http://{SERVER_IP}:{port}/health').status_code)",
            )
            if health.stdout.strip() in ("200", "503"):
                break
            assert process.poll() is None, (data / "server.log").read_text()
            time.sleep(0.3)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


def read_until(process: subprocess.Popen[str], wanted: Callable[[str], bool]) -> str:
    """The first line of ``process``'s output that is ``wanted``; fails if it ends first."""
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        assert line, process.stderr.read() if process.stderr else "the process stopped"
        if wanted(line):
            return line
