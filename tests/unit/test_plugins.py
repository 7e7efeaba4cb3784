"""The plugin contract: documented hooks, isolation of broken plugins, entry-point loading."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

from mediaserver.config import load_settings
from mediaserver.context import build_context
from mediaserver.events import Event, EventBus
from mediaserver.plugins import hookspecs
from mediaserver.plugins.hookspecs import hookimpl
from mediaserver.plugins.manager import PluginManager


def _hookspecs() -> list[Any]:
    return [
        fn
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, f"{hookspecs.PROJECT}_spec")
    ]


def test_every_hook_is_documented() -> None:
    specs = _hookspecs()
    assert {fn.__name__ for fn in specs} >= {
        "mediaserver_startup",
        "mediaserver_shutdown",
        "mediaserver_event",
    }
    for fn in specs:
        assert fn.__name__.startswith("mediaserver_"), fn.__name__
        assert fn.__doc__ and len(fn.__doc__.strip()) > 40, f"{fn.__name__} has no real docstring"


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def mediaserver_event(self, event: str, payload: Any) -> None:
        self.events.append(event)


class Broken:
    @hookimpl
    def mediaserver_event(self, event: str, payload: Any) -> None:
        raise RuntimeError("plugin bug")


def test_a_raising_plugin_is_disabled_and_the_others_still_run() -> None:
    manager = PluginManager()
    good, bad = Recorder(), Broken()
    manager.register(good, "good")
    manager.register(bad, "bad")
    manager.on_event(Event.SCAN_STARTED, {})
    manager.on_event(Event.SCAN_FINISHED, {})
    assert good.events == ["scan.started", "scan.finished"]
    assert manager.statuses["bad"].state == "failed"
    assert "plugin bug" in (manager.statuses["bad"].error or "")
    assert manager.statuses["good"].state == "enabled"


def test_event_bus_isolates_a_failing_subscriber() -> None:
    bus = EventBus()
    seen: list[tuple[str, dict[str, Any]]] = []

    def boom(event: Event, payload: Any) -> None:
        raise ValueError("subscriber bug")

    bus.subscribe(boom)
    unsubscribe = bus.subscribe(lambda e, p: seen.append((str(e), dict(p))), Event.ITEM_ADDED)
    bus.publish(Event.ITEM_ADDED, {"item_id": 1})
    bus.publish(Event.ITEM_REMOVED, {"item_id": 1})
    unsubscribe()
    bus.publish(Event.ITEM_ADDED, {"item_id": 2})
    assert seen == [("item.added", {"item_id": 1})]


def test_shipped_event_log_plugin_loads_from_its_entry_point(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    settings = load_settings(
        environ={
            "MEDIASERVER_DATA_DIR": str(tmp_path / "data"),
            "MEDIASERVER_MEDIA_DIRS": str(media),
        }
    )
    ctx = build_context(settings)
    ctx.start(background=False)
    try:
        assert ctx.plugins.statuses["event_log"].state == "enabled"
        library_id = ctx.library.libraries()[0]["id"]
        ctx.library.scan_now(library_id)
    finally:
        ctx.stop()
    lines = (tmp_path / "data" / "events.jsonl").read_text().splitlines()
    events = [json.loads(line)["event"] for line in lines]
    assert events == ["scan.started", "scan.finished"]
    assert json.loads(lines[-1])["library_id"] == library_id
