"""The catalog database: one class owns the SQLite file."""

from mediaserver.db.database import Database, DatabaseError

__all__ = ["Database", "DatabaseError"]
