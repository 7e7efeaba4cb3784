"""Errors people can read: JSON under ``/api``, an HTML page everywhere else.

A bad parameter names itself ("limit: Expected `int` <= 500"), never just
"Validation failed".
"""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_507_INSUFFICIENT_STORAGE,
)

__all__ = ["HANDLERS", "describe_validation", "invalid_parameter"]

log = structlog.get_logger(__name__)


def invalid_parameter(key: str, message: str) -> ValidationException:
    """A 400 whose detail reads ``key: message``, like Litestar's own parameter errors."""
    return ValidationException(
        detail="invalid parameter", extra=[{"key": key, "message": message, "source": "query"}]
    )


def describe_validation(exc: ValidationException) -> str:
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for problem in problems:
        if isinstance(problem, dict) and problem.get("key"):
            parts.append(f"{problem['key']}: {problem.get('message', 'invalid value')}")
    return "; ".join(parts) or exc.detail


def _respond(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    extra: dict[str, Any] | None = None,
) -> Response[Any]:
    if request.url.path.startswith("/api") or request.url.path.startswith("/health"):
        body = {"status_code": status, "detail": detail, **(extra or {})}
        return Response(body, status_code=status, media_type=MediaType.JSON)
    if request.url.path.startswith("/dlna/"):  # TVs and players: a line of text, no page
        return Response(detail, status_code=status, media_type=MediaType.TEXT)
    return Template("error.html", context={"status": status, "detail": detail}, status_code=status)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    detail = describe_validation(exc) if isinstance(exc, ValidationException) else exc.detail
    extra = exc.extra if isinstance(exc.extra, dict) else None  # e.g. {"totp_required": true}
    response = _respond(request, exc.status_code, detail, extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path)
    return _respond(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Something went wrong on the server; it has been logged.",
    )


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # msgspec gives up on [[[[...]]]] nested thousands deep; that is the client's fault.
    log.warning("request too deeply nested", path=request.url.path)
    return _respond(request, HTTP_400_BAD_REQUEST, "the request body is nested too deeply")


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


def _storage(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A full disk is the household's to fix, not a bug: 507, said plainly, and the
    write it refused changed nothing (SQLite rolled it back)."""
    if not _is_disk_full(exc):
        return _internal(request, exc)
    log.error("the disk is full", path=request.url.path, error=str(exc))
    response = _respond(
        request,
        HTTP_507_INSUFFICIENT_STORAGE,
        "the server's disk is full, so nothing was saved; free some space and try again",
    )
    response.headers["Retry-After"] = "60"
    return response


HANDLERS: dict[Any, Any] = {
    HTTPException: _http,
    RecursionError: _too_deep,
    sqlite3.OperationalError: _storage,
    OSError: _storage,
    Exception: _internal,
}
