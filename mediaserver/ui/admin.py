"""Admin pages: the household's users and their limits, and every sign-in on the server.

All of it is admin-only (a member gets 403) and calls the same services as
``/api/v1/users``.  Changes post a form and come back to the page they were made on.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from mediaserver.accounts.passwords import WeakPassword
from mediaserver.accounts.users import User, UserError
from mediaserver.api.access import admin_only
from mediaserver.api.clients import outside_address
from mediaserver.api.params import CredentialId, UserId
from mediaserver.backup import list_backups
from mediaserver.context import AppContext
from mediaserver.library.ratings import KNOWN_RATINGS
from mediaserver.ui.signin import Form, FormWithLists, form_value, form_values, sentence

__all__ = ["AdminController"]

MESSAGES = {
    "created": "User added.",
    "saved": "Changes saved.",
    "password": "Password set. The user has been signed out everywhere.",
    "removed": "User removed.",
    "revoked": "Signed out.",
    "picker-on": "The profile picker is on for devices on your home network.",
    "picker-off": "The profile picker is off: everyone signs in with name and password.",
}


def _limits(form: dict[str, str | list[str]]) -> dict[str, Any]:
    """Role and limits from the user form (checkboxes arrive only when ticked)."""
    chosen = form_values(form, "libraries")
    all_libraries = form_value(form, "all_libraries") == "on"
    try:
        libraries = None if all_libraries else [int(x) for x in chosen]
    except ValueError:
        raise UserError("pick libraries from the list") from None
    return {
        "max_rating": form_value(form, "max_rating") or None,
        "show_unrated": form_value(form, "show_unrated") == "on",
        "libraries": libraries,
    }


def _draft(form: dict[str, str | list[str]]) -> dict[str, Any]:
    """A refused "add a user" form's choices, shaped like a user for ``_user_limits.html``."""
    chosen = form_values(form, "libraries")
    return {
        "is_admin": form_value(form, "is_admin") == "on",
        "max_rating": form_value(form, "max_rating") or None,
        "show_unrated": form_value(form, "show_unrated") == "on",
        "all_libraries": form_value(form, "all_libraries") == "on",
        "libraries": {int(x) for x in chosen if x.isdigit()},
    }


def _user_or_404(ctx: AppContext, user_id: int) -> User:
    user = ctx.users.get(user_id)
    if user is None:
        raise NotFoundException(detail=f"There is no user with id {user_id}.")
    return user


