"""The analytics pages: ``/analytics`` for admins, ``/history`` for everyone (their own).

Charts are drawn here as SVG (:mod:`mediaserver.charts`) from the same rows
``/api/v1/analytics`` serves, and each links to its CSV.  The now-playing panel refreshes
itself every few seconds (htmx polls ``/analytics/now``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import QueryParameter
from litestar.response import Template
from markupsafe import Markup

from mediaserver import charts
from mediaserver.activity.analytics import WEEKDAYS
from mediaserver.api.access import admin_only, viewer
from mediaserver.api.analytics import scope
from mediaserver.api.params import ItemId, QueryId, in_id_range
from mediaserver.context import AppContext
from mediaserver.ui.filters import timestamp
from mediaserver.words import plural

__all__ = ["AnalyticsPages"]

PERIODS = (7, 30, 90, 365)
Days = Annotated[int, QueryParameter(ge=1, le=3650)]
# The person picker sends "user_id=" for everyone: read as text, then as an id.
Person = Annotated[str | None, QueryParameter(name="user_id")]


def _hours(value: float) -> str:
    """Hours watched as read on a tooltip or beside a bar: ``40 s``, ``12 min``, ``1.5 h``."""
    if value * 60 < 1:
        return f"{value * 3600:.0f} s"
    if value < 1:
        return f"{value * 60:.0f} min"
    return f"{value:.1f} h" if value < 10 else f"{value:,.0f} h"


def _person_id(value: str | None) -> int | None:
    """The person picker's choice: empty is everyone (the form sends ``user_id=``)."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and in_id_range(int(value))):
        raise ValidationException(detail="user_id: pick a person from the list")
    return int(value)


def _day_label(day: str, days: int) -> str:
    moment = date.fromisoformat(day)
    return moment.strftime("%b %Y") if days > 120 else f"{moment.day} {moment:%b}"


