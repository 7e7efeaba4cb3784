"""What the household watched, answered from the hourly totals and the raw events.

Totals come from ``playback_rollups`` for the hours already rolled up and straight from
``playback_events`` for the hours since (the current one at least), so every chart is up to
the minute without waiting for the hourly job.  Days and hours are the server's local time:
a household reads "Tuesday evening", not UTC.  Every answer can be narrowed to one person
(``user_id``): that is all a member ever sees.  Each method returns a list of flat dicts,
the same rows the API sends as JSON or CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mediaserver.activity.rollups import PROGRESS_INTERVAL_S, TOTALS, hour_bucket
from mediaserver.db import Database

__all__ = ["ITEM_TITLE", "ITEM_TITLE_JOINS", "WEEKDAYS", "Analytics", "to_csv"]

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EVER = datetime(2000, 1, 1, tzinfo=UTC)  # before any playback event Hearth can have

# A readable name for any item id: "Show · S01E02 Title" for an episode, the title
# otherwise, and a placeholder for an item that has left the catalog since.
ITEM_TITLE = """
    CASE WHEN i.id IS NULL THEN '(removed item ' || t.item_id || ')'
         WHEN i.kind = 'episode' THEN coalesce(sh.title || ' · ', '')
              || printf('S%02dE%02d ', coalesce(i.season_number, 0), coalesce(i.episode_number, 0))
              || i.title
         ELSE i.title END
"""
ITEM_TITLE_JOINS = """
    LEFT JOIN items i ON i.id = t.item_id
    LEFT JOIN items se ON se.id = i.parent_id AND i.kind = 'episode'
    LEFT JOIN items sh ON sh.id = se.parent_id
