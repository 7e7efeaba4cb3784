"""Integration-test helpers: run an ASGI app on a real uvicorn server in a thread.

Real sockets matter here: Litestar's TestClient skips the HTTP server, so it cannot show
framing bugs (Content-Length mismatches, HEAD bodies, disconnects) that players hit.

Below ``run_server``: a session-wide library of tiny real clips (``hearth_library``) and
fixtures that run a whole Hearth (``create_app``) over it and wait for its scans.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg
import httpx
import pytest
import uvicorn

from mediaserver.http_protocol import BoundedHttpToolsProtocol
from mediaserver.testing import user_credentials

ASGIApp = Callable[..., Awaitable[None]]


@contextmanager
def run_server(
    app: ASGIApp, *, host: str = "127.0.0.1", startup_timeout: float = 15.0, **config: Any
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yield its base URL.

    The listening socket is bound to port 0 here and handed to uvicorn, so there is no race
    for the port. Extra keyword arguments go to ``uvicorn.Config`` (e.g. ``lifespan="on"``).
    Startup failures (including lifespan errors) are raised here, not silently hung on.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        config.setdefault("log_level", "warning")
        config.setdefault("proxy_headers", False)  # as `mediaserver serve` runs it
        config.setdefault("http", BoundedHttpToolsProtocol)
        config.setdefault("timeout_graceful_shutdown", 2)  # open event streams, as serve does
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **config))
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # SystemExit too: report it, don't lose it
                failure.append(exc)

        thread = threading.Thread(target=serve, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if failure or not thread.is_alive():
                raise RuntimeError("uvicorn failed to start") from (failure[0] if failure else None)
            if time.monotonic() > deadline:
                server.should_exit = True
                thread.join(timeout=5)
                raise TimeoutError(f"uvicorn did not start within {startup_timeout}s")
            time.sleep(0.01)
        try:
            yield (
                f"http://[{host}]:{port}" if family == socket.AF_INET6 else f"http://{host}:{port}"
            )
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout=5)


@pytest.fixture(scope="session")
def server_runner() -> Callable[..., AbstractContextManager[str]]:
    """``run_server`` as a fixture, for test modules that cannot import conftest.

    Use it from a fixture of any scope: ``with server_runner(app) as base_url: yield base_url``.
    """
    return run_server


# -- Hearth servers over tiny real media ------------------------------------------------

HearthServer = Callable[..., AbstractContextManager[str]]
ScanWaiter = Callable[..., dict[str, Any]]

LIBRARY_NAME = "Test Library"
_CHAPTERS = """;FFMETADATA1
[CHAPTER]
TIMEBASE=1/1000
START=0
END=500
title=Opening
[CHAPTER]
TIMEBASE=1/1000
START=500
END=1000
title=Finale
"""
_AMBER_NFO = """<?xml version="1.0" encoding="UTF-8"?>
<movie>
  <title>Amber Lighthouse</title>
  <year>2010</year>
  <plot>A lighthouse keeper counts the waves.</plot>
  <genre>Comedy</genre>
  <director>Ada Lumen</director>
  <actor><name>Iris Keeper</name></actor>
  <actor><name>Tom Waves</name></actor>
