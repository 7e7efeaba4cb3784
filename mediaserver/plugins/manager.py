"""Loads plugins and calls their hooks so that one broken plugin never stops the server."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pluggy
import structlog

from mediaserver.plugins import hookspecs

__all__ = ["ENTRY_POINT_GROUP", "PluginManager", "PluginStatus"]

ENTRY_POINT_GROUP = "mediaserver.plugins"
log = structlog.get_logger(__name__)


@dataclass(slots=True)
class PluginStatus:
    name: str
    state: Literal["enabled", "failed"]
    error: str | None = None


class PluginManager:
    """A pluggy manager created per app (never at import time), with a status per plugin."""

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self.statuses: dict[str, PluginStatus] = {}

    def register(self, plugin: object, name: str) -> None:
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:
            self._fail(name, exc)
        else:
            self.statuses[name] = PluginStatus(name, "enabled")

    def load_entry_points(self) -> None:
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                plugin = ep.load()
                if isinstance(plugin, type):  # a class: one instance per running server
                    plugin = plugin()
            except Exception as exc:
                self._fail(ep.name, exc)
                continue
            self.register(plugin, ep.name)

    def call(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call every implementation; one that raises is unregistered and marked failed."""
        results = []
        hook = getattr(self._pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                result = impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:
                self._fail(impl.plugin_name, exc)
                self._pm.unregister(name=impl.plugin_name)
                continue
            if result is not None:
                results.append(result)
        return results

    def on_event(self, event: str, payload: Mapping[str, Any]) -> None:
        self.call("mediaserver_event", event=str(event), payload=payload)

    def _fail(self, name: str, exc: BaseException) -> None:
        log.error("plugin failed and was disabled", plugin=name, error=repr(exc))
        self.statuses[name] = PluginStatus(name, "failed", f"{type(exc).__name__}: {exc}")
