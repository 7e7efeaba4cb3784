"""Admin → Libraries: add, rename, re-folder, rescan and remove libraries, and the folder
browser fragment that picks their folders (shared with the set-up wizard).

Admin-only (a member gets 403), calling the same service as ``/api/v1/libraries``.  A form
that is refused comes back filled in as it was, with the reason.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, QueryParameter
from litestar.response import Redirect, Template

from mediaserver.api.access import admin_only
from mediaserver.api.params import LibraryId
from mediaserver.context import AppContext
from mediaserver.library import queries
from mediaserver.library.folders import FolderError, FolderListing
from mediaserver.library.libraries import CONFIG_HINT, KINDS, LibraryError, NoSuchLibrary
from mediaserver.ui.signin import FormWithLists, form_value, form_values, sentence

__all__ = ["KIND_NAMES", "LibraryPages", "folder_browser", "library_draft", "save_library"]

KIND_NAMES = {"films": "Films", "shows": "Shows", "mixed": "Films and shows"}
MESSAGES = {
    "added": "Library added. Hearth is scanning it now.",
    "saved": "Changes saved.",
    "removed": "Library removed from Hearth. Its files are still on the disk.",
}
PathQuery = Annotated[str | None, QueryParameter(max_length=8192)]


def library_draft(form: dict[str, str | list[str]]) -> dict[str, Any]:
    """What the library form sent, shaped like a library for ``_library_form.html``."""
    folders = [f.strip() for f in form_values(form, "folder") if f.strip()]
    typed = form_value(form, "typed_folder").strip()
    if typed and typed not in folders:
        folders.append(typed)
    return {
        "name": form_value(form, "name")[:200],
        "kind": form_value(form, "kind") or "mixed",
        "folders": folders[:50],
        "follow_outside_links": bool(form_value(form, "follow_outside_links")),
    }


def save_library(
    ctx: AppContext, form: dict[str, str | list[str]], library_id: int | None = None
) -> tuple[dict[str, Any], str | None]:
    """Create (or change) a library from the form: (the library or the draft, the reason
    it was refused or None)."""
    draft = library_draft(form)
    try:
        follow = draft["follow_outside_links"]
        if library_id is None:
            made = ctx.libraries.create(
                draft["name"], draft["kind"], draft["folders"], follow_outside_links=follow
            )
            return made, None
        changed = ctx.libraries.update(
            library_id,
            name=draft["name"],
            kind=draft["kind"],
            folders=draft["folders"],
            follow_outside_links=follow,
        )
        return changed, None
    except (LibraryError, FolderError) as exc:
        return draft, sentence(exc)


def folder_browser(ctx: AppContext, path: str | None) -> dict[str, Any]:
    """The folder browser's context: a listing, or the reason ``path`` cannot be shown
    (and nothing listed: a refused path opens no folder at all)."""
    error = None
    try:
        listing = ctx.folders.listing(path)
    except FolderError as exc:
        error = sentence(exc)
        listing = FolderListing(path=None, parent=None)
    return {
        "listing": listing,
        "browse_error": error,
        "roots": [str(r) for r in ctx.folders.roots],
    }


def _library_or_404(ctx: AppContext, library_id: int, *, inactive: bool = False) -> dict[str, Any]:
    try:
        return ctx.libraries.get(library_id, inactive=inactive)
    except NoSuchLibrary:
        raise NotFoundException(detail=f"There is no library with id {library_id}.") from None


def _with_details(ctx: AppContext, lib: dict[str, Any]) -> dict[str, Any]:
    lib["problems"] = len(queries.problems(ctx.db, lib["id"]))
    lib["contents"] = ctx.libraries.contents(lib["id"])
    return lib


class LibraryPages(Controller):
    include_in_schema = False
    guards = [admin_only]

    def _page(self, ctx: AppContext, *, status: int = 200, **extra: Any) -> Template:
        libraries = [_with_details(ctx, lib) for lib in ctx.libraries.all(inactive=True)]
        context = {
            "libraries": [lib for lib in libraries if lib["active"]],
            "kept": [lib for lib in libraries if not lib["active"] and lib["source"] == "config"],
            "kinds": KINDS,
            "kind_names": KIND_NAMES,
            "config_hint": CONFIG_HINT,
            "scan": ctx.library.status().as_dict(),
            "draft": {"name": "", "kind": "films", "folders": []},
            **folder_browser(ctx, None),
            **extra,
        }
        return Template("admin_libraries.html", context=context, status_code=status)

    @get("/admin/libraries", sync_to_thread=True)
    def libraries(
        self, ctx: NamedDependency[AppContext], done: FromQuery[str | None] = None
    ) -> Template:
        return self._page(ctx, message=MESSAGES.get(done or ""))

    @post("/admin/libraries", sync_to_thread=True)
    def add(self, ctx: NamedDependency[AppContext], data: FormWithLists) -> Response[Any]:
        library, error = save_library(ctx, data)
        if error:
            return self._page(ctx, status=400, error=error, draft=library)
        return Redirect("/admin/libraries?done=added", status_code=303)

    @get("/admin/libraries/{library_id:int}", sync_to_thread=True)
    def library(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> Template:
        library = _library_or_404(ctx, library_id)
        return self._edit_page(ctx, library, library)

    def _edit_page(
        self,
        ctx: AppContext,
        library: dict[str, Any],
        draft: dict[str, Any],
        *,
        status: int = 200,
        error: str | None = None,
    ) -> Template:
        context = {
            "library": library,
            "draft": draft,
            "error": error,
            "kinds": KINDS,
            "kind_names": KIND_NAMES,
            "config_hint": CONFIG_HINT,
            **folder_browser(ctx, None),
        }
        return Template("admin_library.html", context=context, status_code=status)

    @post("/admin/libraries/{library_id:int}", sync_to_thread=True)
    def save(
        self, ctx: NamedDependency[AppContext], library_id: LibraryId, data: FormWithLists
    ) -> Response[Any]:
        library = _library_or_404(ctx, library_id)
        changed, error = save_library(ctx, data, library_id)
        if error:
            return self._edit_page(ctx, library, changed, status=400, error=error)
        return Redirect("/admin/libraries?done=saved", status_code=303)

    @post("/admin/libraries/{library_id:int}/links", sync_to_thread=True)
    def save_links(
        self, ctx: NamedDependency[AppContext], library_id: LibraryId, data: FormWithLists
    ) -> Response[Any]:
        """The one choice a config file's library takes here: following outside links."""
        library = _library_or_404(ctx, library_id)
        follow = bool(form_value(data, "follow_outside_links"))
        try:
            ctx.libraries.update(library_id, follow_outside_links=follow)
        except LibraryError as exc:
            return self._edit_page(ctx, library, library, status=400, error=sentence(exc))
        return Redirect("/admin/libraries?done=saved", status_code=303)

    @get("/admin/libraries/{library_id:int}/remove", sync_to_thread=True)
    def confirm_removal(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> Template:
        library = _with_details(ctx, _library_or_404(ctx, library_id, inactive=True))
        return Template("admin_library_remove.html", context={"library": library})

    @post("/admin/libraries/{library_id:int}/remove", sync_to_thread=True)
    def remove(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> Response[Any]:
        library = _library_or_404(ctx, library_id, inactive=True)
        try:
            ctx.libraries.remove(library_id)
        except LibraryError as exc:
            return self._page(ctx, status=400, error=sentence(exc), removing=library)
        return Redirect("/admin/libraries?done=removed", status_code=303)

    @get("/admin/libraries/{library_id:int}/scan", sync_to_thread=False)
    def scan_status(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> Template:
        return self._scan_fragment(ctx, _library_or_404(ctx, library_id))

    @post("/admin/libraries/{library_id:int}/scan", sync_to_thread=False, status_code=200)
    def rescan(self, ctx: NamedDependency[AppContext], library_id: LibraryId) -> Template:
        library = _library_or_404(ctx, library_id)
        ctx.libraries.rescan(library_id)
        return self._scan_fragment(ctx, library)

    @staticmethod
    def _scan_fragment(ctx: AppContext, library: dict[str, Any]) -> Template:
        context = {"lib": _with_details(ctx, library), "scan": ctx.library.status().as_dict()}
        return Template("_library_scan.html", context=context)

    @get("/admin/folders", sync_to_thread=True)
    def folders(self, ctx: NamedDependency[AppContext], path: PathQuery = None) -> Template:
        """The folder browser as an htmx fragment; a path it cannot show comes back as the
        roots with the reason, so the browser never leaves the page."""
        return Template("_folder_browser.html", context=folder_browser(ctx, path))
