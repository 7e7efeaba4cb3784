"""``/api/v1/activity`` (admins): the activity log, newest first, a page at a time.

Filters: ``kind``, ``severity``, ``user_id``; paging: ``before`` (the ``next`` of the
previous answer) for older entries, ``after`` (the newest id you have) for newer ones.
A value that is not one of the known kinds or severities, or a ``limit`` outside 1..500,
is a 400 that names the parameter.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from mediaserver.activity.log import Kind, Severity
from mediaserver.api.access import admin_only
from mediaserver.api.params import ID_RANGE, MAX_ID, QueryId
from mediaserver.context import AppContext

__all__ = ["ActivityLogController"]

Cursor = Annotated[
    int | None,
    QueryParameter(ge=1, le=MAX_ID, description="An entry's id.", schema_extra=dict(ID_RANGE)),
]


class ActivityLogController(Controller):
    path = "/api/v1/activity"
    tags = ["activity"]
    guards = [admin_only]

    @get("/", sync_to_thread=True, summary="What happened on the server, newest first")
    def entries(
        self,
        ctx: NamedDependency[AppContext],
        kind: FromQuery[Kind | None] = None,
        severity: FromQuery[Severity | None] = None,
        user_id: QueryId = None,
        before: Cursor = None,
        after: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        page = ctx.activity_log.recent(
            kind=kind, severity=severity, user_id=user_id, before=before, after=after, limit=limit
        )
        return {"entries": page.entries, "next": page.next}