</movie>
"""


@dataclass(frozen=True)
class _ClipSpec:
    path: str  # relative to the library root
    pattern: str
    tone_hz: int
    language: str | None = None
    channels: int = 2
    chapters: bool = False


# The shared library: three movies (one with "(2019)" in its name, one mkv, one with an
# NFO giving a genre, a director and two actors), a show with two seasons and a two-episode file, and a broken file.
_LIBRARY_CLIPS = [
    _ClipSpec(
        "Movies/Zephyr Quokka (2019)/Zephyr Quokka (2019).mp4", "testsrc2", 440, "eng", 2, True
    ),
    _ClipSpec("Movies/Amber Lighthouse.mp4", "smptebars", 550),
    _ClipSpec("Movies/Marble.Orchard.2001.mkv", "rgbtestsrc", 660, "spa", 1),
    _ClipSpec("Shows/Orbit Patrol/Season 1/Orbit.Patrol.S01E01.Launch.mp4", "testsrc", 300),
    _ClipSpec("Shows/Orbit Patrol/Season 1/Orbit.Patrol.S01E02E03.Docking.mp4", "pal75bars", 350),
    _ClipSpec("Shows/Orbit Patrol/Season 2/Orbit.Patrol.S02E01.Zenith.mp4", "yuvtestsrc", 400),
    _ClipSpec("Shows/Orbit Patrol/Season 2/Orbit.Patrol.S02E02.Apogee.mp4", "smptehdbars", 450),
]
BROKEN_FILE = "Movies/Broken Reel (2020).mp4"


def _clip_argv(spec: _ClipSpec, target: Path, chapters_file: Path) -> list[str]:
    video = ffmpeg.input(f"{spec.pattern}=size=320x180:rate=25", f="lavfi", t=1)
    audio = ffmpeg.input(f"sine=frequency={spec.tone_hz}:sample_rate=48000", f="lavfi", t=1)
    options: dict[str, Any] = {
        "c:v": "libx264",
        "preset": "ultrafast",
        "pix_fmt": "yuv420p",
        "c:a": "aac",
        "ac": spec.channels,
    }
    if spec.language:
        options["metadata:s:a:0"] = f"language={spec.language}"
    if spec.chapters:
        options["map_chapters"] = 2
    argv: list[str] = (
        ffmpeg.output(video, audio, str(target), **options)
        .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
        .overwrite_output()
        .compile(cmd=shutil.which("ffmpeg") or "ffmpeg")
    )
    if spec.chapters:  # ffmpeg-python cannot add a stream-less input: splice it in as #2
        first_map = argv.index("-map")
        argv[first_map:first_map] = ["-f", "ffmetadata", "-i", str(chapters_file)]
    return argv


def _make_clips(root: Path, specs: Sequence[_ClipSpec]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    chapters_file = root.parent / f"{root.name}.chapters.txt"
    chapters_file.write_text(_CHAPTERS, encoding="utf-8")
    jobs = []
    for spec in specs:
        target = root / spec.path
        target.parent.mkdir(parents=True, exist_ok=True)
        jobs.append(_clip_argv(spec, target, chapters_file))
    with ThreadPoolExecutor(4) as pool:
        for done in pool.map(lambda argv: subprocess.run(argv, capture_output=True), jobs):  # noqa: S603
            assert done.returncode == 0, done.stderr.decode("utf-8", "replace")


@pytest.fixture(scope="session")
def hearth_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only library of tiny clips shared by every Hearth server test (see above)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg on PATH")
    root = tmp_path_factory.mktemp("media") / LIBRARY_NAME
    _make_clips(root, _LIBRARY_CLIPS)
    (root / "Movies/Amber Lighthouse.nfo").write_text(_AMBER_NFO, encoding="utf-8")
    (root / BROKEN_FILE).write_bytes(b"this is not a video file, only text pretending\n" * 200)
    return root


@pytest.fixture(scope="session")
def spare_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip outside every library, for tests that add a file to a watched one."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg on PATH")
    root = tmp_path_factory.mktemp("spare")
    name = "Velvet Comet (2020).mp4"
    _make_clips(root, [_ClipSpec(name, "mandelbrot", 770)])
    return root / name


def write_config(
    data_dir: Path,
    *,
    watch: bool = False,
    debounce_s: float = 0.5,
    log_level: str = "warning",
    streaming: Mapping[str, bool | int | float | str] | None = None,
    extra: str = "",
) -> Path:
    """A TOML config with background work limited to what a test exercises.

    ``streaming`` adds a ``[streaming]`` section (``{"max_transcodes": 1}``): those settings
    have no environment variables.  ``extra`` is more TOML, whole sections (``[dlna]...``).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "hearth.toml"
    text = (
        # The rate limiter stays on (its cost is in every test) but cannot trip a busy test.
        "[server]\nrate_limit_per_minute = 1000000\n"
        "[library]\n"
        f"watch = {'true' if watch else 'false'}\n"
        f"watch_debounce_seconds = {debounce_s}\n"
        "scan_interval_minutes = 0\n"
        "[logging]\n"
        f'level = "{log_level}"\n'
    )
    if streaming:
        text += "[streaming]\n" + "".join(
            f"{key} = {_toml_value(value)}\n" for key, value in streaming.items()
        )
    config.write_text(text + extra, encoding="utf-8")
    return config