"""


class Analytics:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- the one source every chart reads -----------------------------------------------

    def _totals(self, since: datetime, user_id: int | None) -> tuple[str, list[Any]]:
        """A ``WITH t(...)`` clause: hourly totals per item and person from ``since`` on."""
        row = self.db.query_one("SELECT value FROM rollup_state WHERE name = 'rolled_until'")
        mark = str(row[0]) if row else ""  # hours before it are rolled up; after, raw
        start = hour_bucket(since)
        who = "AND user_id = ?" if user_id is not None else ""
        person = [user_id] if user_id is not None else []
        sql = f"""WITH t(bucket, item_id, user_id, plays, completes, seconds, direct, remux,
                         transcode, errors) AS (
                SELECT bucket, item_id, user_id, plays, completes, seconds, direct, remux,
                       transcode, errors
                FROM playback_rollups
                WHERE period = 'hour' AND bucket >= ? AND bucket < ? {who}
                UNION ALL
                SELECT substr(at, 1, 13), item_id, user_id, {TOTALS}
                FROM playback_events WHERE at >= max(?, ?) {who}
                GROUP BY substr(at, 1, 13), item_id, user_id)"""
        return sql, [start, mark, *person, start, mark, *person]

    @staticmethod
    def _window(days: int, now: datetime | None) -> tuple[datetime, date]:
        """The start of the first local day of the last ``days`` days, and today."""
        local_now = (now or datetime.now(UTC)).astimezone()
        first = (local_now - timedelta(days=days - 1)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        return first, local_now.date()

    def _select(
        self,
        days: int,
        user_id: int | None,
        now: datetime | None,
        sql: str,
        params: Sequence[Any] = (),
        *,
        earlier: int = 0,
    ) -> list[Any]:
        """``sql`` run over ``t``, the hourly totals of the last ``days`` (and ``earlier``
        days before them)."""
        first, _ = self._window(days, now)
        with_t, totals = self._totals(first - timedelta(days=earlier), user_id)
        return self.db.query(f"{with_t} {sql}", [*totals, *params])

    # -- charts ---------------------------------------------------------------------------

    def daily(
        self, days: int = 30, user_id: int | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Plays and hours watched per local day, every day of the window (0 when none)."""
        first, today = self._window(days, now)
        rows = self._select(
            days,
            user_id,
            now,
            """SELECT date(bucket || ':00:00', 'localtime') AS day, sum(plays), sum(seconds)
               FROM t GROUP BY day""",
        )
        found = {r[0]: (int(r[1]), float(r[2])) for r in rows}
        out = []
        for offset in range(days):
            day = (first.date() + timedelta(days=offset)).isoformat()
            plays, seconds = found.get(day, (0, 0.0))
            if day <= today.isoformat():
                out.append({"day": day, "plays": plays, "hours": round(seconds / 3600, 3)})
        return out

    def titles(
        self,
        days: int = 30,
        user_id: int | None = None,
        limit: int = 10,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The most played titles: plays, completions, completion rate, hours."""
        rows = self._select(
            days,
            user_id,
            now,
            f""", per AS (SELECT item_id, sum(plays) AS plays, sum(completes) AS completes,
                         sum(seconds) AS seconds FROM t GROUP BY item_id)
                SELECT t.item_id, {ITEM_TITLE} AS title, t.plays, t.completes, t.seconds
                FROM per t {ITEM_TITLE_JOINS}
                WHERE t.plays > 0 OR t.seconds > 0
                ORDER BY t.plays DESC, t.seconds DESC, t.item_id LIMIT ?""",
            [limit],
        )
        return [
            {
                "item_id": int(r["item_id"]),
                "title": r["title"],
                "plays": int(r["plays"]),
                "completes": int(r["completes"]),
                "completion_rate": round(min(1.0, r["completes"] / r["plays"]), 3)
                if r["plays"]
                else 0.0,
                "hours": round(float(r["seconds"]) / 3600, 3),
            }
            for r in rows
        ]

    def trending(
        self,
        days: int = 7,
        user_id: int | None = None,
        limit: int = 10,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Titles played more in the last ``days`` than in the ``days`` before them."""
        cut = hour_bucket(self._window(days, now)[0])
        rows = self._select(
            days,
            user_id,
            now,
            f""", per AS (
                    SELECT item_id,
                           sum(plays) FILTER (WHERE bucket >= ?) AS recent,
                           sum(plays) FILTER (WHERE bucket < ?) AS earlier
                    FROM t GROUP BY item_id)
                SELECT t.item_id, {ITEM_TITLE} AS title, coalesce(t.recent, 0) AS recent,
                       coalesce(t.earlier, 0) AS earlier
                FROM per t {ITEM_TITLE_JOINS}
                WHERE coalesce(t.recent, 0) > coalesce(t.earlier, 0)
                ORDER BY coalesce(t.recent, 0) - coalesce(t.earlier, 0) DESC,
                         t.recent DESC, t.item_id
                LIMIT ?""",
            [cut, cut, limit],
            earlier=days,
        )
        return [
            {
                "item_id": int(r["item_id"]),
                "title": r["title"],
                "plays": int(r["recent"]),
                "plays_before": int(r["earlier"]),
                "rise": int(r["recent"]) - int(r["earlier"]),
            }
            for r in rows
        ]

    def decisions(
        self, days: int = 30, user_id: int | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Plays by how they were served: direct play, remux, transcode."""
        [row] = self._select(
            days, user_id, now, "SELECT sum(direct), sum(remux), sum(transcode) FROM t"
        )
        values = [int(v or 0) for v in row]
        return [
            {"decision": name, "plays": value}
            for name, value in zip(("direct", "remux", "transcode"), values, strict=True)
        ]

    def people(
        self, days: int = 30, user_id: int | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Plays and hours per person, most hours first."""
        rows = self._select(
            days,
            user_id,
            now,
            """SELECT t.user_id, coalesce(u.name, '(removed)') AS name, sum(t.plays) AS plays,
                      sum(t.seconds) AS seconds
               FROM t LEFT JOIN users u ON u.id = t.user_id
               GROUP BY t.user_id ORDER BY seconds DESC, plays DESC, name""",
        )
        return [
            {
                "user_id": int(r["user_id"]),
                "name": r["name"],
                "plays": int(r["plays"]),
                "hours": round(float(r["seconds"]) / 3600, 3),
            }
            for r in rows
        ]

    def busiest(
        self, days: int = 30, user_id: int | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Hours watched by weekday and hour of the day (local time): 7 × 24 rows."""
        rows = self._select(
            days,
            user_id,
            now,
            """SELECT CAST(strftime('%w', bucket || ':00:00', 'localtime') AS INTEGER) AS wd,
                      CAST(strftime('%H', bucket || ':00:00', 'localtime') AS INTEGER) AS hr,
                      sum(seconds), sum(plays)
               FROM t GROUP BY wd, hr""",
        )
        found = {((int(r[0]) + 6) % 7, int(r[1])): (float(r[2]), int(r[3])) for r in rows}
        return [
            {
                "weekday": WEEKDAYS[wd],
                "hour": hr,
                "hours": round(found.get((wd, hr), (0.0, 0))[0] / 3600, 3),
                "plays": found.get((wd, hr), (0.0, 0))[1],
            }
            for wd in range(7)
            for hr in range(24)
        ]

    def moments(self, item_id: int, user_id: int | None = None, bins: int = 100) -> dict[str, Any]:
        """Where in an item people watch: each ``progress`` event counts the ten seconds
        played at its position, each seek counts where it landed; in ``bins`` slices."""
        row = self.db.query_one(
            "SELECT max(duration_s) FROM files WHERE item_id = ? AND probe_error IS NULL",
            [item_id],
        )
        length = float(row[0]) if row and row[0] else 0.0
        who = "AND user_id = ?" if user_id is not None else ""
        person = [user_id] if user_id is not None else []
        counts = [0] * bins
        if length > 0:
            slices = self.db.query(
                f"""SELECT min(CAST(coalesce(CASE WHEN type = 'seek' THEN to_s END, position_s)
                                   * ? / ? AS INTEGER), ? - 1) AS slice, count(*)
                    FROM playback_events
                    WHERE item_id = ? AND type IN ('progress', 'seek') {who}
                      AND coalesce(CASE WHEN type = 'seek' THEN to_s END, position_s) >= 0
                    GROUP BY slice""",
                [bins, length, bins, item_id, *person],
            )
            for index, count in slices:
                counts[int(index)] = int(count)
        return {
            "item_id": item_id,
            "length_s": length,
            "slice_s": round(length / bins, 3) if length else 0,
            "counts": counts,
            "watched_s": sum(counts) * PROGRESS_INTERVAL_S,
        }

    def history(self, user_id: int, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """One person's viewing, most recent first: what, when, how far, how often.

        ``plays`` counts every time it was played, as the charts do (the playback events,
        all time); ``play_count`` only the times it was watched to the end, so a title
        marked watched by hand has 1 play even with no events."""
        with_t, totals = self._totals(_EVER, user_id)
        rows = self.db.query(
            f"""{with_t}, played AS (SELECT item_id, sum(plays) AS plays FROM t GROUP BY item_id)
                SELECT t.item_id, {ITEM_TITLE} AS title, t.last_played_at, t.position_s,
                       t.watched, t.play_count, i.kind,
                       max(t.play_count, coalesce(pl.plays, 0)) AS plays
                FROM progress t {ITEM_TITLE_JOINS}
                LEFT JOIN played pl ON pl.item_id = t.item_id
                WHERE t.user_id = ? AND t.last_played_at IS NOT NULL
                ORDER BY t.last_played_at DESC LIMIT ? OFFSET ?""",
            [*totals, user_id, limit, offset],
        )
        return [
            {
                "item_id": int(r["item_id"]),
                "title": r["title"],
                "kind": r["kind"],
                "last_played_at": r["last_played_at"],
                "position_s": round(float(r["position_s"]), 1),
                "watched": bool(r["watched"]),
                "play_count": int(r["play_count"]),
                "plays": int(r["plays"]),
            }
            for r in rows
        ]


def _cell(value: Any) -> Any:
    # A title from an NFO file is anyone's text: "=HYPERLINK(...)" must stay text when a
    # spreadsheet opens the export (OWASP's advice on CSV injection: a leading quote).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV with a header line (the keys of the first row unless given)."""
    out = io.StringIO()
    names = list(columns or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(out, fieldnames=names, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: _cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
