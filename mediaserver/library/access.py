"""What one viewer may see of the catalog: some libraries, up to some content rating.

Every read of the catalog takes an :class:`Access` and turns it into one SQL condition, so
a list, a search, a poster and a file URL all answer the same question the same way.  The
condition is built from integers only (library ids, an age), which keeps it safe to inline
and lets it be part of a memo key.  A hidden item is simply not there: its id answers 404,
like one that never existed.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EVERYTHING", "Access"]


@dataclass(frozen=True, slots=True)
class Access:
    libraries: frozenset[int] | None = None  # None: every library, new ones included
    max_age: int | None = None  # None: no rating limit (see library/ratings.py)
    show_unrated: bool = False  # with a limit: show items without a known rating too

    @property
    def restricted(self) -> bool:
        return self.libraries is not None or self.max_age is not None

    def condition(self, alias: str = "i") -> str | None:
        """The SQL condition on ``alias`` (an ``items`` row), or None when nothing is hidden."""
        parts: list[str] = []
        if self.libraries is not None:
            ids = ",".join(str(int(i)) for i in sorted(self.libraries))
            parts.append(f"{alias}.library_id IN ({ids or 'NULL'})")
        if self.max_age is not None:
            limit = f"{alias}.rating_age <= {int(self.max_age)}"
            unrated = f"{alias}.rating_age IS NULL"
            parts.append(f"({limit} OR {unrated})" if self.show_unrated else limit)
        return " AND ".join(parts) if parts else None

    def allows_library(self, library_id: int) -> bool:
        return self.libraries is None or library_id in self.libraries


EVERYTHING = Access()
