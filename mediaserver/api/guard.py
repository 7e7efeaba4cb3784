"""Every route needs a signed-in user, except the ones marked ``opt={"public": True}``.

Credentials, in order: ``Authorization: Bearer`` (an access token or an API key) and the web
session cookie.  The user lands in ``scope["user"]`` (``request.user``).  Without one, API
and media requests get 401 and pages a redirect to the sign-in page.  A request signed in by
the cookie that changes something (POST, PUT, PATCH, DELETE) must also carry the session's
CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``): another site can make the
browser send the cookie, not read the token.

Public routes are few and each says why: health, sign-in and set-up, static files, and the
HLS routes, which check their own signed, expiring token.  ``tests`` walk the route table
and fail on any other route that answers without credentials.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import time
from typing import Any
from urllib.parse import parse_qs, quote

from litestar import Request
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS
from litestar.types import ASGIApp, Receive, Scope, Send

from mediaserver.api.clients import request_address
from mediaserver.constant_time import same_secret

__all__ = ["SESSION_COOKIE", "AuthMiddleware", "RateLimiter", "csrf_token", "is_public", "respond"]

SESSION_COOKIE = "hearth_session"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token(server_secret: bytes, session: str) -> str:
    """The CSRF token of a web session: derived, so nothing more is stored."""
    return hmac.new(server_secret, f"csrf\n{session}".encode(), hashlib.sha256).hexdigest()[:32]


def is_public(handler: Any) -> bool:
    return bool(getattr(handler, "opt", {}).get("public"))


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == name and v:
                    return v
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


class AuthMiddleware:
    """ASGI middleware; Litestar runs it after routing, so the handler is known."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _malformed_media_path(scope):
            raise NotFoundException(detail="no such file")
        if is_public(scope.get("route_handler")):  # no sign-in work for segments and the like
            await self.app(scope, receive, send)
            return
        ctx = scope["app"].state.hearth
        limiter: RateLimiter | None = getattr(ctx, "rate_limiter", None)
        if _RATE_EXEMPT.match(scope.get("path", "")):
            limiter = None
        # Per address first, before any credential is looked at: a flood of made-up keys
        # is refused for the price of a dict lookup.
        if limiter is not None and (wait := limiter.take_address(_client(ctx, scope))):
            raise _too_many(wait)
        user, session = self._authenticate(ctx, scope)
        if user is not None:
            scope["user"] = user
            if session is not None:  # pages put it in their forms and the htmx header
                scope.setdefault("state", {})["csrf_token"] = csrf_token(ctx.auth.secret, session)
        if user is None:
            await self._refuse(scope, send)
            return
        if limiter is not None and (wait := limiter.take(f"user:{user.id}")):
            raise _too_many(wait)
        if session is not None and scope.get("method") in _UNSAFE:
            wanted = csrf_token(ctx.auth.secret, session)
            if not same_secret(_header(scope, b"x-csrf-token") or "", wanted):
                await self._check_form_then_run(scope, receive, send, wanted)
                return
        await self.app(scope, receive, send)

    def _authenticate(self, ctx: Any, scope: Scope) -> tuple[Any, str | None]:
        header = _header(scope, b"authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return ctx.auth.authenticate_bearer(token.strip()), None
        session = _cookie(scope, SESSION_COOKIE)
        if session:
            user = ctx.auth.user_for(session, "session")
            if user is not None:
                return user, session
        return None, None

    async def _check_form_then_run(
        self, scope: Scope, receive: Receive, send: Send, wanted: str
    ) -> None:
        """A form post: read the body, check ``csrf_token`` in it, replay it to the app."""
        content_type = _header(scope, b"content-type") or ""
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise _csrf_refused()
        chunks: list[bytes] = []
        size = 0
        while True:
            message: Any = await receive()
            body = bytes(message.get("body", b""))
            size += len(body)
            if size > 64 * 1024:
                raise _csrf_refused()
            chunks.append(body)
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        given = parse_qs(raw.decode("utf-8", "replace")).get("csrf_token", [""])[0]
        if not same_secret(given, wanted):
            raise _csrf_refused()
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        path = scope.get("path", "/")
        accept = _header(scope, b"accept") or ""
        wants_page = (
            scope.get("method") in ("GET", "HEAD")
            and not path.startswith("/api/")
            and "text/html" in accept
        )
        if wants_page:
            query = scope.get("query_string", b"").decode("latin-1")
            target = "/login?next=" + quote(path + (f"?{query}" if query else ""), safe="")
            await respond(send, 303, b"", [(b"location", target.encode())])
            return
        body = b'{"status_code":401,"detail":"sign in first: no valid session, token or API key"}'
        headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]
        await respond(send, 401, body, headers)


def _client(ctx: Any, scope: Scope) -> str:
    proxies = ctx.settings.server.trusted_proxies
    if not proxies:  # the usual case, and the cheap one
        client = scope.get("client")
        return str(client[0]) if client else "unknown"
    return request_address(Request(scope), proxies)


# Refusals are raised, not written: the app's error handlers answer JSON under /api and a
# page everywhere else, so a stale form shows a sentence instead of raw JSON.
class TooManyRequests(HTTPException):
    status_code = HTTP_429_TOO_MANY_REQUESTS


def _too_many(wait: float) -> TooManyRequests:
    return TooManyRequests(
        detail="too many requests; slow down a little",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def _csrf_refused() -> PermissionDeniedException:
    return PermissionDeniedException(detail="missing or wrong CSRF token; reload the page")


async def respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """A whole small response straight from ASGI (middleware and mounts)."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# Media and static requests come in bursts (segments, Range requests while seeking, a page of
# posters) and are never limited.
_RATE_EXEMPT = re.compile(
    r"^/api/v1/hls/|^/static/|^/api/v1/items/\d+/(file|image/|trickplay|chapters/|subtitles/|fonts/)"
)


# A static file's name: plain segments, none starting with a dot (so no "." or "..").
_STATIC_NAME = re.compile(r"^/static/(?:[\w-][\w.-]*/)*[\w-][\w.-]*$", re.ASCII)


def _malformed_media_path(scope: Scope) -> bool:
    """A media or static path no file could have: 404 before any handler sees it.

    Judged on the path as sent (``raw_path``): Litestar's router drops a trailing "/" (so
    ``poster/`` would serve the poster), and its static router answers 500 to an encoded
    NUL or a name that goes on below a file (``app.css%2Fx``).
    """
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else scope.get("path", "")
    if not _RATE_EXEMPT.match(path):
        return False
    return path.endswith("/") or (path.startswith("/static/") and not _STATIC_NAME.match(path))


class RateLimiter:
    """A token bucket per user (or address): ``per_minute`` requests, refilled steadily.

    A dict and two floats per key: Litestar's RateLimitMiddleware keeps a list of timestamps
    in an async store and cost 30 % of the API's requests a second here (bench/api.py).
    """

    # An address may carry several people (a household behind one NAT, a proxy's own
    # address when trusted_proxies is not set), so it gets several users' allowance.
    ADDRESS_FACTOR = 4

    def __init__(self, per_minute: int, clock: Any = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def take_address(self, address: str) -> float:
        return self.take(f"addr:{address}", self.ADDRESS_FACTOR)

    def take(self, key: str, factor: int = 1) -> float:
        """0 when the request may go; else the seconds until it could."""
        now = self._clock()
        capacity, rate = self.capacity * factor, self.rate * factor
        tokens, when = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - when) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 100_000:  # a flood of addresses: start again
            self._buckets.clear()
        return 0.0
