"""Links inside a library: one that leads out of the library's folders (``Odd/loop -> ..``)
is not followed unless the library allows it, one that stays inside is, loops end either
way, and what came through a link no longer followed leaves the catalog at the next scan."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mediaserver.db import Database
from mediaserver.events import EventBus
from mediaserver.library.links import OutsideLibrary
from mediaserver.library.scanner import Scanner
from mediaserver.library.service import LibraryService
from mediaserver.library.walk import folders_to_watch, walk_folders
from tests.conftest import LibraryFolder

pytestmark = pytest.mark.timeout(120)

SECRET = "Movies/Secret Film (2001)/Secret Film (2001).mp4"
OWN = "Odd/Own Film (2002)/Own Film (2002).mp4"


@dataclass
class Setup:
    media: Path
    db: Database
    service: LibraryService
    movies: int
    odd: int

    def follow(self, library_id: int, allowed: bool) -> None:
        self.db.write(
            lambda db: db.execute(
                "UPDATE libraries SET follow_outside_links = ? WHERE id = ?",
                [int(allowed), library_id],
            )
        )

    def paths(self, library_id: int) -> set[str]:
        rows = self.db.query("SELECT path FROM files WHERE library_id = ?", [library_id])
        return {os.path.relpath(r[0], self.media) for r in rows}

    def titles(self, library_id: int) -> set[str]:
        rows = self.db.query(
            "SELECT title FROM items WHERE library_id = ? AND kind = 'movie'", [library_id]
        )
        return {r[0] for r in rows}


@pytest.fixture
def setup(library: LibraryFolder, tmp_path: Path, ffmpeg_binary: str) -> Iterator[Setup]:
    media = library.root
    library.add(SECRET)
    library.add(OWN)
    (media / "Odd" / "loop").symlink_to("..")  # the whole media folder, Movies included
    favourites = media / "Odd" / "Favourites"  # the same film in two places
    favourites.mkdir()
    (favourites / "Own.mp4").symlink_to("../Own Film (2002)/Own Film (2002).mp4")
    db = Database(tmp_path / "data" / "catalog.sqlite3")
    db.open()
    scanner = Scanner(db, EventBus(), ffmpeg_binary=ffmpeg_binary, images_dir=tmp_path / "img")
    service = LibraryService(db, EventBus(), scanner)
    movies, odd = service.sync_libraries([media / "Movies", media / "Odd"])
    try:
        yield Setup(media, db, service, movies, odd)
    finally:
        db.close()


def test_a_link_out_of_the_library_is_not_walked_and_is_named_with_its_target(
    setup: Setup,
) -> None:
    odd = setup.media / "Odd"
    walk = walk_folders([odd])
    found = {os.path.relpath(v.path, setup.media) for v in walk.videos}
    assert found == {OWN, "Odd/Favourites/Own.mp4"}  # the inside link still works
    (skipped,) = [p for p in walk.problems if p.path == odd / "loop"]
    assert f"leading to {setup.media}" in skipped.reason and "not followed" in skipped.reason
    assert not skipped.unsure  # what came through it may go


def test_allowed_outside_links_are_followed_and_loops_still_end(setup: Setup) -> None:
    odd = setup.media / "Odd"
    walk = walk_folders([odd], follow_outside=True)
    found = {os.path.relpath(v.path, setup.media) for v in walk.videos}
    assert "Odd/loop/" + SECRET in found
    # Odd/loop/Odd is Odd itself: seen once, not walked again (and again...).
    assert any(p.path == odd / "loop" / "Odd" and "loop" in p.reason for p in walk.problems)
    assert len(found) == 3


def test_what_came_through_a_link_goes_when_it_is_no_longer_followed(setup: Setup) -> None:
    setup.follow(setup.odd, True)
    setup.service.scan_now(setup.odd)
    assert "Secret Film" in setup.titles(setup.odd)
    through = setup.media / "Odd" / "loop" / SECRET
    setup.service.check_reachable(setup.odd, through)  # allowed: served

    setup.follow(setup.odd, False)
    # Played before the next scan: refused, as the link now leads where it may not.
    with pytest.raises(OutsideLibrary, match="outside its library"):
        setup.service.check_reachable(setup.odd, through)
    setup.service.check_reachable(setup.odd, setup.media / "Odd" / "Favourites" / "Own.mp4")
    report = setup.service.scan_now(setup.odd)
    assert "Secret Film" not in setup.titles(setup.odd)
    assert setup.paths(setup.odd) == {OWN, "Odd/Favourites/Own.mp4"}
    assert not any(p.startswith("Odd/loop") for p in setup.paths(setup.odd))
    assert report.items_removed


def test_a_library_holding_only_a_link_out_is_not_an_unplugged_disk(setup: Setup) -> None:
    """An empty mount point keeps its files; a folder that holds only a skipped link is not
    empty, and what came through the link goes."""
    only = setup.media / "Only"
    only.mkdir()
    (only / "films").symlink_to("../Movies")
    (library_id,) = setup.service.sync_libraries([only], source="demo")
    setup.follow(library_id, True)
    setup.service.scan_now(library_id)
    assert setup.titles(library_id) == {"Secret Film"}
    setup.follow(library_id, False)
    setup.service.scan_now(library_id)
    assert setup.titles(library_id) == set()
    reasons = [r[0] for r in setup.db.query("SELECT reason FROM scan_problems")]
    assert not any("empty" in r for r in reasons)
    assert any("leading to " + str(setup.media / "Movies") in r for r in reasons)


def test_the_watcher_watches_what_the_scan_walks_and_no_further(setup: Setup) -> None:
    media, odd = setup.media, setup.media / "Odd"
    (odd / ".actors").mkdir()
    watched = set(folders_to_watch([odd]))
    assert watched == {odd, odd / "Own Film (2002)", odd / "Favourites", odd / ".actors"}
    allowed = set(folders_to_watch([odd], follow_outside=True))
    assert {odd / "loop", odd / "loop" / "Movies"} <= allowed  # and each folder only once:
    assert len({p.resolve() for p in allowed}) == len(allowed)
    assert media / "Movies" not in allowed and odd / "loop" / "Odd" not in allowed
