"""Sign-in, sign-out and the first-run set-up page (web sessions in an HttpOnly cookie).

Two-factor accounts sign in in two steps: the password page, then a page that asks only for
the code and carries the ticket the password earned (``accounts/tickets.py``), so a wrong
code never costs the password.

Set-up is not an open wizard: while no admin exists, ``mediaserver serve`` prints a link
with a one-time random code, and only that link creates the first admin.  Afterwards the
set-up page answers 403.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from mediaserver.accounts.auth import (
    SESSION_TTL_S,
    LockedOut,
    SignInExpired,
    TwoFactorRequired,
    WrongCode,
)
from mediaserver.accounts.passwords import WeakPassword
from mediaserver.accounts.picker import PickerPerson
from mediaserver.accounts.users import UserError
from mediaserver.api.clients import from_home_network, request_address
from mediaserver.api.guard import SESSION_COOKIE
from mediaserver.constant_time import same_secret
from mediaserver.context import AppContext

__all__ = [
    "Form",
    "FormWithLists",
    "SignInController",
    "form_value",
    "form_values",
    "password_page",
    "picker_usable",
    "safe_next",
    "sentence",
    "signed_in",
]

Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
# A field that repeats (checkboxes, chosen folders) arrives as a list, a single one as text.
FormWithLists = Annotated[
    dict[str, str | list[str]], Body(media_type=RequestEncodingType.URL_ENCODED)
]
PUBLIC = {"public": True}
WRONG_CODE = "That code is wrong or was already used. Try the code your app shows now."
TOO_MANY_CODES = "Too many wrong codes. Enter your password again."
EXPIRED = "That sign-in took too long. Enter your password again."


def form_value(form: dict[str, str | list[str]], key: str) -> str:
    """One field's value (the last, should it repeat); empty when absent."""
    value = form.get(key, "")
    return value[-1] if isinstance(value, list) else value


def form_values(form: dict[str, str | list[str]], key: str) -> list[str]:
    """Every value of a field that may repeat."""
    value = form.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def sentence(message: object) -> str:
    """An error as a sentence for a page: first letter up, one full stop, nothing else
    changed (``str.capitalize`` would lower-case "SVG" and "JPEG")."""
    text = str(message).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def safe_next(value: str | None) -> str:
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


def password_page(status: int, message: str | None, next_url: str, name: str) -> Template:
    return _page("Sign in", "/login", "Sign in", status, message=message, next=next_url,
                 username=name)  # fmt: skip


def _code_page(status: int, message: str | None, next_url: str, name: str, ticket: str) -> Template:
    """The second step of a two-factor sign-in: only the code, the password stays behind."""
    return _page("Enter your code", "/login/code", "Sign in", status, message=message,
                 next=next_url, username=name, ticket=ticket, step="code")  # fmt: skip


def picker_usable(ctx: AppContext, request: Request[Any, Any, Any]) -> bool:
    """The admin turned the profile picker on and this request comes from the home network
    (``ui/picker.py``)."""
    return ctx.profile.get().profile_picker and from_home_network(request.scope)


def _picker_people(ctx: AppContext, request: Request[Any, Any, Any]) -> list[PickerPerson]:
    """The tiles to show this request: nobody unless the picker may be used here."""
    return ctx.auth.picker.people() if picker_usable(ctx, request) else []


def signed_in(
    ctx: AppContext, request: Request[Any, Any, Any], user_id: int, next_url: str
) -> Response[Any]:
    address = request_address(request, ctx.settings.server.trusted_proxies)
    device = (request.headers.get("user-agent") or "browser")[:100]
    session = ctx.auth.issue(user_id, "session", device=device, address=address)
    response = Redirect(safe_next(next_url), status_code=303)
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

    @get("/login", opt=PUBLIC, sync_to_thread=True)
    def login_page(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        next: FromQuery[str | None] = None,
        password: FromQuery[bool] = False,
    ) -> Template:
        """The profile picker when it may be used here (``?password=true``: the form)."""
        people = _picker_people(ctx, request)
        if people and not password:
            return _page("Who is watching?", "/login/picker", "Sign in", next=safe_next(next),
                         step="picker", people=people)  # fmt: skip
        return _page("Sign in", "/login", "Sign in", next=safe_next(next), picker=bool(people))

    @post("/login", opt=PUBLIC, sync_to_thread=True)
    def login(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        """The password step; a two-factor account goes on to the code step."""
        name, next_url = data.get("username", ""), safe_next(data.get("next"))
        try:
            login = ctx.auth.login(
                name[:64],
                data.get("password", "")[:256],
                address=request_address(request, ctx.settings.server.trusted_proxies),
                device=request.headers.get("user-agent", "")[:200] or None,  # for the activity log
            )
        except LockedOut as exc:
            return password_page(429, sentence(exc), next_url, name)
        except TwoFactorRequired as exc:
            return _code_page(200, None, next_url, name, exc.ticket)
        except PermissionError:
            return password_page(401, "Wrong user name or password.", next_url, name)
        ctx.auth.revoke_secret(login.refresh_token)  # the browser uses a session, not tokens
        return signed_in(ctx, request, login.user.id, next_url)

    @post("/login/code", opt=PUBLIC, sync_to_thread=True)
    def login_code(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        """The code step: the ticket from the password step and a code; never a password."""
        ticket, next_url = data.get("ticket", "")[:100], safe_next(data.get("next"))
        name = data.get("username", "")[:64]  # only shown back ("Signing in as ...")
        try:
            login = ctx.auth.finish_login(
                ticket,
                data.get("code", "")[:20],
                address=request_address(request, ctx.settings.server.trusted_proxies),
            )
        except LockedOut as exc:
            return _code_page(429, sentence(exc), next_url, name, ticket)
        except WrongCode as exc:
            if exc.tries_left:
                return _code_page(401, WRONG_CODE, next_url, name, ticket)
            return password_page(401, TOO_MANY_CODES, next_url, name)
        except SignInExpired:
            return password_page(401, EXPIRED, next_url, name)
        ctx.auth.revoke_secret(login.refresh_token)
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
        return signed_in(ctx, request, user.id, "/setup/server")  # then the first-run wizard

    def _check_code(self, ctx: AppContext, code: str | None) -> None:
        expected = ctx.setup_code
        if ctx.users.has_admin() or expected is None:
            raise PermissionDeniedException(detail="set-up is done; sign in instead")
        if not code or not same_secret(code, expected):
            raise PermissionDeniedException(
                detail="this set-up link is not valid; use the one the server printed"
            )
