"""What each activity log entry says: a sentence a person reads, and its details.

The :class:`~mediaserver.activity.log.ActivityLog` decides *when* an entry is written (and
folds floods); these functions decide *what it says*, reading names of people, items and
libraries on the writer's connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from mediaserver.devices import describe_device
from mediaserver.words import plural

__all__ = [
    "MAX_ITEM_ROWS",
    "Entry",
    "as_int",
    "detail_lines",
    "field_of",
    "library_name",
    "new_items",
    "place_of",
    "playback_entry",
    "say_seconds",
    "scan_entry",
    "user_name",
]

MAX_ITEM_ROWS = 10  # new films and episodes a scan lists one by one; more get one row
_DECISIONS = {"direct": "direct play", "remux": "remux", "transcode": "transcode"}


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    severity: str
    summary: str
    detail: str | None = None
    user_id: int | None = None
    item_id: int | None = None


def place_of(device: str | None, address: str | None) -> str:
    shown = describe_device(device)
    place = address if address and address != "unknown" else None
    if shown and place:
        return f" from {shown} at {place}"
    if shown or place:
        return f" from {shown or place}"
    return ""


def say_seconds(value: float) -> str:
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def _clock(seconds: float) -> str:
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def field_of(event: Any, name: str) -> Any:
    """A field of a playback event: a PlaybackEvent struct, or a mapping from a plugin."""
    if isinstance(event, Mapping):
        return event.get(name)
    return getattr(event, name, None)


def detail_lines(**parts: Any) -> str | None:
    lines = [f"{key}: {value}" for key, value in parts.items() if value]
    return "\n".join(lines) or None


def user_name(db: sqlite_utils.Database, user_id: int | None) -> str:
    row = db.execute("SELECT name FROM users WHERE id = ?", [user_id]).fetchone()
    return str(row[0]) if row else "someone"


def library_name(db: sqlite_utils.Database, library_id: int | None) -> str:
    row = db.execute("SELECT name FROM libraries WHERE id = ?", [library_id]).fetchone()
    return str(row[0]) if row else "a library"


_ITEMS = """
    SELECT i.id, i.kind, i.title, i.year, i.season_number, i.episode_number, i.episode_end,
           show.title AS show
    FROM items i
    LEFT JOIN items season ON season.id = i.parent_id
    LEFT JOIN items show ON show.id = season.parent_id
"""


def _label(row: Any, item_id: int | None = None) -> str:
    """ "Slow River (2021)", "Tide S01E02 · Launch"."""
    if row is None:
        return f"item {item_id}"
    if row["kind"] == "episode" and row["episode_number"] is not None:
        number = f"S{row['season_number'] or 0:02d}E{row['episode_number']:02d}"
        if row["episode_end"]:
            number += f"-E{row['episode_end']:02d}"
        return f"{row['show'] or row['title']} {number} · {row['title']}"
    return f"{row['title']} ({row['year']})" if row["year"] else str(row["title"])


def _item_label(db: sqlite_utils.Database, item_id: int) -> str:
    return _label(db.execute(f"{_ITEMS} WHERE i.id = ?", [item_id]).fetchone(), item_id)


def new_items(
    db: sqlite_utils.Database, library_id: int | None, library: str | None, ids: list[int]
) -> list[Entry]:
    """A row per new film or episode, or one row for them all when there are many."""
    if not ids:
        return []
    chosen = "i.id IN (SELECT value FROM json_each(?)) AND i.kind IN ('movie', 'episode')"
    wanted = json.dumps(ids)
    counts = dict(
        db.execute(f"SELECT i.kind, count(*) FROM items i WHERE {chosen} GROUP BY i.kind", [wanted])
    )
    total = sum(counts.values())
    if not total:
        return []
    first = db.execute(
        f"{_ITEMS} WHERE {chosen} ORDER BY i.id LIMIT ?", [wanted, MAX_ITEM_ROWS]
    ).fetchall()
    where = library or library_name(db, library_id)
    if total <= MAX_ITEM_ROWS:
        return [
            Entry("items-added", "info", f"New in {where}: {_label(r)}", item_id=int(r["id"]))
            for r in first
        ]
    parts = [plural(counts[k], name) for k, name in (("movie", "film"), ("episode", "episode"))
             if counts.get(k)]  # fmt: skip
    listed = "\n".join(_label(r) for r in first) + f"\n… and {total - len(first)} more"
    return [
        Entry(
            "items-added",
            "info",
            f"{plural(total, 'new item')} in {where} ({', '.join(parts)})",
            listed,
        )
    ]


def scan_entry(library: str, s: Mapping[str, Any]) -> Entry:
    facts = [plural(int(s.get("files") or 0), "file"), f"{int(s.get('added') or 0)} added"]
    if s.get("removed"):
        facts.append(f"{s['removed']} removed")
    if s.get("problems"):
        facts.append(plural(int(s["problems"]), "problem"))
    took = say_seconds(float(s.get("duration_s") or 0))
    detail = detail_lines(probed=s.get("probed"), unchanged=s.get("unchanged"), moved=s.get("moved"),
                     pictures=s.get("images"))  # fmt: skip
    if s.get("cancelled"):
        return Entry("scan", "warning", f"Scan of {library} cancelled after {took}", detail)
    severity = "warning" if s.get("problems") else "info"
    return Entry("scan", severity, f"Scanned {library} in {took}: {', '.join(facts)}", detail)


def playback_entry(
    db: sqlite_utils.Database, event: Any, person: str, user_id: int | None, device: str | None
) -> Entry:
    item_id = int(field_of(event, "item_id"))
    title = _item_label(db, item_id)
    on = f", {device}" if device else ""
    kind = field_of(event, "type")
    position = field_of(event, "position_s")
    how = [_DECISIONS.get(str(field_of(event, "decision")), ""), field_of(event, "rung") or ""]
    if kind == "play":
        if position:
            how.append(f"from {_clock(position)}")
        summary = f"{person} started {title}{on}"
        return Entry("playback-started", "info", summary, ", ".join(h for h in how if h) or None,
                    user_id=user_id, item_id=item_id)  # fmt: skip
    if kind == "error":
        summary = f"Playback of {title} failed for {person}{on}"
        detail = str(field_of(event, "detail") or "the player gave no reason")
        return Entry("playback-error", "error", summary, detail, user_id=user_id, item_id=item_id)
    if kind == "complete":
        summary = f"{person} finished {title}{on}"
    else:
        at = f" at {_clock(position)}" if position is not None else ""
        summary = f"{person} stopped {title}{at}{on}"
    return Entry("playback-stopped", "info", summary, user_id=user_id, item_id=item_id)
