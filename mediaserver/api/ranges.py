"""Range-aware file sending for direct play of media files and HLS segments.

Why: Litestar's ``File`` response ignores ``Range`` (measured) and is slow, yet every player
seeks with byte ranges. Validators come from one ``fstat`` of the one descriptor we read, and
the body streams with one thread hand-off per chunk, never the whole file in memory.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from io import FileIO
from pathlib import Path
from typing import Any, TypeAlias

import anyio.to_thread
from litestar import Request, Response
from litestar.exceptions import NotFoundException
from litestar.response import Stream

__all__ = ["ByteRange", "RangeNotSatisfiable", "etag_for", "parse_range_header", "serve_file"]

CHUNK_SIZE = 256 * 1024  # per read: thread hand-offs stay rare, memory per stream small
# Bodies up to this size (HLS segments, images) are read at once in the handler's worker
# thread and sent as one buffer: 4× the requests per second of streaming them in chunks.
SMALL_BODY = 8 * 1024 * 1024
MAX_RANGES = 16  # more range-specs is abuse; RFC 9110 §14.2 lets us ignore such a Range

_SPEC = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)  # ASCII: int() would accept other digits
_ENTITY_TAG = re.compile(r'(?:W/)?"[^"]*"|\*')
_HUGE = 10**18  # beyond any file; stands for open-ended and absurdly long positions
_Piece: TypeAlias = bytes | tuple[int, int]  # literal bytes, or (offset, length) read from the file


class RangeNotSatisfiable(Exception):
    """The Range header is valid but selects no byte of the file: the answer is 416."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """One satisfiable byte range; ``end`` is inclusive, as in ``Content-Range``."""

    start: int
    end: int

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1


def _position(digits: str) -> int:
    """Parse a position, saturating long numbers instead of hitting int()'s digit limit."""
    return int(digits) if len(digits) <= 18 else _HUGE


def parse_range_header(value: str | None, size: int) -> list[ByteRange] | None:
    """Parse a ``Range`` header (RFC 9110 §14) against a file of ``size`` bytes.

    None means "send the full file with 200": no header, another unit, invalid syntax (the RFC
    lets us ignore it) or abuse (over ``MAX_RANGES`` specs, or more than twice the file asked).
    Else the satisfiable ranges, clamped, sorted, overlapping/adjacent ones coalesced.
    Raises RangeNotSatisfiable when the syntax is valid but nothing is satisfiable (416).
    """
    if not value:
        return None
    unit, sep, range_set = value.strip().partition("=")
    if not sep or unit.lower() != "bytes":
        return None
    specs = [spec.strip() for spec in range_set.split(",")]
    specs = [spec for spec in specs if spec]  # RFC 9110 §5.6.1: empty list elements are fine
    if not specs or len(specs) > MAX_RANGES:
        return None
    wanted: list[ByteRange] = []
    for spec in specs:
        match = _SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last = match.groups()
        if first:
            start, end = _position(first), _position(last) if last else _HUGE
            if end < start:
                return None
            if start >= size:
                continue
        elif last:
            suffix = _position(last)
            if suffix == 0 or size == 0:
                continue
            start, end = max(0, size - suffix), _HUGE
        else:
            return None
        wanted.append(ByteRange(start, min(end, size - 1)))
    if sum(r.length for r in wanted) > 2 * size:
        return None
    if not wanted:
        raise RangeNotSatisfiable(f"bytes */{size}")
    merged: list[ByteRange] = []
    for r in sorted(wanted, key=lambda r: r.start):
        if merged and r.start <= merged[-1].end + 1:
            if r.end > merged[-1].end:
                merged[-1] = ByteRange(merged[-1].start, r.end)
        else:
            merged.append(r)
    return merged


def etag_for(st: os.stat_result) -> str:
    """Quoted validator from size, mtime_ns and inode.

    Hashing multi-GB media is out of the question; the inode catches a file replaced by
    rename with the same size and mtime, which is how downloaders and transcoders finish.
    """
    return f'"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ino:x}"'


def _http_date(value: str) -> int | None:
    """Parse an HTTP date to whole epoch seconds, or None if it is not one."""
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp())  # naive means UTC


def _not_modified(request: Request[Any, Any, Any], etag: str, mtime: int) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak comparison) wins over If-Modified-Since."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = _ENTITY_TAG.findall(if_none_match)
        return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)
    since = _http_date(request.headers.get("if-modified-since") or "")
    return since is not None and mtime <= since


