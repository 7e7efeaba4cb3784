"""What one viewer may see of the catalog: some libraries, up to some content rating.

Every read of the catalog takes an :class:`Access` and turns it into one SQL condition, so
a list, a search, a count, a poster and a file URL all answer the same question the same
way.  The condition is built from integers only (library ids, an age), which keeps it safe
to inline and lets it be part of a memo key.  A hidden item is simply not there: its id
answers 404, like one that never existed.

A rating limit also looks inside containers, so nothing is shown that leads only to hidden
things: a collection is there when one of its films may be seen (whatever its own rating),
a show or a season when one of its episodes may, and an episode only when its season may
too (the season has its show's rating).  A library limit needs none of that: a container and
everything in it are in one library.
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
            parts.append(self._rated(alias))
        return " AND ".join(parts) if parts else None

    def _allowed(self, alias: str) -> str:
        """The rating limit on one row, containers not looked into."""
        limit = f"{alias}.rating_age <= {int(self.max_age or 0)}"
        unrated = f"{alias}.rating_age IS NULL"
        return f"({limit} OR {unrated})" if self.show_unrated else limit

    def _rated(self, alias: str) -> str:
        a, ok = alias, self._allowed
        # Aliases inside are prefixed so that they never shadow the caller's.
        film = f"""EXISTS (SELECT 1 FROM collection_items vci JOIN items vm ON vm.id = vci.item_id
                   WHERE vci.collection_id = {a}.id AND {ok("vm")})"""
        in_show = f"""EXISTS (SELECT 1 FROM items vs JOIN items ve ON ve.parent_id = vs.id
                      WHERE vs.parent_id = {a}.id AND {ok("vs")} AND {ok("ve")})"""
        in_season = f"EXISTS (SELECT 1 FROM items ve WHERE ve.parent_id = {a}.id AND {ok('ve')})"
        season = f"EXISTS (SELECT 1 FROM items vs WHERE vs.id = {a}.parent_id AND {ok('vs')})"
        return f"""(CASE {a}.kind WHEN 'collection' THEN {film}
                   WHEN 'show' THEN {ok(a)} AND {in_show}
                   WHEN 'season' THEN {ok(a)} AND {in_season}
                   WHEN 'episode' THEN {ok(a)} AND {season}
                   ELSE {ok(a)} END)"""

    def allows_library(self, library_id: int) -> bool:
        return self.libraries is None or library_id in self.libraries


EVERYTHING = Access()
