"""The catalog database: one class owns the SQLite file."""

from mediaserver.db.database import Database, DatabaseError
from mediaserver.db.times import stamp

__all__ = ["Database", "DatabaseError", "stamp"]
