"""Hearth: a self-hosted home media server."""

import sys

__version__ = "0.1.0.dev0"


def _import_sqlite_utils_without_numpy() -> None:
    """sqlite-utils imports numpy (and pandas) when it can, only to map their number types
    to column types; numpy alone is 17 MB of every server's memory.  Hearth hands SQLite
    plain Python values, so sqlite-utils is imported while numpy looks missing; numpy
    still loads as usual wherever something else imports it (the recommendation job)."""
    hidden = [name for name in ("numpy", "pandas") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        import sqlite_utils  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


_import_sqlite_utils_without_numpy()