def _if_range_holds(value: str | None, etag: str, mtime: int) -> bool:
    """RFC 9110 §13.1.5: honour Range only if If-Range is absent or matches exactly."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag  # strong comparison: a weak tag never matches
    return _http_date(value) == mtime


def _read_at(fd: int, count: int, offset: int) -> bytes:
    """Positional read; runs in a worker thread, one call per chunk."""
    if hasattr(os, "pread"):
        return os.pread(fd, count, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: no pread, but only this request uses the fd
    return os.read(fd, count)


def _read_exactly(fd: int, piece: tuple[int, int], path: Path) -> bytes:
    offset, length = piece
    data = _read_at(fd, length, offset)
    if len(data) != length:
        raise OSError(f"{path} shrank while it was being sent")
    return data


async def _file_body(file: FileIO, path: Path, pieces: Sequence[_Piece]) -> AsyncIterator[bytes]:
    """Yield the pieces, reading file slices chunk by chunk; always closes the file.

    On disconnect Litestar's Stream cancels the task iterating this: in the thread hand-off
    ``finally`` runs at once, at a yield it runs when the dropped generator is finalized.
    """
    try:
        fd = file.fileno()
        for piece in pieces:
            if isinstance(piece, bytes):
                yield piece
                continue
            offset, remaining = piece
            while remaining > 0:
                data = await anyio.to_thread.run_sync(
                    _read_at, fd, min(CHUNK_SIZE, remaining), offset
                )
                if not data:
                    raise OSError(f"{path} shrank while it was being sent")
                offset += len(data)
                remaining -= len(data)
                yield data
    finally:
        file.close()


def _open_regular(path: Path) -> tuple[FileIO, os.stat_result]:
    """Open ``path`` and fstat the descriptor, so validators describe the bytes we send."""
    # O_NONBLOCK: a FIFO in the library must not hang open(); regular files ignore it.
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        file = FileIO(os.open(path, flags), "rb", closefd=True)
    except OSError as exc:
        raise NotFoundException(f"Media file {path.name!r} is missing or unreadable") from exc
    st = os.fstat(file.fileno())
    if not stat.S_ISREG(st.st_mode):
        file.close()
        raise NotFoundException(f"Media file {path.name!r} is not a regular file")
    return file, st


def _plan(
    ranges: list[ByteRange] | None, size: int, content_type: str, headers: dict[str, str]
) -> tuple[int, list[_Piece]]:
    """Choose status and body pieces; fill Content-Type and Content-Range into ``headers``."""
    if ranges is None or len(ranges) == 1:
        headers["content-type"] = content_type
        if ranges is None:
            return 200, [(0, size)]
        (only,) = ranges
        headers["content-range"] = f"bytes {only.start}-{only.end}/{size}"
        return 206, [(only.start, only.length)]
    boundary = secrets.token_hex(16)
    headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
    pieces: list[_Piece] = []
    for index, r in enumerate(ranges):
        part = (
            f"--{boundary}\r\nContent-Type: {content_type}\r\n"
            f"Content-Range: bytes {r.start}-{r.end}/{size}\r\n\r\n"
        )
        delimiter = b"\r\n" if index else b""  # the CRLF before a boundary belongs to it
        pieces += [delimiter + part.encode("latin-1"), (r.start, r.length)]
    pieces.append(f"\r\n--{boundary}--\r\n".encode("latin-1"))
    return 206, pieces


def serve_file(
    request: Request[Any, Any, Any],
    path: Path,
    *,
    content_type: str,
    extra_headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    """Answer a GET or HEAD for ``path`` with 200, 206, 304 or 416.

    ``content_type`` is sent verbatim (never guessed: Debian's mimetypes maps ``.ts`` to
    Qt Linguist, and Litestar would add a charset to text types). ``extra_headers`` (for
    example Cache-Control or Content-Disposition) cannot override the framing or validator
    headers. Call it from a worker thread (``sync_to_thread=True``): bodies up to
    ``SMALL_BODY`` are read right here. Route it with ``@route(path, http_method=["GET", "HEAD"])``: Litestar's ``@head``
    rejects handlers returning a Response, and never tells a Response it answers a HEAD.
    Raises NotFoundException when the file is missing, unreadable or not a regular file.
    """
    file, st = _open_regular(path)
    owned: FileIO | None = file
    try:
        size, etag, mtime = st.st_size, etag_for(st), st.st_mtime_ns // 1_000_000_000
        headers = {name.lower(): value for name, value in (extra_headers or {}).items()}
        headers["accept-ranges"], headers["etag"] = "bytes", etag
        headers["last-modified"] = formatdate(mtime, usegmt=True)
        if _not_modified(request, etag, mtime):
            return Response(b"", status_code=304, headers=headers)
        is_head = request.method == "HEAD"
        range_header = request.headers.get("range")
        ranges = None
        if range_header and _if_range_holds(request.headers.get("if-range"), etag, mtime):
            try:
                ranges = parse_range_header(range_header, size)
            except RangeNotSatisfiable:
                message = f"Range not satisfiable: the file is {size} bytes long.\n".encode()
                headers["content-range"] = f"bytes */{size}"
                headers["content-type"] = "text/plain; charset=utf-8"
                headers["content-length"] = str(len(message))
                return Response(b"" if is_head else message, status_code=416, headers=headers)
        status, pieces = _plan(ranges, size, content_type, headers)
        length = sum(len(p) if isinstance(p, bytes) else p[1] for p in pieces)
        headers["content-length"] = str(length)
        if is_head or length == 0:
            return Response(b"", status_code=status, headers=headers)
        if length <= SMALL_BODY:
            fd = file.fileno()
            body = b"".join(
                piece if isinstance(piece, bytes) else _read_exactly(fd, piece, path)
                for piece in pieces
            )
            return Response(body, status_code=status, headers=headers)
        owned = None  # the body generator closes it from now on
        return Stream(_file_body(file, path, pieces), status_code=status, headers=headers)
    finally:
        if owned is not None:
            owned.close()