def _monthly(daily: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A year of days is too many columns: add them up by month."""
    months: dict[str, dict[str, Any]] = {}
    for row in daily:
        first = row["day"][:7] + "-01"
        month = months.setdefault(first, {"day": first, "plays": 0, "hours": 0.0})
        month["plays"] += row["plays"]
        month["hours"] += row["hours"]
    return list(months.values())


def build_charts(ctx: AppContext, days: int, user_id: int | None) -> dict[str, Markup]:
    """Every chart of the dashboard for ``days``, everyone's or one person's."""
    a = ctx.analytics
    daily = a.daily(days, user_id)
    if days > 120:
        daily = _monthly(daily)
    every = max(1, len(daily) // 10)
    per_day = "per month" if days > 120 else "per day"
    titles = a.titles(days, user_id)
    trending = a.trending(7, user_id)
    busiest = a.busiest(days, user_id)
    decisions = {d["decision"]: d["plays"] for d in a.decisions(days, user_id)}
    return {
        "hours": charts.columns(
            [
                charts.Point(_day_label(d["day"], days), d["hours"], plural(d["plays"], "play"))
                for d in daily
            ],
            title=f"Hours watched {per_day}",
            fmt=_hours,
            scale=charts.time_ticks,
            every=every,
        ),
        "plays": charts.columns(
            [charts.Point(_day_label(d["day"], days), d["plays"]) for d in daily],
            title=f"Plays {per_day}",
            whole=True,
            every=every,
        ),
        "titles": charts.bars(
            [charts.Point(t["title"], t["plays"], _hours(t["hours"])) for t in titles],
            title="Top titles (plays)",
            links=[f"/analytics/items/{t['item_id']}" for t in titles],
        ),
        "completion": charts.bars(
            [
                charts.Point(
                    t["title"],
                    t["completion_rate"] * 100,
                    f"{t['completes']} of {plural(t['plays'], 'play')} finished",
                )
                for t in titles
            ],
            title="Completion rate",
            fmt=lambda v: f"{v:.0f} %",
            top_value=100,
            links=[f"/analytics/items/{t['item_id']}" for t in titles],
        ),
        "trending": charts.bars(
            [
                charts.Point(
                    t["title"],
                    t["rise"],
                    f"{plural(t['plays'], 'play')}, {t['plays_before']} before",
                )
                for t in trending
            ],
            title="Trending this week (more plays than the week before)",
            fmt=lambda v: f"+{v:.0f}",
            links=[f"/analytics/items/{t['item_id']}" for t in trending],
        ),
        "decisions": charts.share(
            [
                charts.Point("Direct", decisions["direct"]),
                charts.Point("Remux", decisions["remux"]),
                charts.Point("Transcode", decisions["transcode"]),
            ],
            title="Direct play, remux and transcode",
        ),
        "busiest": charts.grid(
            WEEKDAYS,
            [f"{h:02d}:00" for h in range(24)],
            [[b["hours"] for b in busiest[wd * 24 : wd * 24 + 24]] for wd in range(7)],
            title="Busiest hours (hours watched)",
            fmt=_hours,
        ),
    }


def _csv_links(days: int, user_id: int | None) -> dict[str, str]:
    query = urlencode({"days": days, **({"user_id": user_id} if user_id else {})})
    names = {
        "hours": "daily", "plays": "daily", "titles": "titles", "completion": "titles",
        "trending": "trending", "decisions": "decisions", "busiest": "busiest",
        "people": "people", "history": "history", "now": "now-playing",
    }  # fmt: skip
    return {key: f"/api/v1/analytics/{name}.csv?{query}" for key, name in names.items()}


class AnalyticsPages(Controller):
    include_in_schema = False

    @get("/analytics", sync_to_thread=True, guards=[admin_only])
    def dashboard(
        self,
        ctx: NamedDependency[AppContext],
        days: Days = 30,
        person_id: Person = None,
    ) -> Template:
        user_id = _person_id(person_id)
        person = ctx.users.get(user_id) if user_id is not None else None
        if user_id is not None and person is None:
            raise NotFoundException(detail=f"There is no user with id {user_id}.")
        people = ctx.analytics.people(days, user_id)
        context = {
            "days": days,
            "periods": PERIODS,
            "person": person,
            "users": ctx.users.all(),
            "charts": build_charts(ctx, days, user_id),
            "people": charts.bars(
                [charts.Point(p["name"], p["hours"], plural(p["plays"], "play")) for p in people],
                title="Hours watched per person",
                fmt=_hours,
                links=[f"/analytics?days={days}&user_id={p['user_id']}" for p in people],
            ),
            "viewings": ctx.now_playing.viewings(user_id),
            "csv": _csv_links(days, user_id),
        }
        return Template("analytics.html", context=context)

    @get("/analytics/now", sync_to_thread=True, guards=[admin_only])
    def now(self, ctx: NamedDependency[AppContext], person_id: Person = None) -> Template:
        """The now-playing panel alone, for the page to poll."""
        user_id = _person_id(person_id)
        context = {"viewings": ctx.now_playing.viewings(user_id), "user_id": user_id}
        return Template("_now_playing.html", context=context)

    @get("/history", sync_to_thread=True)
    def history(
        self, request: Request[Any, Any, Any], ctx: NamedDependency[AppContext]
    ) -> Template:
        me = viewer(request)
        context = {
            "history": ctx.analytics.history(me.id, limit=100),
            "charts": build_charts(ctx, 30, me.id),
            "csv": _csv_links(30, me.id),
        }
        return Template("history.html", context=context)

    @get("/analytics/items/{item_id:int}", sync_to_thread=True)
    def item(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        item_id: ItemId,
        user_id: QueryId = None,
    ) -> Template:
        """One title: its "most watched moments" over the timeline, chapters marked."""
        row = ctx.db.query_one("SELECT id, title, kind FROM items WHERE id = ?", [item_id])
        if row is None:
            raise NotFoundException(detail=f"There is no item with id {item_id}.")
        whose = scope(request, user_id)
        found = ctx.analytics.moments(item_id, whose)
        chapters = ctx.db.query_one(
            "SELECT chapters FROM files WHERE item_id = ? AND probe_error IS NULL ORDER BY id",
            [item_id],
        )
        marks = [
            (float(c["start_s"]), str(c.get("title") or ""))
            for c in msgspec.json.decode((chapters[0] if chapters else None) or "[]")
            if isinstance(c.get("start_s"), int | float) and c["start_s"] > 0
        ]
        query = urlencode({"format": "csv", **({"user_id": whose} if whose else {})})
        context = {
            "item": dict(row),
            "moments": found,
            "heatmap": charts.strip(
                found["counts"],
                found["length_s"],
                title="Most watched moments",
                marks=marks,
                clock=timestamp,
            ),
            "csv": f"/api/v1/analytics/items/{item_id}/moments?{query}",
            "admin": viewer(request).is_admin,
        }
        return Template("analytics_item.html", context=context)