def _toml_value(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


@contextmanager
def run_hearth(
    data_dir: Path,
    media_dirs: Sequence[Path] = (),
    *,
    watch: bool = False,
    debounce_s: float = 0.5,
    log_level: str = "warning",
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    streaming: Mapping[str, bool | int | float | str] | None = None,
    extra: str = "",
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """A real Hearth (create_app) on uvicorn over ``media_dirs``; no dirs means the demo.

    ``wrap`` puts an ASGI wrapper around the app, to see what it sends before uvicorn does;
    ``streaming`` and ``extra`` are more settings (see ``write_config``), ``env`` more
    ``MEDIASERVER_*`` variables (``MEDIASERVER_BROWSE_ROOTS``).
    """
    from mediaserver.app import create_app
    from mediaserver.config import load_settings

    environ = {"MEDIASERVER_DATA_DIR": str(data_dir), **(env or {})}
    if media_dirs:
        environ["MEDIASERVER_MEDIA_DIRS"] = ":".join(str(p) for p in media_dirs)
    config = write_config(
        data_dir,
        watch=watch,
        debounce_s=debounce_s,
        log_level=log_level,
        streaming=streaming,
        extra=extra,
    )
    settings = load_settings(config, environ)
    key = make_admin(settings)
    app: ASGIApp = create_app(settings)
    with run_server(wrap(app) if wrap else app) as url:
        AUTH_HEADERS[url] = {"Authorization": f"Bearer {key}"}
        try:
            yield url
        finally:
            AUTH_HEADERS.pop(url, None)


ADMIN_NAME = "admin"
ADMIN_PASSWORD = "the test admin's long password"
AUTH_HEADERS: dict[str, dict[str, str]] = {}


def make_admin(settings: Any) -> str:
    """An admin in the server's catalog (made once per data folder) and a new API key."""
    return user_credentials(settings.data_path, ADMIN_NAME, ADMIN_PASSWORD, admin=True)[0]


MEMBER_PASSWORD = "a long household password"


def add_member(
    client: httpx.Client, admin: dict[str, str], name: str, **limits: Any
) -> tuple[int, dict[str, str]]:
    """A member made through ``/api/v1/users`` with these limits, signed in: (id, headers)."""
    made = client.post(
        "/api/v1/users", json={"name": name, "password": MEMBER_PASSWORD, **limits}, headers=admin
    )
    assert made.status_code == 201, made.text
    login = client.post("/api/v1/auth/login", json={"username": name, "password": MEMBER_PASSWORD})
    assert login.status_code == 200, login.text
    return int(made.json()["id"]), {"Authorization": f"Bearer {login.json()['access_token']}"}


def auth_headers(url: str) -> dict[str, str]:
    """The ``Authorization`` header of the admin's API key for the server at ``url``."""
    return dict(AUTH_HEADERS[url.rstrip("/")])


@pytest.fixture(scope="session")
def hearth_server() -> HearthServer:
    """``run_hearth(data_dir, media_dirs, watch=..., debounce_s=..., log_level=..., wrap=...,
    streaming=..., extra=..., env=...)``."""
    return run_hearth


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_for_scan(
    client: httpx.Client, *, timeout: float = 60.0, started_after: float | None = None
) -> dict[str, Any]:
    """Wait for the scanner to be idle with a finished scan (begun after ``started_after``)."""

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = client.get("/api/v1/scan/status").json()
        done = status["state"] == "idle" and not status["queued"] and status["last"]
        fresh = started_after is None or (status["started_at"] or 0) >= started_after
        return status if done and fresh else None

    result: dict[str, Any] = wait_until(finished, timeout, "the scan to finish")
    return result


@pytest.fixture(scope="session")
def scan_waiter() -> ScanWaiter:
    """``wait_for_scan(client, timeout=..., started_after=...)`` as a fixture."""
    return wait_for_scan


@pytest.fixture(scope="session")
def poll() -> Callable[..., Any]:
    """``wait_until(check, timeout, what)`` as a fixture."""
    return wait_until
