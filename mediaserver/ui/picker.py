"""The profile picker on the sign-in page: tiles of the household, each with an optional PIN.

Shown only when the admin turned it on *and* the request comes from the home network by the
rule DLNA uses (``api.clients.from_home_network``: the connection and every address a
forwarding header names are private, link-local or loopback).  Anyone else gets the
ordinary form and no names.  Every post checks both again, so a tile cannot be replayed
from outside.  A tile posts ``person``; a tile with a PIN comes back as the PIN step, and
the PIN goes through :meth:`AuthService.picker_login`, which counts wrong PINs like wrong
passwords.  Admins' and two-factor accounts' tiles lead to the password form.

Like the password form the picker is public, so there is no session to bind a CSRF token
to; instead a post whose ``Origin`` is another site is refused (another site could
otherwise sign a home browser in as a person without a PIN).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Template

from mediaserver.accounts.auth import LockedOut
from mediaserver.accounts.picker import PickerPerson
from mediaserver.api.clients import request_address
from mediaserver.api.params import UserId
from mediaserver.context import AppContext
from mediaserver.ui.signin import (
    PUBLIC,
    Form,
    password_page,
    picker_usable,
    safe_next,
    sentence,
    signed_in,
)

__all__ = ["PickerController"]

WRONG_PIN = "That PIN is wrong."
USE_PASSWORD = "Admins and people with two-factor sign-in always sign in with their password."


def _pin_page(status: int, message: str | None, next_url: str, person: PickerPerson) -> Template:
    return Template(
        "signin.html",
        context={"heading": "Enter your PIN", "action": "/login/picker", "button": "Sign in",
                 "step": "pin", "person": person, "message": message, "next": next_url},
        status_code=status,
    )  # fmt: skip


def _same_site(request: Request[Any, Any, Any]) -> bool:
    origin = request.headers.get("origin")
    if origin is None:  # old browsers and curl send none; browsers always do on a post
        return True
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


class PickerController(Controller):
    include_in_schema = False

    @get("/login/picker/{user_id:int}/picture", opt=PUBLIC, sync_to_thread=True)
    def picture(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
    ) -> Response[bytes]:
        """A tile's picture, for a signed-out page: only while the picker may be used here
        and the person is on it (the API's picture route needs a signed-in viewer)."""
        person = ctx.auth.picker.person(user_id) if picker_usable(ctx, request) else None
        found = ctx.users.avatar(user_id) if person is not None else None
        if found is None:
            raise NotFoundException(detail="no such picture")
        data, content_type, _ = found
        return Response(data, media_type=content_type, headers={"Cache-Control": "no-store"})

    @post("/login/picker", opt=PUBLIC, sync_to_thread=True)
    def pick(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        """A tile (``person``), and on the PIN step its ``pin`` too."""
        next_url = safe_next(data.get("next"))
        if not _same_site(request):
            raise PermissionDeniedException(detail="this sign-in came from another site")
        if not picker_usable(ctx, request):
            return password_page(403, "Sign in with your name and password.", next_url, "")
        raw = data.get("person", "")
        person = (
            ctx.auth.picker.person(int(raw))
            if raw.isascii() and raw.isdigit() and len(raw) < 10
            else None
        )
        if person is None:
            return password_page(404, "That person is not on the list any more.", next_url, "")
        if person.needs_password:
            return password_page(200, USE_PASSWORD, next_url, person.name)
        pin = data.get("pin")
        if person.has_pin and pin is None:
            return _pin_page(200, None, next_url, person)
        try:
            login = ctx.auth.picker_login(
                person.id,
                (pin or "")[:20],
                address=request_address(request, ctx.settings.server.trusted_proxies),
                device=request.headers.get("user-agent", "")[:200] or None,
            )
        except LockedOut as exc:
            if not person.has_pin:
                return password_page(429, sentence(exc), next_url, person.name)
            return _pin_page(429, sentence(exc), next_url, person)
        except PermissionError:
            return _pin_page(401, WRONG_PIN, next_url, person)
        ctx.auth.revoke_secret(login.refresh_token)  # the browser uses a session, not tokens
        return signed_in(ctx, request, login.user.id, next_url)
