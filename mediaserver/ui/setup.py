"""The first-run wizard, right after the first admin is made: name the server, add
libraries with the folder browser, choose the household's languages, done.

Every step can be skipped, and it can be left and come back to (the home page offers it
until it is finished or skipped).  Admin-only; the public part of set-up, creating the
first admin with the printed one-time link, is in ``signin.py``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from mediaserver.api.access import admin_only
from mediaserver.api.params import QueryId
from mediaserver.context import AppContext
from mediaserver.library.libraries import KINDS
from mediaserver.server_profile import ProfileError
from mediaserver.ui.account import LANGUAGES
from mediaserver.ui.libraries import KIND_NAMES, folder_browser, save_library
from mediaserver.ui.signin import Form, FormWithLists, sentence

__all__ = ["FIRST_STEP", "SetupWizard"]

FIRST_STEP = "/setup/server"


class SetupWizard(Controller):
    path = "/setup"
    include_in_schema = False
    guards = [admin_only]

    def _step(self, ctx: AppContext, step: str, *, status: int = 200, **extra: Any) -> Template:
        context = {
            "step": step,
            "profile": ctx.profile.get(),
            "default_name": ctx.default_name(),
            "config_name": ctx.settings.discovery.name,
            "libraries": [lib for lib in ctx.libraries.all() if lib["source"] != "demo"],
            "demo": ctx.libraries.demo_showing(),
            "languages": LANGUAGES,
            "kinds": KINDS,
            "kind_names": KIND_NAMES,
            "draft": {"name": "", "kind": "films", "folders": []},
            **(folder_browser(ctx, None) if step == "libraries" else {}),
            **extra,
        }
        return Template("setup.html", context=context, status_code=status)

    @get("/server", sync_to_thread=True)
    def server(self, ctx: NamedDependency[AppContext]) -> Template:
        return self._step(ctx, "server")

    @post("/server", sync_to_thread=True)
    def save_server(self, ctx: NamedDependency[AppContext], data: Form) -> Response[Any]:
        try:
            ctx.profile.update(name=data.get("name", "")[:200])
        except ProfileError as exc:
            return self._step(ctx, "server", status=400, error=sentence(exc))
        return Redirect("/setup/libraries", status_code=303)

    @get("/libraries", sync_to_thread=True)
    def libraries(self, ctx: NamedDependency[AppContext], added: QueryId = None) -> Template:
        names = {lib["id"]: lib["name"] for lib in ctx.libraries.all()}
        message = f"{names[added]} added: Hearth is scanning it now." if added in names else None
        return self._step(ctx, "libraries", message=message)

    @post("/libraries", sync_to_thread=True)
    def add_library(self, ctx: NamedDependency[AppContext], data: FormWithLists) -> Response[Any]:
        library, error = save_library(ctx, data)
        if error:
            return self._step(ctx, "libraries", status=400, error=error, draft=library)
        return Redirect(f"/setup/libraries?added={library['id']}", status_code=303)

    @get("/languages", sync_to_thread=True)
    def languages(self, ctx: NamedDependency[AppContext]) -> Template:
        return self._step(ctx, "languages")

    @post("/languages", sync_to_thread=True)
    def save_languages(self, ctx: NamedDependency[AppContext], data: Form) -> Response[Any]:
        try:
            ctx.profile.update(
                metadata_language=data.get("metadata_language") or None,
                subtitle_language=data.get("subtitle_language") or None,
                setup_done=True,
            )
        except ProfileError as exc:
            return self._step(ctx, "languages", status=400, error=sentence(exc))
        return Redirect("/setup/done", status_code=303)

    @get("/done", sync_to_thread=True)
    def done(self, ctx: NamedDependency[AppContext]) -> Template:
        return self._step(ctx, "done")

    @post("/skip", sync_to_thread=True)
    def skip(self, ctx: NamedDependency[AppContext]) -> Response[Any]:
        ctx.profile.update(setup_done=True)
        return Redirect("/", status_code=303)
