"""``/api/v1/discovery`` (admins): how this server announces itself, and the other nodes."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency

from mediaserver.api.access import admin_only
from mediaserver.context import AppContext

__all__ = ["DiscoveryController"]


class DiscoveryController(Controller):
    path = "/api/v1/discovery"
    tags = ["discovery"]
    guards = [admin_only]

    @get("/", sync_to_thread=False, summary="Announced names and the Hearth nodes seen on the LAN")
    def discovery(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        announcer = ctx.announcer
        if announcer is None:
            return {"announcing": False, "names": [], "addresses": [], "peers": []}
        return {
            "announcing": True,
            "names": announcer.announced_names,
            "addresses": list(announcer.addresses),
            "peers": [p.as_dict() for p in announcer.peers.values()],
        }
