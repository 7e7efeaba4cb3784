"""Append every Hearth event to ``<data dir>/events.jsonl``, one JSON object per line."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from mediaserver.plugins.hookspecs import hookimpl

__all__ = ["EventLog"]


class EventLog:
    """Hearth makes one instance per running server (the entry point names the class)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    @hookimpl
    def mediaserver_startup(self, context: Any) -> None:
        path = Path(context.settings.data_path) / "events.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8", buffering=1)  # line-buffered: tail -f works

    @hookimpl
    def mediaserver_event(self, event: str, payload: Mapping[str, Any]) -> None:
        line = json.dumps({"at": round(time.time(), 3), "event": event, **payload}, default=str)
        with self._lock:
            if self._file is not None:
                self._file.write(line + "\n")

    @hookimpl
    def mediaserver_shutdown(self, context: Any) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
