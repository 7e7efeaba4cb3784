"""Errors people can read: JSON under ``/api``, an HTML page everywhere else.

A bad parameter names itself, in words: "year: must be a whole number", "limit: must be
at most 500", "sort: 'x' is not one of title, year", never just "Validation failed" and never
msgspec's "Expected `int | null`, got `str`".  The JSON keeps its shape
(``status_code``, ``detail``, and any extra fields) and the names of the fields.
"""

from __future__ import annotations

import enum
import re
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args, get_origin

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.response import Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_507_INSUFFICIENT_STORAGE,
)

from mediaserver.db.database import is_disk_full
from mediaserver.library.links import OutsideLibrary
from mediaserver.words import plural

__all__ = [
    "HANDLERS",
    "RepeatedErrors",
    "describe_validation",
    "invalid_parameter",
    "plain_problem",
]

log = structlog.get_logger(__name__)


def invalid_parameter(key: str, message: str) -> ValidationException:
    """A 400 whose detail reads ``key: message``, like Litestar's own parameter errors."""
    return ValidationException(
        detail="invalid parameter", extra=[{"key": key, "message": message, "source": "query"}]
    )


_TYPES = {
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "bool": "true or false",
    "array": "a list",
    "object": "a JSON object",
    "datetime": "a date and time such as 2025-12-03T14:05:00Z",
    "date": "a date such as 2025-12-03",
}
_COMPARE = {">=": "at least", "<=": "at most", ">": "more than", "<": "less than"}
_WRONG_TYPE = re.compile(r"Expected `(?P<type>[^`]+)`, got `[^`]+`")
_BOUND = re.compile(r"Expected `(?P<type>[^`]+)` (?P<op>[<>]=?) (?P<n>\S+)")
_LENGTH = re.compile(r"Expected `(?P<type>[^`]+)` of length (?P<op>[<>]=?) (?P<n>\d+)")
_FIELD = re.compile(r"Object (?P<what>missing required|contains unknown) field `(?P<field>[^`]+)`")
_MISSING = re.compile(r"Missing required \w+ parameter '(?P<field>[^']+)'")
_ENUM = re.compile(r"Invalid enum value (?P<value>.+)")
_BAD_JSON = ("JSON is malformed", "Input data was truncated")  # msgspec, via ClientException


def _kind(type_text: str) -> str:
    names = [t.strip() for t in type_text.split("|") if t.strip() != "null"]
    return _TYPES.get(names[0], "a valid value") if len(names) == 1 else "a valid value"


def plain_problem(key: str | None, message: str, choices: Sequence[str] = ()) -> str:
    """One of Litestar's or msgspec's validation messages in words: ``key: what is
    wanted``; ``choices`` are the allowed values when the handler's signature names them."""
    message = message.strip()
    said: str | None = None
    named = False  # the key is a field the message names (even one called "data")
    if found := _FIELD.fullmatch(message):
        key, named = found["field"], True
        said = "is required" if found["what"] == "missing required" else "is not a known field"
    elif found := _MISSING.match(message):
        key, said, named = found["field"], "is required", True
    elif message.startswith("Unsupported type") and key:  # text where a file part belongs
        said, named = "must be a file", True
    elif found := _WRONG_TYPE.fullmatch(message):
        said = f"must be {_kind(found['type'])}"
        if key == "data":  # the whole body
            key, said = None, f"the request body must be {_kind(found['type'])}"
    elif found := _LENGTH.fullmatch(message):
        count = int(found["n"])
        if found["op"] == ">=" and count == 1:
            said = "must not be empty"
        else:
            unit = ("character", None) if _kind(found["type"]) == "text" else ("entry", "entries")
            said = f"must have {_COMPARE[found['op']]} {plural(count, *unit)}"
    elif found := _BOUND.fullmatch(message):
        said = f"must be {_COMPARE[found['op']]} {found['n']}"
    elif message.startswith("Expected `") and "matching regex" in message:
        said = "is not in the form expected here"
    elif found := _ENUM.fullmatch(message):
        said = f"{found['value']} is not one of the choices"
        if choices:
            said = f"{found['value']} is not one of {', '.join(choices)}"
    elif message.startswith(_BAD_JSON):
        key, said = None, "the request body is not valid JSON"
    if said is None:  # something unforeseen: keep its words, lose the code marks
        said = message.replace("`", "")
        if "Expected" in said:
            said = "is not a valid value"
    return f"{key}: {said}" if key and (named or key != "data") else said


