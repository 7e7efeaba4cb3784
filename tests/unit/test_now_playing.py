"""Now playing: built from players' events and progress reports, ended by stop, complete
or silence, with names, lengths and the bitrate being sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from mediaserver.activity.events import PlaybackEvent
from mediaserver.activity.now_playing import STALE_S, NowPlaying
from mediaserver.db import Database
from mediaserver.events import Event, EventBus
from mediaserver.testing import ManualClock as Clock
from mediaserver.testing import open_catalog


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    def fill(d: sqlite_utils.Database) -> None:
        d.executescript(
            """
            INSERT INTO users (id, name, password_hash) VALUES (1, 'anna', 'x'), (2, 'ben', 'x');
            INSERT INTO libraries (id, name, path) VALUES (1, 'All', '/m');
            INSERT INTO items (id, library_id, kind, title, sort_title, match_key)
                VALUES (7, 1, 'movie', 'Long Walk', 'long walk', 'a');
            INSERT INTO files (id, item_id, library_id, path, size, mtime_ns, duration_s, bit_rate)
                VALUES (1, 7, 1, '/m/a.mkv', 1, 0, 600, 8000000);
            """
        )

    with open_catalog(tmp_path) as catalog:
        catalog.write(fill)
        yield catalog


@pytest.fixture
def live(db: Database) -> tuple[NowPlaying, EventBus, Clock]:
    bus, clock = EventBus(), Clock()
    now_playing = NowPlaying(db, bus, clock=clock)
    now_playing.attach()
    return now_playing, bus, clock


def events(bus: EventBus, user: int, *batch: dict[str, Any]) -> None:
    bus.publish(
        Event.PLAYBACK,
        {
            "user_id": user,
            "device": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko Firefox/128.0",
            "events": [PlaybackEvent(item_id=7, **e) for e in batch],
        },
    )


def test_a_play_shows_who_what_how_and_where(live: tuple[NowPlaying, EventBus, Clock]) -> None:
    now_playing, bus, _ = live
    events(bus, 1, {"type": "play", "position_s": 0.0, "decision": "transcode", "rung": "720p"})
    events(bus, 1, {"type": "seek", "from_s": 0.0, "to_s": 150.0, "decision": "transcode"})
    [viewing] = now_playing.viewings()
    assert viewing["user"] == "anna" and viewing["title"] == "Long Walk"
    assert viewing["decision"] == "transcode" and viewing["rung"] == "720p"
    assert viewing["bitrate"] == (3000 + 128) * 1000  # the rung's, not the file's
    assert viewing["position_s"] == 150.0 and viewing["fraction"] == 0.25
    assert viewing["length_s"] == 600 and not viewing["paused"]
    assert "Firefox" in viewing["device"]


def test_direct_play_reports_the_files_bitrate_and_pauses(
    live: tuple[NowPlaying, EventBus, Clock],
) -> None:
    now_playing, bus, _ = live
    events(bus, 2, {"type": "play", "decision": "direct", "rung": "Original"})
    events(bus, 2, {"type": "pause", "position_s": 60.0})
    [viewing] = now_playing.viewings()
    assert viewing["bitrate"] == 8_000_000 and viewing["paused"] and viewing["user"] == "ben"
    assert viewing["decision"] == "direct"  # kept from the play event
    assert now_playing.viewings(user_id=1) == []


def test_stop_complete_and_silence_end_a_viewing(
    live: tuple[NowPlaying, EventBus, Clock],
) -> None:
    now_playing, bus, clock = live
    events(bus, 1, {"type": "play"})
    events(bus, 2, {"type": "play"})
    assert now_playing.count() == 2
    events(bus, 1, {"type": "stop", "position_s": 10.0})
    assert [v["user"] for v in now_playing.viewings()] == ["ben"]
    clock.now += STALE_S - 1
    bus.publish(Event.PROGRESS, {"user_id": 2, "item_id": 7, "state": "playing", "position_s": 90})
    clock.now += STALE_S - 1  # heard from within the window: still watching
    assert now_playing.viewings()[0]["position_s"] == 90
    clock.now += 2
    assert now_playing.count() == 0
    events(bus, 1, {"type": "play"}, {"type": "complete"})
    assert now_playing.count() == 0


def test_progress_alone_is_enough_and_stopped_ends_it(
    live: tuple[NowPlaying, EventBus, Clock],
) -> None:
    now_playing, bus, _ = live  # a TV that only calls /progress
    bus.publish(Event.PROGRESS, {"user_id": 1, "item_id": 7, "state": "paused", "position_s": 30})
    [viewing] = now_playing.viewings()
    assert viewing["paused"] and viewing["device"] is None and viewing["decision"] is None
    bus.publish(Event.PROGRESS, {"user_id": 1, "item_id": 7, "state": "stopped", "position_s": 31})
    assert now_playing.viewings() == []


def test_old_events_from_an_offline_player_are_history_not_now(
    live: tuple[NowPlaying, EventBus, Clock],
) -> None:
    now_playing, bus, _ = live
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    events(bus, 1, {"type": "play", "at": long_ago})
    assert now_playing.viewings() == []


def test_an_error_is_shown_until_playback_resumes(
    live: tuple[NowPlaying, EventBus, Clock],
) -> None:
    now_playing, bus, _ = live
    events(bus, 1, {"type": "play"}, {"type": "error", "detail": "decode failed"})
    assert now_playing.viewings()[0]["error"] == "decode failed"
    events(bus, 1, {"type": "resume"})
    assert now_playing.viewings()[0]["error"] is None