class AdminController(Controller):
    path = "/admin"
    include_in_schema = False
    guards = [admin_only]

    def _users_page(
        self,
        ctx: AppContext,
        request: Request[Any, Any, Any],
        *,
        status: int = 200,
        **extra: Any,
    ) -> Template:
        picker = {p.id: p for p in ctx.auth.picker.people()}
        users = [
            {**u.as_dict(), "two_factor": ctx.auth.two_factor.enabled(u.id),
             "picker": picker.get(u.id)}
            for u in ctx.users.all()
        ]  # fmt: skip
        context = {
            "users": users,
            "picker_on": ctx.profile.get().profile_picker,
            # Seen from outside: the admin is, right now, the proof that Hearth is reachable.
            "outside_from": outside_address(request.scope),
            "libraries": ctx.library.libraries(),
            "ratings": KNOWN_RATINGS,
            "dlna": ctx.dlna.status() if ctx.dlna is not None else None,
            **extra,
        }
        return Template("admin_users.html", context=context, status_code=status)

    @get("/users", sync_to_thread=True)
    def users(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        done: FromQuery[str | None] = None,
    ) -> Template:
        return self._users_page(ctx, request, message=MESSAGES.get(done or ""))

    @post("/users/picker", sync_to_thread=True)
    def set_picker(self, ctx: NamedDependency[AppContext], data: Form) -> Response[Any]:
        """The server setting: show the profile picker (to the home network) or not."""
        on = data.get("profile_picker") == "on"
        ctx.profile.update(profile_picker=on)
        return Redirect(f"/admin/users?done=picker-{'on' if on else 'off'}", status_code=303)

    @post("/users", sync_to_thread=True)
    def create(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: FormWithLists,
    ) -> Response[Any]:
        form = data
        name, admin = form_value(form, "name")[:64], form_value(form, "is_admin") == "on"

        def refused(exc: Exception) -> Template:  # the form comes back as it was filled in
            return self._users_page(
                ctx, request, status=400, error=sentence(exc), name=name, draft=_draft(form)
            )

        try:
            limits = _limits(form)
            user = ctx.users.create(name, form_value(form, "password"), admin=admin)
        except (UserError, WeakPassword) as exc:
            return refused(exc)
        if not admin:
            try:
                ctx.users.update(user.id, **limits)
            except UserError as exc:
                ctx.users.delete(user.id)  # no half-made account stays
                return refused(exc)
        return Redirect("/admin/users?done=created", status_code=303)

    @get("/users/{user_id:int}", sync_to_thread=True)
    def user(
        self,
        ctx: NamedDependency[AppContext],
        user_id: UserId,
        done: FromQuery[str | None] = None,
    ) -> Template:
        return self._user_page(ctx, _user_or_404(ctx, user_id), message=MESSAGES.get(done or ""))

    def _user_page(
        self, ctx: AppContext, user: User, *, status: int = 200, **extra: Any
    ) -> Template:
        context = {
            "person": user,
            "libraries": ctx.library.libraries(),
            "ratings": KNOWN_RATINGS,
            "credentials": ctx.auth.credentials(user.id),
            "two_factor": ctx.auth.two_factor.enabled(user.id),
            "on_picker": ctx.auth.picker.is_on(user.id),
            **extra,
        }
        return Template("admin_user.html", context=context, status_code=status)

    @post("/users/{user_id:int}", sync_to_thread=True)
    def save(
        self, ctx: NamedDependency[AppContext], user_id: UserId, data: FormWithLists
    ) -> Response[Any]:
        user = _user_or_404(ctx, user_id)
        form = data
        try:
            ctx.users.update(
                user.id, is_admin=form_value(form, "is_admin") == "on", **_limits(form)
            )
        except UserError as exc:
            return self._user_page(ctx, user, status=400, error=sentence(exc))
        return Redirect(f"/admin/users/{user.id}?done=saved", status_code=303)

    @post("/users/{user_id:int}/picker", sync_to_thread=True)
    def show_on_picker(
        self, ctx: NamedDependency[AppContext], user_id: UserId, data: Form
    ) -> Response[Any]:
        """Put a person on the profile picker or take them off (their PIN is their own)."""
        user = _user_or_404(ctx, user_id)
        ctx.auth.picker.show(user.id, data.get("show") == "on")
        return Redirect(f"/admin/users/{user.id}?done=saved", status_code=303)

    @post("/users/{user_id:int}/password", sync_to_thread=True)
    def set_password(
        self, ctx: NamedDependency[AppContext], user_id: UserId, data: Form
    ) -> Response[Any]:
        user = _user_or_404(ctx, user_id)
        try:
            ctx.users.set_password(user.id, data.get("password", ""))
        except (UserError, WeakPassword) as exc:
            return self._user_page(ctx, user, status=400, error=sentence(exc))
        return Redirect(f"/admin/users/{user.id}?done=password", status_code=303)

    @post("/users/{user_id:int}/remove", sync_to_thread=True)
    def remove(self, ctx: NamedDependency[AppContext], user_id: UserId) -> Response[Any]:
        user = _user_or_404(ctx, user_id)
        try:
            ctx.users.delete(user.id)
        except UserError as exc:
            return self._user_page(ctx, user, status=400, error=sentence(exc))
        return Redirect("/admin/users?done=removed", status_code=303)

    @get("/tasks", sync_to_thread=True)
    def tasks(self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]) -> Template:
        return _tasks_page(request, ctx)

    @post("/tasks/{task_id:str}/run", sync_to_thread=True)
    def run_task(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        task_id: FromPath[str],
    ) -> Template:
        if task_id not in ctx.tasks:
            raise NotFoundException(detail=f"There is no task called {task_id!r}.")
        ctx.tasks.start(task_id)
        return _tasks_page(request, ctx)

    @get("/sessions", sync_to_thread=True)
    def sessions(
        self, ctx: NamedDependency[AppContext], done: FromQuery[str | None] = None
    ) -> Template:
        rows = [
            {**c, "user": u.name, "user_id": u.id}
            for u in ctx.users.all()
            for c in ctx.auth.credentials(u.id)
        ]
        rows.sort(key=lambda c: c["last_used_at"] or c["created_at"], reverse=True)
        context = {"credentials": rows, "message": MESSAGES.get(done or "")}
        return Template("admin_sessions.html", context=context)

    @post("/users/{user_id:int}/credentials/{credential_id:int}/revoke", sync_to_thread=True)
    def revoke(
        self,
        ctx: NamedDependency[AppContext],
        user_id: UserId,
        credential_id: CredentialId,
        back: FromQuery[str | None] = None,
    ) -> Response[Any]:
        if not ctx.auth.revoke(user_id, credential_id):
            raise NotFoundException(detail="No such session or key.")
        target = "/admin/sessions" if back == "sessions" else f"/admin/users/{user_id}"
        return Redirect(f"{target}?done=revoked", status_code=303)


def _tasks_page(request: Request[Any, Any, Any], ctx: AppContext) -> Template:
    """The page, or its live part for htmx (polled while something runs)."""
    context = {
        "tasks": ctx.task_status(),
        "backups": list_backups(ctx.settings.backup_path),
        "backup_folder": ctx.settings.backup_path,
        "scan": ctx.library.status().as_dict(),
    }
    name = "_tasks.html" if request.headers.get("hx-request") == "true" else "admin_tasks.html"
    return Template(name, context=context)
