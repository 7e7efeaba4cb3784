"""``/admin/activity``: the activity log page (admins), newest first.

Filtering by kind or severity swaps the list in place (htmx; a plain form without it).
The list asks every few seconds for entries newer than the newest it shows
(``/admin/activity/rows?after=``, 204 when there are none) and puts them on top; "Older"
appends the next page below.  Both answer ``<tbody>`` fragments: no inline script or
style, as the CSP wants.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template
from litestar.status_codes import HTTP_204_NO_CONTENT

from mediaserver.activity.log import KINDS, SEVERITIES, ActivityPage
from mediaserver.api.access import admin_only
from mediaserver.api.params import MAX_ID
from mediaserver.context import AppContext

__all__ = ["ActivityLogPage"]

PAGE_SIZE = 50
REFRESH_SECONDS = 3
KIND_NAMES = {
    "sign-in": "Sign-ins",
    "sign-in-failed": "Failed sign-ins",
    "items-added": "New items",
    "scan": "Scans",
    "playback-started": "Playback started",
    "playback-stopped": "Playback stopped",
    "playback-error": "Playback errors",
    "task": "Task runs",
    "task-failed": "Failed tasks",
}


def _filters(kind: str | None, severity: str | None) -> dict[str, str | None]:
    """The filters as the log takes them: empty ("everything") is no filter, and a value
    the page never offers is a 400 that says which."""
    for name, value, known in (("kind", kind, KINDS), ("severity", severity, SEVERITIES)):
        if value and value not in known:
            raise ValidationException(detail=f"{name}: choose one of {', '.join(known)}")
    return {"kind": kind or None, "severity": severity or None}


def _context(filters: dict[str, str | None], page: ActivityPage, newest: int) -> dict[str, Any]:
    query = urlencode({k: v for k, v in filters.items() if v})
    return {
        **filters,
        "entries": page.entries,
        "next": page.next,
        "newest": newest,
        "query": f"&{query}" if query else "",
        "kinds": KIND_NAMES,
        "severities": SEVERITIES,
        "refresh": REFRESH_SECONDS,
    }


class ActivityLogPage(Controller):
    path = "/admin/activity"
    include_in_schema = False
    guards = [admin_only]

    @get("/", sync_to_thread=True)
    def page(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        kind: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
    ) -> Template:
        filters = _filters(kind, severity)
        page = ctx.activity_log.recent(
            kind=filters["kind"], severity=filters["severity"], limit=PAGE_SIZE
        )
        newest = page.entries[0]["id"] if page.entries else 0
        # A filter change swaps the list only; going back in history needs the whole page.
        partial = request.headers.get("hx-request") == "true" and not request.headers.get(
            "hx-history-restore-request"
        )
        context = _context(filters, page, newest)
        if not partial:
            return Template("admin_activity.html", context=context)
        # The address bar shows the filters in use, without the empty ones the form sends.
        address = "/admin/activity" + context["query"].replace("&", "?", 1)
        return Template("_activity_log.html", context=context, headers={"HX-Push-Url": address})

    @get("/rows", sync_to_thread=True)
    def rows(
        self,
        ctx: NamedDependency[AppContext],
        kind: FromQuery[str | None] = None,
        severity: FromQuery[str | None] = None,
        before: Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)] = None,
        after: Annotated[int | None, QueryParameter(ge=0, le=MAX_ID)] = None,
    ) -> Response[Any]:
        """Entries newer than ``after`` (for the top), or older than ``before`` (below)."""
        filters = _filters(kind, severity)
        page = ctx.activity_log.recent(
            kind=filters["kind"],
            severity=filters["severity"],
            before=before,
            after=after,
            limit=PAGE_SIZE,
        )
        if after is not None and not page.entries:
            return Response(None, status_code=HTTP_204_NO_CONTENT)  # htmx leaves the page be
        newest = page.entries[0]["id"] if after is not None else 0
        context = {**_context(filters, page, newest), "newer": after is not None}
        return Template("_activity_rows.html", context=context)
