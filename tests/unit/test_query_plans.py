"""The viewer's access condition stays an index lookup per row on the catalogs households
have: many films and a few shows, with the statistics ANALYZE keeps."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from mediaserver.library import catalog
from mediaserver.library.access import Access
from mediaserver.testing import open_catalog


def test_a_members_limits_look_up_children_by_index_not_by_scanning_every_item(
    tmp_path: Path,
) -> None:
    with open_catalog(tmp_path) as db:

        def fill(conn: sqlite_utils.Database) -> None:
            library = catalog.ensure_library(conn, "Films", Path("/media/films"))
            conn.conn.executemany(
                "INSERT INTO items (id, library_id, kind, match_key, title, sort_title,"
                " rating_age) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (n, library, kind, f"{kind}:{n}", f"T{n}", f"t{n}", (0, 7, 13, 18)[n % 4])
                    for n in range(1, 2001)
                    for kind in ["movie" if n % 20 else "show"]
                ],
            )
            conn.execute("ANALYZE")

        db.write(fill)
        condition = Access(max_age=13, show_unrated=True).condition("i")
        plan = [
            str(row[3])
            for row in db.query(
                f"EXPLAIN QUERY PLAN SELECT count(*) FROM items i WHERE {condition}"
            )
        ]
        assert plan[0] == "SCAN i"  # each item once; what is inside is a lookup by key
        inside = [step for step in plan[1:] if step.startswith(("SCAN", "SEARCH"))]
        children = [step for step in inside if "parent_id=?" in step]
        assert len(children) == 3, plan  # a show's seasons and episodes, a season's episodes
        assert all("PRIMARY KEY" in step or "items_parent" in step for step in inside), plan
