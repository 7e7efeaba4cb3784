"""uvicorn's httptools protocol with two limits it lacks: header size and header time.

uvicorn's fast parser (httptools) accepts request headers of any size, buffering them in
memory (64 MB of one header was accepted, measured), and waits forever for headers that
trickle in (slowloris).  This subclass counts the bytes of each request head and refuses
one above ``MAX_HEAD_BYTES`` (431), and closes a connection whose head is not complete
``HEAD_TIMEOUT_S`` after it began.

Bytes are counted twice over, because each count alone misses something: the reads that
end inside a head (one header of 64 MB arrives in many reads before the parser reports it),
and the parts the parser reports (the target and each header, so a 100 KB head that came in
one read, which the parser finishes inside that read, is counted too).  A refused client
gets its 431 before the connection closes: reading goes on, discarded, for up to
``LINGER_S`` and ``LINGER_BYTES`` (closing with unread bytes resets the connection, and the
client loses the answer), then the connection closes whatever the client still sends.  uvicorn's pure-Python h11 parser has a size limit but
served 26 % fewer API requests a second here, so we keep httptools and add the limits.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["HEAD_TIMEOUT_S", "MAX_HEAD_BYTES", "BoundedHttpToolsProtocol"]

MAX_HEAD_BYTES = 64 * 1024
HEAD_TIMEOUT_S = 20.0
LINGER_S = 2.0
LINGER_BYTES = 1024 * 1024
_FRAMING = 4  # ": " and CRLF around each header, which the parser does not report
_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: 33\r\n\r\nThe request headers are too big.\n"
)


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head that is over the limit."""


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    head_timeout_s = HEAD_TIMEOUT_S
    max_head_bytes = MAX_HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # until the first request's headers are complete
        self._head_bytes = 0  # received while in a head, by reads
        self._parsed_bytes = 0  # of this head, as the parser reports its parts
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()

    def _start_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_too_slow)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()  # a head that trickles in (or never comes) gets no more time

    def data_received(self, data: bytes) -> None:
        if self._refused:  # lingering after a 431: read and dropped, up to a point
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes + LINGER_BYTES:
                self.transport.close()
            return
        counting = self._in_head
        super().data_received(data)
        if counting and self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse()

    def _refuse(self) -> None:
        """Answer 431, stop parsing, and close once the client has read it (or soon)."""
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self.transport.write(_TOO_LARGE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
        else:
            self.transport.close()

    def _count(self, size: int) -> None:
        self._parsed_bytes += size
        if self._parsed_bytes > self.max_head_bytes:
            self._refuse()
            raise _HeadTooLarge  # stops the parser; see send_400_response

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # else the parser stopped because _count raised: 431 is sent
            super().send_400_response(msg)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + _FRAMING)
        super().on_header(name, value)

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()  # the client read the 431 and is done
        super().eof_received()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._parsed_bytes = 0
        self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)
