"""``/api/v1/analytics``: the data behind every chart on the analytics page, as JSON or CSV.

``GET /api/v1/analytics/{chart}`` with ``days`` (1-3650, default 30) and, for admins,
``user_id`` to narrow it to one person; ``format=csv`` (or a ``.csv`` suffix on the chart
name) downloads the same rows as a spreadsheet.  A member always gets their own numbers:
asking for someone else's is a 404, as it is everywhere else.  ``now-playing`` is live;
``items/{item_id}/moments`` is the "most watched moments" heatmap of one item.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, QueryParameter

from mediaserver.activity.analytics import to_csv
from mediaserver.api.access import viewer
from mediaserver.api.openapi import sends
from mediaserver.api.params import ItemId, QueryId
from mediaserver.context import AppContext

__all__ = ["CHARTS", "AnalyticsController", "Chart"]

Days = Annotated[int, QueryParameter(ge=1, le=3650, description="How many days back")]
Limit = Annotated[int | None, QueryParameter(ge=1, le=500, description="How many rows")]


@dataclass(frozen=True, slots=True)
class Chart:
    columns: tuple[str, ...]  # the CSV header, also when there are no rows
    rows: Callable[[AppContext, int, int | None, int], list[dict[str, Any]]]
    limit: int = 10  # rows of a ranked chart when the caller does not say


NOW_PLAYING = ("user", "title", "device", "decision", "rung", "bitrate", "position_s",
               "length_s", "paused", "error", "started_at")  # fmt: skip
HISTORY = ("item_id", "title", "kind", "last_played_at", "position_s", "watched", "play_count",
           "plays")  # fmt: skip
CHARTS: dict[str, Chart] = {
    "daily": Chart(("day", "plays", "hours"), lambda c, d, u, _: c.analytics.daily(d, u)),
    "titles": Chart(
        ("item_id", "title", "plays", "completes", "completion_rate", "hours"),
        lambda c, d, u, n: c.analytics.titles(d, u, n),
    ),
    "trending": Chart(
        ("item_id", "title", "plays", "plays_before", "rise"),
        lambda c, d, u, n: c.analytics.trending(d, u, n),
    ),
    "decisions": Chart(("decision", "plays"), lambda c, d, u, _: c.analytics.decisions(d, u)),
    "people": Chart(
        ("user_id", "name", "plays", "hours"), lambda c, d, u, _: c.analytics.people(d, u)
    ),
    "busiest": Chart(
        ("weekday", "hour", "hours", "plays"), lambda c, d, u, _: c.analytics.busiest(d, u)
    ),
    "history": Chart(
        HISTORY,
        lambda c, _d, u, n: c.analytics.history(u or 0, n),
        limit=50,
    ),
    "now-playing": Chart(NOW_PLAYING, lambda c, _d, u, _n: c.now_playing.viewings(u)),
}


def scope(request: Request[Any, Any, Any], user_id: int | None) -> int | None:
    """Whose numbers: anyone's (or everyone's) for an admin, only their own for a member."""
    user = viewer(request)
    if user.is_admin:
        return user_id
    if user_id not in (None, user.id):
        raise NotFoundException(detail=f"There is no user with id {user_id}.")
    return user.id


AS_CSV = sends("text/csv", keep_json=True)  # with format=csv or a .csv name


def _csv(rows: Any, columns: tuple[str, ...], filename: str) -> Response[str]:
    return Response(
        to_csv(rows, columns),
        media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]

    @get(
        "/{chart:str}",
        sync_to_thread=True,
        summary="One chart's rows (JSON or CSV)",
        operation_class=AS_CSV,
    )
    def chart(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        chart: FromPath[str],
        days: Days = 30,
        user_id: QueryId = None,
        limit: Limit = None,
        format: FromQuery[Literal["json", "csv"]] = "json",
    ) -> Any:
        name = chart.removesuffix(".csv")
        if name not in CHARTS:
            known = ", ".join(CHARTS)
            raise NotFoundException(detail=f"There is no chart {name!r}; there are {known}.")
        whose = scope(request, user_id)
        if name == "history" and whose is None:
            whose = viewer(request).id
        spec = CHARTS[name]
        rows = spec.rows(ctx, days, whose, limit or spec.limit)
        if format == "csv" or chart.endswith(".csv"):
            return _csv(rows, spec.columns, f"hearth-{name}-{days}d.csv")
        return {"chart": name, "days": days, "rows": rows}

    @get(
        "/items/{item_id:int}/moments",
        sync_to_thread=True,
        summary="Most watched moments",
        operation_class=AS_CSV,
    )
    def moments(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        user_id: QueryId = None,
        bins: Annotated[int, QueryParameter(ge=10, le=1000)] = 100,
        format: FromQuery[Literal["json", "csv"]] = "json",
    ) -> Any:
        if ctx.db.query_one("SELECT 1 FROM items WHERE id = ?", [item_id]) is None:
            raise NotFoundException(detail=f"There is no item with id {item_id}.")
        found = ctx.analytics.moments(item_id, scope(request, user_id), bins)
        if format == "json":
            return found
        step = found["slice_s"]
        rows = [
            {"from_s": round(i * step, 1), "to_s": round((i + 1) * step, 1), "count": n}
            for i, n in enumerate(found["counts"])
        ]
        return _csv(rows, ("from_s", "to_s", "count"), f"hearth-moments-{item_id}.csv")
