"""Your own account in the web UI: profile picture, password, two-factor, sign-ins, API keys,
and the page that approves a TV's pairing code.

Forms post back here with the session's CSRF token and land on ``/profile`` again (post,
redirect, get); a result to show comes back as a fixed message key, never as text from the
query string.  Secrets shown once (a new API key, recovery codes) are rendered in the
answer to the post itself and never stored in a URL.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template

from mediaserver.accounts.auth import LockedOut
from mediaserver.accounts.pairing import PairingError
from mediaserver.accounts.passwords import WeakPassword
from mediaserver.accounts.picker import PinError
from mediaserver.accounts.preferences import PreferenceError, Preferences
from mediaserver.accounts.users import User, UserError
from mediaserver.api.access import viewer
from mediaserver.api.guard import SESSION_COOKIE
from mediaserver.api.params import CredentialId
from mediaserver.api.users import MAX_AVATAR_BYTES, AvatarUpload
from mediaserver.context import AppContext
from mediaserver.imaging import AVATAR_CONTENT_TYPE, ImageRejected, normalise_avatar
from mediaserver.ui.signin import Form, sentence, signed_in

__all__ = ["AccountController"]

# Offered on the profile page (ISO 639-3 -> name); the API takes any language babelfish knows.
LANGUAGES = {
    "eng": "English", "fra": "French", "deu": "German", "spa": "Spanish", "ita": "Italian",
    "por": "Portuguese", "nld": "Dutch", "swe": "Swedish", "nor": "Norwegian", "dan": "Danish",
    "fin": "Finnish", "pol": "Polish", "ces": "Czech", "hun": "Hungarian", "ell": "Greek",
    "tur": "Turkish", "rus": "Russian", "ukr": "Ukrainian", "ara": "Arabic", "heb": "Hebrew",
    "hin": "Hindi", "jpn": "Japanese", "kor": "Korean", "zho": "Chinese", "tha": "Thai",
    "vie": "Vietnamese", "ind": "Indonesian",
}  # fmt: skip
MESSAGES = {
    "password": "Password changed. Every other device has been signed out.",
    "revoked": "Signed out that device.",
    "key-revoked": "API key revoked.",
    "totp-off": "Two-factor sign-in is off.",
    "picture": "Profile picture updated.",
    "preferences": "Preferences saved.",
    "picture-removed": "Profile picture removed.",
    "picker": "Profile picker choices saved.",
}


def profile_page(
    ctx: AppContext,
    request: Request[Any, Any, Any],
    *,
    status: int = 200,
    message: str | None = None,
    error: str | None = None,
    **extra: Any,
) -> Template:
    user = viewer(request)
    session = request.cookies.get(SESSION_COOKIE)
    current = ctx.auth.describe(session) if session else None
    credentials = ctx.auth.credentials(user.id)
    context = {
        "user": user,
        "has_avatar": ctx.users.avatar(user.id) is not None,
        "preferences": ctx.users.preferences(user.id),
        "languages": LANGUAGES,
        "two_factor": ctx.auth.two_factor.enabled(user.id),
        "on_picker": ctx.auth.picker.is_on(user.id),
        "has_pin": ctx.auth.picker.has_pin(user.id),
        "picker_enabled": ctx.profile.get().profile_picker,
        "recovery_left": ctx.auth.two_factor.recovery_left(user.id),
        "sessions": [c for c in credentials if c["kind"] != "api_key"],
        "keys": [c for c in credentials if c["kind"] == "api_key"],
        "current_id": current["id"] if current else None,
        "message": message,
        "error": error,
        **extra,
    }
    return Template("profile.html", context=context, status_code=status)


class AccountController(Controller):
    include_in_schema = False

    @get("/profile", sync_to_thread=True)
    def profile(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return profile_page(ctx, request, message=MESSAGES.get(done or ""))

    @post("/profile/password", sync_to_thread=True)
    def change_password(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        user = viewer(request)
        if ctx.users.authenticate(user.name, data.get("current", "")[:256]) is None:
            return profile_page(ctx, request, status=400, error="The current password is wrong.")
        if data.get("new", "") != data.get("again", ""):
            return profile_page(ctx, request, status=400, error="The new passwords differ.")
        try:
            ctx.users.set_password(user.id, data.get("new", ""))
        except (UserError, WeakPassword) as exc:
            return profile_page(ctx, request, status=400, error=sentence(exc))
        # Every session ended, this one too: a fresh one keeps this browser signed in.
        return signed_in(ctx, request, user.id, "/profile?done=password")

    @post("/profile/preferences", sync_to_thread=True)
    def save_preferences(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        mode = data.get("subtitle_mode", "forced")
        try:
            wanted = msgspec.convert(
                {
                    "audio_language": data.get("audio_language") or None,
                    "subtitle_language": data.get("subtitle_language") or None,
                    "subtitle_mode": mode,
                    "autoplay_next": data.get("autoplay_next") == "on",
                },
                Preferences,
            )
            ctx.users.set_preferences(viewer(request).id, wanted)
        except (msgspec.ValidationError, PreferenceError) as exc:
            return profile_page(ctx, request, status=400, error=sentence(exc))
        return Redirect("/profile?done=preferences", status_code=303)

    @post("/profile/picture", request_max_body_size=MAX_AVATAR_BYTES + 64 * 1024)
    async def upload_picture(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: Annotated[AvatarUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Response[Any]:
        user = viewer(request)
        raw = await data.data.read(MAX_AVATAR_BYTES + 1)
        try:
            picture = await asyncio.to_thread(normalise_avatar, raw, max_bytes=MAX_AVATAR_BYTES)
        except ImageRejected as exc:
            # 200 for htmx, which posts this form (a multipart form needs its CSRF header)
            # and swaps only successful answers in.
            status = 200 if request.headers.get("hx-request") == "true" else 400
            error = sentence(exc)
            return await asyncio.to_thread(profile_page, ctx, request, status=status, error=error)
        await asyncio.to_thread(ctx.users.set_avatar, user.id, picture, AVATAR_CONTENT_TYPE)
        return Redirect("/profile?done=picture", status_code=303)

    @post("/profile/picture/remove", sync_to_thread=True)
    def remove_picture(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Response[Any]:
        ctx.users.remove_avatar(viewer(request).id)
        return Redirect("/profile?done=picture-removed", status_code=303)

    @post("/profile/picker", sync_to_thread=True)
    def save_picker(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        """On the picker or not, and the PIN.  Anything that makes signing in easier (being
        on it, a new PIN, no PIN) needs the password; leaving the picker does not."""
        user = viewer(request)
        show, pin = data.get("show") == "on", data.get("pin", "").strip()[:20]
        remove_pin = data.get("remove_pin") == "on"
        if (show or pin or remove_pin) and ctx.users.authenticate(
            user.name, data.get("password", "")[:256]
        ) is None:
            return profile_page(ctx, request, status=400, error="The password is wrong.")
        try:
            if pin:
                ctx.auth.picker.set_pin(user.id, pin)
            elif remove_pin:
                ctx.auth.picker.set_pin(user.id, None)
        except PinError as exc:
            return profile_page(ctx, request, status=400, error=sentence(exc))
        ctx.auth.picker.show(user.id, show)
        return Redirect("/profile?done=picker", status_code=303)

    @post("/profile/totp", sync_to_thread=True)
    def start_two_factor(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Template:
        user = viewer(request)
        enrolment = ctx.auth.two_factor.enrol(user.id, user.name)
        return profile_page(ctx, request, enrolling=True, totp_secret=enrolment["secret"])

    @get("/profile/totp.svg", sync_to_thread=True)
    def two_factor_qr(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Response[str]:
        user = viewer(request)
        svg = ctx.auth.two_factor.pending_qr(user.id, user.name)
        if svg is None:
            raise NotFoundException(detail="no two-factor set-up is in progress")
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "no-store"})

    @post("/profile/totp/confirm", sync_to_thread=True)
    def confirm_two_factor(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Template:
        user = viewer(request)
        codes = ctx.auth.two_factor.confirm(user.id, data.get("code", "").strip()[:20])
        if codes is None:
            return profile_page(
                ctx,
                request,
                status=400,
                enrolling=True,
                totp_secret=ctx.auth.two_factor.pending_secret(user.id),
                error="That code does not match. Check the app's clock and try the next code.",
            )
        return profile_page(ctx, request, message="Two-factor sign-in is on.", recovery_codes=codes)

    @post("/profile/totp/disable", sync_to_thread=True)
    def disable_two_factor(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Response[Any]:
        user = viewer(request)
        if ctx.users.authenticate(user.name, data.get("password", "")[:256]) is None:
            return profile_page(ctx, request, status=400, error="Wrong password.")
        ctx.auth.two_factor.disable(user.id)
        return Redirect("/profile?done=totp-off", status_code=303)

    @post("/profile/keys", sync_to_thread=True)
    def new_key(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Template:
        name = data.get("name", "").strip()[:100]
        if not name:
            return profile_page(ctx, request, status=400, error="Give the key a name.")
        key = ctx.auth.issue(viewer(request).id, "api_key", name=name)
        return profile_page(ctx, request, new_key=key, new_key_name=name)

    @post("/profile/credentials/{credential_id:int}/revoke", sync_to_thread=True)
    def revoke(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        credential_id: CredentialId,
    ) -> Response[Any]:
        user = viewer(request)
        kinds = {c["id"]: c["kind"] for c in ctx.auth.credentials(user.id)}
        if credential_id not in kinds or not ctx.auth.revoke(user.id, credential_id):
            raise NotFoundException(detail="You have no such session or key.")
        done = "key-revoked" if kinds[credential_id] == "api_key" else "revoked"
        return Redirect(f"/profile?done={done}", status_code=303)

    @get("/pair", sync_to_thread=False)
    def pair_page(
        self, ctx: NamedDependency[AppContext], code: FromQuery[str | None] = None
    ) -> Template:
        waiting = ctx.pairing.waiting(code) if code else None
        return Template("pair.html", context={"code": code or "", "device": waiting})

    @post("/pair", sync_to_thread=False)
    def approve(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext], data: Form
    ) -> Template:
        code = data.get("code", "")[:20]
        user: User = viewer(request)
        try:
            pairing = ctx.pairing.approve(code, user)
        except LockedOut as exc:
            context = {"code": code, "error": sentence(exc)}
            return Template("pair.html", context=context, status_code=429)
        except PairingError as exc:
            context = {"code": code, "error": sentence(exc)}
            return Template("pair.html", context=context, status_code=404)
        return Template("pair.html", context={"approved": pairing.device})
