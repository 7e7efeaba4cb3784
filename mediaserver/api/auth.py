"""``/api/v1/auth``: sign in with a name and password, refresh, sign out, who am I.

Apps and TVs sign in once (``POST /login``; a two-factor account answers 401 with
``totp_required`` and a ``ticket``, and ``POST /login/code`` takes the ticket and the code,
so the app need not keep the password), use the 15-minute access token as
``Authorization: Bearer``, and swap the refresh token for a new pair before it runs out
(``POST /refresh``; each refresh token works once).  Too many failures answer 429 with
Retry-After, for the account and for the address alike.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    ValidationException,
)
from litestar.params import JSONBody
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from mediaserver.accounts.auth import (
    ACCESS_TTL_S,
    LockedOut,
    Login,
    TwoFactorRequired,
    WrongCode,
)
from mediaserver.accounts.passwords import WeakPassword
from mediaserver.accounts.users import User, UserError
from mediaserver.api.clients import request_address
from mediaserver.api.openapi import example, problem
from mediaserver.api.params import CredentialId
from mediaserver.context import AppContext

__all__ = ["PUBLIC", "AuthController", "answer"]

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
PUBLIC = {"public": True}  # signing in cannot require being signed in


class LoginBody(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Text
    device: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    totp: Annotated[str, msgspec.Meta(max_length=20)] | None = None


class TicketBody(msgspec.Struct, forbid_unknown_fields=True):
    ticket: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


class RefreshBody(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: Text


class CodeBody(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=6, max_length=20)]


class PasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    password: Text


class NewPasswordBody(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Text
    new_password: Text


class KeyBody(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class _TooMany(HTTPException):
    status_code = HTTP_429_TOO_MANY_REQUESTS


def _address(request: Request[Any, Any, Any], ctx: AppContext) -> str:
    return request_address(request, ctx.settings.server.trusted_proxies)


def _refused(exc: LockedOut | PermissionError) -> HTTPException:
    """A refused sign-in step as its answer: 429 with Retry-After, or 401 saying what next."""
    if isinstance(exc, LockedOut):
        return _TooMany(detail=str(exc), headers={"Retry-After": str(exc.retry_after)})
    extra: dict[str, Any] | None = None
    if isinstance(exc, TwoFactorRequired):  # the ticket stands for the password from now on
        extra = {"totp_required": True, "ticket": exc.ticket, "ticket_expires_in": exc.expires_in}
    elif isinstance(exc, WrongCode):
        extra = {"totp_required": True, "tries_left": exc.tries_left}
    return NotAuthorizedException(detail=str(exc), extra=extra)


def answer(login: Login) -> dict[str, Any]:
    return {
        "access_token": login.access_token,
        "token_type": "Bearer",
        "expires_in": login.expires_in,
        "refresh_token": login.refresh_token,
        "user": login.user.as_dict(),
    }


def current_user(request: Request[Any, Any, Any], ctx: AppContext) -> User:
    """The signed-in user (bearer token, API key or web session); 401 when there is none."""
    user = request.scope.get("user")
    if not isinstance(user, User):
        raise NotAuthorizedException(detail="sign in first: no valid access token or API key")
    return user


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post(
        "/login",
        status_code=200,
        sync_to_thread=True,
        opt=PUBLIC,
        summary="Sign in: access and refresh tokens",
        responses={401: problem(401, "Wrong or expired credentials: sign in again.")},
        operation_class=example(
            {
                "access_token": "hat_2.1796696659.b14cee1572bb2aa3f9d188c6cf02148a",
                "token_type": "Bearer",
                "expires_in": 900,
                "refresh_token": "hrt_OwybdAQv0cTBk-MgLO0dl3VBfxjDHNwl8MDHQax3O6I",
                "user": {"id": 2, "name": "sam", "is_admin": False, "libraries": []},
            },
            body={"username": "sam", "password": "a long household password", "device": "TV"},
        ),
    )
    def login(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[LoginBody],
    ) -> dict[str, Any]:
        try:
            login = ctx.auth.login(
                data.username,
                data.password,
                address=_address(request, ctx),
                device=data.device,
                totp=data.totp,
            )
        except (LockedOut, PermissionError) as exc:
            raise _refused(exc) from None
        return answer(login)

    @post(
        "/login/code",
        status_code=200,
        sync_to_thread=True,
        opt=PUBLIC,
        summary="Sign in, second step: the ticket from /login and a two-factor code",
        responses={401: problem(401, "Wrong or expired credentials: sign in again.")},
    )
    def login_code(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[TicketBody],
    ) -> dict[str, Any]:
        """A wrong code keeps the ticket (``tries_left`` says for how many more); an
        expired or used-up ticket means signing in with the password again."""
        try:
            login = ctx.auth.finish_login(data.ticket, data.code, address=_address(request, ctx))
        except (LockedOut, PermissionError) as exc:
            raise _refused(exc) from None
        return answer(login)

    @post(
        "/refresh",
        status_code=200,
        sync_to_thread=True,
        opt=PUBLIC,
        summary="A new token pair for a refresh token",
        responses={401: problem(401, "Wrong or expired credentials: sign in again.")},
    )
    def refresh(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[RefreshBody],
    ) -> dict[str, Any]:
        try:
            return answer(ctx.auth.refresh(data.refresh_token, address=_address(request, ctx)))
        except PermissionError as exc:
            raise NotAuthorizedException(detail=str(exc)) from None

    @post(
        "/logout",
        status_code=204,
        sync_to_thread=True,
        opt=PUBLIC,
        summary="Revoke a refresh token",
    )
    def logout(self, ctx: NamedDependency[AppContext], data: JSONBody[RefreshBody]) -> None:
        ctx.auth.revoke_secret(data.refresh_token)

    @get("/me", sync_to_thread=False, summary="The signed-in user")
    def me(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> dict[str, Any]:
        return current_user(request, ctx).as_dict()

    @post("/password", status_code=200, sync_to_thread=True, summary="Change your password")
    def change_password(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[NewPasswordBody],
    ) -> dict[str, Any]:
        """Every session, token and API key of the account stops working; this answer
        carries a fresh pair for the app that asked, so it stays signed in."""
        user = current_user(request, ctx)
        if ctx.users.authenticate(user.name, data.current_password) is None:
            raise NotAuthorizedException(detail="the current password is wrong")
        try:
            ctx.users.set_password(user.id, data.new_password)
        except (UserError, WeakPassword) as exc:
            raise ValidationException(detail=str(exc)) from None
        address = _address(request, ctx)
        refresh = ctx.auth.issue(
            user.id, "refresh", device=request.headers.get("user-agent", "")[:100], address=address
        )
        return answer(Login(user, ctx.auth.access_token(user.id), refresh, ACCESS_TTL_S))

    @get("/keys", sync_to_thread=False, summary="Your API keys (never the keys themselves)")
    def keys(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> dict[str, Any]:
        user = current_user(request, ctx)
        rows = [c for c in ctx.auth.credentials(user.id) if c["kind"] == "api_key"]
        return {
            "keys": [{k: c[k] for k in ("id", "name", "created_at", "last_used_at")} for c in rows]
        }

    @post("/keys", sync_to_thread=True, summary="A new API key, shown this once")
    def new_key(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[KeyBody],
    ) -> dict[str, Any]:
        user = current_user(request, ctx)
        key = ctx.auth.issue(user.id, "api_key", name=data.name.strip())
        created = ctx.auth.describe(key)
        assert created is not None
        return {"id": created["id"], "name": created["name"], "key": key}

    @get("/sessions", sync_to_thread=False, summary="Where you are signed in")
    def sessions(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> dict[str, Any]:
        user = current_user(request, ctx)
        rows = [c for c in ctx.auth.credentials(user.id) if c["kind"] != "api_key"]
        return {"sessions": rows}

    @post("/totp", sync_to_thread=True, summary="Start two-factor set-up: secret and QR code")
    def totp_enrol(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> dict[str, Any]:
        user = current_user(request, ctx)
        return ctx.auth.two_factor.enrol(user.id, user.name)

    @post("/totp/confirm", status_code=200, sync_to_thread=True, summary="Turn two-factor on")
    def totp_confirm(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[CodeBody],
    ) -> dict[str, Any]:
        user = current_user(request, ctx)
        codes = ctx.auth.two_factor.confirm(user.id, data.code.strip())
        if codes is None:
            raise ValidationException(detail="that code does not match; check the app's clock")
        return {"enabled": True, "recovery_codes": codes}

    @post("/totp/disable", status_code=200, sync_to_thread=True, summary="Turn two-factor off")
    def totp_disable(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[PasswordBody],
    ) -> dict[str, Any]:
        user = current_user(request, ctx)
        if ctx.users.authenticate(user.name, data.password) is None:
            raise NotAuthorizedException(detail="wrong password")
        ctx.auth.two_factor.disable(user.id)
        return {"enabled": False}

    @delete(
        "/keys/{credential_id:int}",
        status_code=204,
        sync_to_thread=True,
        summary="Revoke an API key",
    )
    def revoke_key(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        credential_id: CredentialId,
    ) -> None:
        _revoke(request, ctx, credential_id, "api_key")

    @delete(
        "/sessions/{credential_id:int}",
        status_code=204,
        sync_to_thread=True,
        summary="Sign a device out",
    )
    def revoke_session(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        credential_id: CredentialId,
    ) -> None:
        _revoke(request, ctx, credential_id, "session", "refresh")


def _revoke(
    request: Request[Any, Any, Any], ctx: AppContext, credential_id: int, *kinds: str
) -> None:
    user = current_user(request, ctx)
    mine = {c["id"] for c in ctx.auth.credentials(user.id) if c["kind"] in kinds}
    # Someone else's credential answers exactly like one that does not exist.
    if credential_id not in mine or not ctx.auth.revoke(user.id, credential_id):
        what = "API key" if "api_key" in kinds else "session"
        raise NotFoundException(detail=f"you have no such {what}")
