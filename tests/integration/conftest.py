"""Integration-test helpers: run an ASGI app on a real uvicorn server in a thread.

Real sockets matter here: Litestar's TestClient skips the HTTP server, so it cannot show
framing bugs (Content-Length mismatches, HEAD bodies, disconnects) that players hit.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import uvicorn

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
