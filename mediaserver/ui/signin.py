"""Sign-in, sign-out and the first-run set-up page (web sessions in an HttpOnly cookie).

Set-up is not an open wizard: while no admin exists, ``mediaserver serve`` prints a link
with a one-time random code, and only that link creates the first admin.  Afterwards the
set-up page answers 403.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from mediaserver.accounts.auth import SESSION_TTL_S, LockedOut, TwoFactorRequired
from mediaserver.accounts.passwords import WeakPassword
from mediaserver.accounts.users import UserError
from mediaserver.api.clients import request_address
from mediaserver.api.guard import SESSION_COOKIE
from mediaserver.context import AppContext

__all__ = ["Form", "SignInController", "sentence", "signed_in"]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
PUBLIC = {"public": True}


def sentence(message: object) -> str:
    """An error as a sentence for a page: first letter up, one full stop, nothing else
    changed (``str.capitalize`` would lower-case "SVG" and "JPEG")."""
    text = str(message).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _safe_next(value: str | None) -> str:
    """Only a path on this server: never ``//evil.example`` or ``https://...``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _page(heading: str, action: str, button: str, status: int = 200, **context: Any) -> Template:
    return Template(
        "signin.html",
        context={"heading": heading, "action": action, "button": button, **context},
        status_code=status,
    )


def signed_in(
    ctx: AppContext, request: Request[Any, Any, Any], user_id: int, next_url: str
) -> Response[Any]:
    address = request_address(request, ctx.settings.server.trusted_proxies)
    device = (request.headers.get("user-agent") or "browser")[:100]
    session = ctx.auth.issue(user_id, "session", device=device, address=address)
    response = Redirect(_safe_next(next_url), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_TTL_S,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


class SignInController(Controller):
    include_in_schema = False

    @get("/login", opt=PUBLIC, sync_to_thread=False)
    def login_page(self, next: FromQuery[str | None] = None) -> Template:
        return _page("Sign in", "/login", "Sign in", next=_safe_next(next))

    @post("/login", opt=PUBLIC, sync_to_thread=True)
    def login(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        name, next_url = data.get("username", ""), _safe_next(data.get("next"))
        address = request_address(request, ctx.settings.server.trusted_proxies)
        try:
            login = ctx.auth.login(
                name[:64],
                data.get("password", "")[:256],
                address=address,
                device=request.headers.get("user-agent", "")[:200] or None,  # for the activity log
                totp=data.get("totp") or None,
            )
        except LockedOut as exc:
            return _page(
                "Sign in",
                "/login",
                "Sign in",
                429,
                message=sentence(exc),
                next=next_url,
                username=name,
            )
        except TwoFactorRequired:
            return _page(
                "Sign in",
                "/login",
                "Sign in",
                401,
                message="Enter the code from your authenticator app.",
                next=next_url,
                username=name,
            )
        except PermissionError:
            return _page(
                "Sign in",
                "/login",
                "Sign in",
                401,
                message="Wrong user name or password.",
                next=next_url,
                username=name,
            )
        ctx.auth.revoke_secret(login.refresh_token)  # the browser uses a session, not tokens
        return signed_in(ctx, request, login.user.id, next_url)

    @post("/logout", sync_to_thread=True)
    def logout(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Response[Any]:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            ctx.auth.revoke_secret(session)
        response = Redirect("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/setup", opt=PUBLIC, sync_to_thread=False)
    def setup_page(
        self, ctx: NamedDependency[AppContext], code: FromQuery[str | None] = None
    ) -> Template:
        self._check_code(ctx, code)
        return _page("Create the first admin", "/setup", "Create admin", code=code)

    @post("/setup", opt=PUBLIC, sync_to_thread=True)
    def setup(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        code = data.get("code")
        self._check_code(ctx, code)
        name = data.get("username", "")
        try:
            user = ctx.users.create(name, data.get("password", ""), admin=True)
        except (UserError, WeakPassword) as exc:
            return _page(
                "Create the first admin",
                "/setup",
                "Create admin",
                400,
                code=code,
                message=sentence(exc),
                username=name,
            )
        ctx.setup_code = None  # used up
        return signed_in(ctx, request, user.id, "/")

    def _check_code(self, ctx: AppContext, code: str | None) -> None:
        expected = ctx.setup_code
        if ctx.users.has_admin() or expected is None:
            raise PermissionDeniedException(detail="set-up is done; sign in instead")
        if not code or not hmac.compare_digest(code, expected):
            raise PermissionDeniedException(
                detail="this set-up link is not valid; use the one the server printed"
            )
