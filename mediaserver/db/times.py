"""Times as the catalog stores them: UTC, ISO 8601, to the millisecond, with a ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["stamp"]


def stamp(moment: datetime | None = None) -> str:
    """``2026-12-02T20:15:00.123Z`` for ``moment`` (now when not given)."""
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
