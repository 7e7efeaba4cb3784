"""Connections that go only where they were checked, and end at one deadline.

:class:`PinnedBackend` is an httpcore network backend: ``fetch`` pins the addresses it checked
for a ``(host, port)`` and the backend connects to those and nothing else, so a DNS answer
that changes between the check and the connect (rebinding) cannot redirect the socket.  Every
connect, TLS handshake, read and write is bounded by what is left of one :class:`Deadline`.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable

import httpcore

__all__ = ["Deadline", "PinnedBackend"]


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def bound(self, timeout: float | None, error: type[Exception]) -> float:
        """``timeout`` cut to what is left of the deadline; ``error`` once nothing is left."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise error("the deadline has passed")
        return left if timeout is None else min(timeout, left)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects ``(host, port)`` only to the addresses checked for it, within the deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline
        self._pins: dict[tuple[str, int], tuple[str, ...]] = {}
        self._sockets = httpcore.SyncBackend()

    def is_pinned(self, host: str, port: int) -> bool:
        return (host, port) in self._pins

    def pin(self, host: str, port: int, addresses: tuple[str, ...]) -> None:
        self._pins[(host, port)] = addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._pins.get((host, port))
        if not addresses:  # every hop is pinned before its request; this is the safety net
            raise httpcore.ConnectError(f"{host}:{port} was not checked")
        failure = httpcore.ConnectError("no address to connect to")
        for address in addresses:
            try:
                stream = self._sockets.connect_tcp(
                    address,
                    port,
                    timeout=self._deadline.bound(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("fetches do not use Unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        return DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, bounded), self._deadline
        )

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)