def _choices(request: Request[Any, Any, Any], key: str) -> list[str]:
    """The allowed values of a query parameter typed as a Literal or an Enum."""
    signature = getattr(request.scope.get("route_handler"), "parsed_fn_signature", None)
    field = signature.parameters.get(key) if signature is not None else None
    found: list[str] = []
    pending = [field.annotation] if field is not None else []
    while pending:
        annotation = pending.pop(0)
        if get_origin(annotation) is Literal:
            found += [str(v) for v in get_args(annotation)]
        elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            found += [str(member.value) for member in annotation]
        else:
            pending += [a for a in get_args(annotation) if a is not type(None)]
    return found


def describe_validation(
    exc: ValidationException, request: Request[Any, Any, Any] | None = None
) -> str:
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for problem in problems:
        if isinstance(problem, dict) and problem.get("message"):
            key = problem.get("key")
            choices = _choices(request, key) if request is not None and key else []
            parts.append(plain_problem(key, str(problem["message"]), choices))
    return "; ".join(parts) or plain_problem(None, exc.detail)


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
    detail = exc.detail
    if isinstance(exc, ValidationException):
        detail = describe_validation(exc, request)
    elif isinstance(exc, ClientException) and detail.startswith(_BAD_JSON):
        detail = plain_problem(None, detail)
    extra = exc.extra if isinstance(exc.extra, dict) else None  # e.g. {"totp_required": true}
    response = _respond(request, exc.status_code, detail, extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


class RepeatedErrors:
    """Which unexpected errors have been logged, so one client repeating a request that
    fails cannot fill the disk with tracebacks (one LAN client managed ~1.8 MB/s).

    The first error of a kind (the client's address, the exception's type, the route) is
    logged whole, traceback and all; the same again is only counted, and the count is
    logged in one line at most once a ``window``.  At most ``size`` kinds are remembered,
    the least recently seen forgotten first, so a flood of new kinds stays small too.
    """

    def __init__(
        self, window: float = 60.0, size: int = 256, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window, self.size, self.clock = window, size, clock
        self._seen: OrderedDict[tuple[str, ...], list[float]] = OrderedDict()  # [since, count]

    def record(self, key: tuple[str, ...]) -> int | None:
        """None: log this one whole; 0: only counted; n > 0: log that it came n times more
        (this one included) since it was last logged."""
        now = self.clock()
        entry = self._seen.get(key)
        if entry is None:
            self._seen[key] = [now, 0]
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
            return None
        self._seen.move_to_end(key)
        entry[1] += 1
        if now - entry[0] < self.window:
            return 0
        count, entry[0], entry[1] = int(entry[1]), now, 0
        return count


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    client = request.client.host if request.client else "unknown"
    route = str(request.scope.get("path_template") or request.url.path)
    repeated: RepeatedErrors | None = request.app.state.get("repeated_errors")
    seen = repeated.record((client, type(exc).__name__, route)) if repeated else None
    if seen is None:
        log.exception("unhandled error", path=request.url.path, client=client)
    elif seen:
        log.error(  # no traceback: it was logged the first time
            "the same unhandled error again",
            path=request.url.path,
            client=client,
            error=type(exc).__name__,
            times=seen,
        )
    return _respond(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Something went wrong on the server; it has been logged.",
    )


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Any]:
    # msgspec gives up on [[[[...]]]] nested thousands deep; that is the client's fault.
    log.warning("request too deeply nested", path=request.url.path)
    return _respond(request, HTTP_400_BAD_REQUEST, "the request body is nested too deeply")


def _storage(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A full disk is the household's to fix, not a bug: 507, said plainly, and the
    write it refused changed nothing (SQLite rolled it back)."""
    if not is_disk_full(exc):
        return _internal(request, exc)
    log.error("the disk is full", path=request.url.path, error=str(exc))
    response = _respond(
        request,
        HTTP_507_INSUFFICIENT_STORAGE,
        "the server's disk is full, so nothing was saved; free some space and try again",
    )
    response.headers["Retry-After"] = "60"
    return response


def _outside(request: Request[Any, Any, Any], exc: OutsideLibrary) -> Response[Any]:
    # A file whose link now leads out of its library: as absent as a hidden item (404).
    log.warning("file outside its library not served", path=request.url.path, reason=str(exc))
    return _respond(request, HTTP_404_NOT_FOUND, str(exc))


HANDLERS: dict[Any, Any] = {
    OutsideLibrary: _outside,
    HTTPException: _http,
    RecursionError: _too_deep,
    sqlite3.OperationalError: _storage,
    OSError: _storage,
    Exception: _internal,
}
