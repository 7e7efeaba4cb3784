"""``/api/v1/users``: the household's accounts (admins), each person's own profile and picture.

An admin sees and changes everyone.  A member sees only themself: any other user id
answers 404, exactly like an id that does not exist, so nobody can learn who else has an
account by trying ids.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, JSONBody

from mediaserver.accounts.passwords import WeakPassword
from mediaserver.accounts.preferences import PreferenceError, Preferences
from mediaserver.accounts.users import User, UserError
from mediaserver.api.access import admin_only, viewer
from mediaserver.api.openapi import sends
from mediaserver.api.params import CredentialId, Id, UserId
from mediaserver.context import AppContext
from mediaserver.imaging import AVATAR_CONTENT_TYPE, ImageRejected, normalise_avatar

__all__ = ["AvatarUpload", "UserController", "profile_of"]

MAX_AVATAR_BYTES = 5 * 1024 * 1024
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Rating = Annotated[str, msgspec.Meta(max_length=20)]


class NewUser(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    password: Password
    is_admin: bool = False
    max_rating: Rating | None = None
    show_unrated: bool = False
    libraries: list[Id] | None = None  # None: every library


class UserChange(msgspec.Struct, forbid_unknown_fields=True):
    is_admin: bool | msgspec.UnsetType = msgspec.UNSET
    max_rating: Rating | msgspec.UnsetType | None = msgspec.UNSET
    show_unrated: bool | msgspec.UnsetType = msgspec.UNSET
    libraries: list[Id] | msgspec.UnsetType | None = msgspec.UNSET


@dataclass
class AvatarUpload:
    """The multipart body of a picture upload: one file part named ``data`` (the profile
    form's field).  A model rather than a bare ``UploadFile``: without that part Litestar
    answers 400 "data: is required" (a bare ``UploadFile`` with no file in the form was a
    500), and the schema names the part."""

    data: UploadFile


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True):
    password: Password


def profile_of(request: Request[Any, Any, Any], ctx: AppContext, user_id: int) -> User:
    """The user ``user_id`` if the viewer may see them (themself, or anyone for an admin)."""
    me = viewer(request)
    user = ctx.users.get(user_id) if (me.is_admin or me.id == user_id) else None
    if user is None:
        raise NotFoundException(detail=f"no user with id {user_id}")
    return user


def _refused(exc: Exception) -> ValidationException:
    return ValidationException(detail=str(exc))


def _details(ctx: AppContext, user: User) -> dict[str, Any]:
    return {
        **user.as_dict(),
        "two_factor": ctx.auth.two_factor.enabled(user.id),
        "has_avatar": ctx.users.avatar(user.id) is not None,
    }


class UserController(Controller):
    path = "/api/v1/users"
    tags = ["users"]

    @get("/", sync_to_thread=False, guards=[admin_only], summary="Every account (admins)")
    def list_users(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        return {"users": [_details(ctx, u) for u in ctx.users.all()]}

    @post("/", sync_to_thread=True, guards=[admin_only], summary="Add a user (admins)")
    def create(self, ctx: NamedDependency[AppContext], data: JSONBody[NewUser]) -> dict[str, Any]:
        try:
            user = ctx.users.create(data.name, data.password, admin=data.is_admin)
        except (UserError, WeakPassword) as exc:
            raise _refused(exc) from None
        if not data.is_admin:
            try:
                user = ctx.users.update(
                    user.id,
                    max_rating=data.max_rating,
                    show_unrated=data.show_unrated,
                    libraries=data.libraries,
                )
            except UserError as exc:
                ctx.users.delete(user.id)  # limits refused: no half-made account stays
                raise _refused(exc) from None
        return _details(ctx, user)

    @get("/{user_id:int}", sync_to_thread=False, summary="One account: yours, or any (admins)")
    def get_user(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
    ) -> dict[str, Any]:
        return _details(ctx, profile_of(request, ctx, user_id))

    @patch("/{user_id:int}", sync_to_thread=False, summary="Change role and limits (admins)")
    def change(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
        data: JSONBody[UserChange],
    ) -> dict[str, Any]:
        user = profile_of(request, ctx, user_id)
        if not viewer(request).is_admin:
            raise PermissionDeniedException(detail="only an admin can change roles and limits")
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        try:
            return _details(ctx, ctx.users.update(user.id, **changes))
        except UserError as exc:
            raise _refused(exc) from None

    @delete(
        "/{user_id:int}",
        status_code=204,
        sync_to_thread=True,
        guards=[admin_only],
        summary="Remove a user and all their data (admins)",
    )
    def remove(self, ctx: NamedDependency[AppContext], user_id: UserId) -> None:
        try:
            ctx.users.delete(user_id)
        except UserError as exc:
            if "no user" in str(exc):
                raise NotFoundException(detail=str(exc)) from None
            raise _refused(exc) from None

    @post(
        "/{user_id:int}/password",
        status_code=200,
        sync_to_thread=True,
        guards=[admin_only],
        summary="Set a new password; every session of the user ends (admins)",
    )
    def reset_password(
        self,
        ctx: NamedDependency[AppContext],
        user_id: UserId,
        data: JSONBody[PasswordReset],
    ) -> dict[str, Any]:
        try:
            revoked = ctx.users.set_password(user_id, data.password)
        except UserError as exc:
            raise NotFoundException(detail=str(exc)) from None
        except WeakPassword as exc:
            raise _refused(exc) from None
        return {"revoked": revoked}

    @get(
        "/{user_id:int}/credentials",
        sync_to_thread=False,
        guards=[admin_only],
        summary="A user's sessions, devices and API keys (admins)",
    )
    def credentials(self, ctx: NamedDependency[AppContext], user_id: UserId) -> dict[str, Any]:
        if ctx.users.get(user_id) is None:
            raise NotFoundException(detail=f"no user with id {user_id}")
        return {"credentials": ctx.auth.credentials(user_id)}

    @delete(
        "/{user_id:int}/credentials/{credential_id:int}",
        status_code=204,
        sync_to_thread=True,
        guards=[admin_only],
        summary="Sign a user's device out or revoke their key (admins)",
    )
    def revoke(
        self, ctx: NamedDependency[AppContext], user_id: UserId, credential_id: CredentialId
    ) -> None:
        if not ctx.auth.revoke(user_id, credential_id):
            raise NotFoundException(detail=f"user {user_id} has no credential {credential_id}")

    @get("/{user_id:int}/preferences", sync_to_thread=False, summary="Playback preferences")
    def preferences(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
    ) -> Preferences:
        return ctx.users.preferences(profile_of(request, ctx, user_id).id)

    @put(
        "/{user_id:int}/preferences",
        sync_to_thread=True,
        summary="Set playback preferences: audio_language, subtitle_language, subtitle_mode",
    )
    def set_preferences(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
        data: JSONBody[Preferences],
    ) -> Preferences:
        user = profile_of(request, ctx, user_id)
        try:
            return ctx.users.set_preferences(user.id, data)
        except PreferenceError as exc:
            raise _refused(exc) from None

    @get(
        "/{user_id:int}/avatar",
        sync_to_thread=False,
        summary="Profile picture",
        operation_class=sends("image/*"),
        responses={304: ResponseSpec(None, description="The client's copy is current.")},
    )
    def avatar(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
    ) -> Response[bytes]:
        user = profile_of(request, ctx, user_id)
        found = ctx.users.avatar(user.id)
        if found is None:
            raise NotFoundException(detail=f"{user.name} has no profile picture")
        data, content_type, changed = found
        etag = f'"{changed}"'
        headers = {"Cache-Control": "private, no-cache", "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return Response(b"", status_code=304, headers=headers)
        return Response(data, media_type=content_type, headers=headers)

    @put(
        "/{user_id:int}/avatar",
        status_code=200,
        request_max_body_size=MAX_AVATAR_BYTES + 64 * 1024,
        summary="Upload a profile picture (JPEG, PNG, WebP or GIF; multipart field 'data')",
    )
    async def upload_avatar(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
        data: Annotated[AvatarUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> dict[str, Any]:
        user = profile_of(request, ctx, user_id)
        raw = await data.data.read(MAX_AVATAR_BYTES + 1)
        try:  # decoding and the catalog write, off the event loop
            picture = await asyncio.to_thread(normalise_avatar, raw, max_bytes=MAX_AVATAR_BYTES)
        except ImageRejected as exc:
            raise _refused(exc) from None
        await asyncio.to_thread(ctx.users.set_avatar, user.id, picture, AVATAR_CONTENT_TYPE)
        return await asyncio.to_thread(_details, ctx, user)

    @delete(
        "/{user_id:int}/avatar",
        status_code=204,
        sync_to_thread=True,
        summary="Remove the profile picture",
    )
    def remove_avatar(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        user_id: UserId,
    ) -> None:
        ctx.users.remove_avatar(profile_of(request, ctx, user_id).id)
