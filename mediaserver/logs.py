"""Structured logging (structlog), configured once from the settings.

JSON lines by default, for journald and log shippers; ``console`` for a terminal.  Every
line written while a request is served carries its ``request_id``.
"""

from __future__ import annotations

import logging
from typing import Literal

import structlog
from litestar.logging.config import StructLoggingConfig

from mediaserver.config import LoggingSettings

__all__ = ["logging_config"]


def logging_config(
    settings: LoggingSettings, *, minimum: Literal["debug", "info", "warning", "error"] = "debug"
) -> StructLoggingConfig:
    """Litestar's structlog config at the configured level (never below ``minimum``)."""
    level = max(getattr(logging, settings.level.upper()), getattr(logging, minimum.upper()))
    return StructLoggingConfig(
        pretty_print_tty=settings.format == "console",
        log_exceptions="never",  # api/errors.py logs the unexpected ones, once
        wrapper_class=structlog.make_filtering_bound_logger(level),
    )
