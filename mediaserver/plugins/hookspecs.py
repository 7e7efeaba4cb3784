"""The whole plugin contract: every hook Hearth calls, each with its docstring.

Plugins implement these with ``@hookimpl`` (``from mediaserver.plugins import hookimpl``
works too) and register through the ``mediaserver.plugins`` entry-point group.  Nothing
outside this file is promised to plugins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from mediaserver.context import AppContext

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "mediaserver"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mediaserver_startup(context: AppContext) -> None:
    """Called once when the server has opened its catalog, before it accepts requests.

    ``context`` gives the settings, the database and the event bus.  Start background work
    here (in your own thread) and stop it in :func:`mediaserver_shutdown`.
    """


@hookspec
def mediaserver_shutdown(context: AppContext) -> None:
    """Called once while the server stops, after it stopped accepting requests."""


@hookspec
def mediaserver_event(event: str, payload: Mapping[str, Any]) -> None:
    """Called for every event on the bus (see :class:`mediaserver.events.Event`).

    ``event`` is the event's name, e.g. ``"item.added"``; ``payload`` its data, e.g.
    ``{"item_id": 12, "kind": "movie", "title": "..."}``.  Runs on the publisher's thread:
    return quickly.
    """


@hookspec
def mediaserver_recommendation_candidates(
    user_id: int, context: AppContext
) -> list[tuple[int, str]] | None:
    """Extra titles to suggest to one person, with a reason each: ``[(item_id, "why")]``.

    Called by the recommendation job for every person, on its worker thread.  Return film
    or show ids from the catalog; Hearth leaves out what the person has started, seen, said
    they are not interested in, or may not see, and shows the rest as "Suggested for you"
    with your reasons.  Keep it quick: it runs once per person per run.
    """
