"""Libraries made in the web UI, on a real catalog with real clips: several folders per
library, re-foldering, removal, the demo giving way, config libraries left alone, and the
folder rules (inside the roots, no overlap, never Hearth's own data folder)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediaserver.db import Database
from mediaserver.events import EventBus
from mediaserver.library.folders import (
    BadFolderPath,
    FolderBrowser,
    FolderNotFound,
    OutsideRoots,
)
from mediaserver.library.libraries import (
    Libraries,
    LibraryConflict,
    LibraryError,
    NoSuchLibrary,
    ReadOnlyLibrary,
)
from mediaserver.library.scanner import Scanner
from mediaserver.library.service import LibraryService
from mediaserver.server_profile import ProfileError, ServerProfileStore
from mediaserver.testing import open_catalog

pytestmark = pytest.mark.timeout(120)


@dataclass
class Setup:
    db: Database
    scans: LibraryService
    libraries: Libraries
    profile: ServerProfileStore
    srv: Path  # the browse root
    data: Path
    changes: list[str]

    def film(self, relative: str, clip: Path) -> Path:
        target = self.srv / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(clip, target)
        return target

    def titles(self, library_id: int) -> set[str]:
        rows = self.db.query(
            "SELECT title FROM items WHERE library_id = ? AND kind IN ('movie', 'show')",
            [library_id],
        )
        return {r[0] for r in rows}

    def scan(self, library_id: int) -> None:
        self.scans.scan_now(library_id)


@pytest.fixture
def setup(tmp_path: Path, ffmpeg_binary: str) -> Iterator[Setup]:
    srv, data = tmp_path / "srv", tmp_path / "data"
    srv.mkdir()
    with open_catalog(data) as db:
        bus = EventBus()
        scanner = Scanner(db, bus, ffmpeg_binary=ffmpeg_binary, images_dir=data / "images")
        scans = LibraryService(db, bus, scanner)
        profile = ServerProfileStore(db)
        changes: list[str] = []
        libraries = Libraries(
            db,
            scans,
            FolderBrowser([srv]),
            profile,
            data_dir=data,
            on_change=lambda: changes.append("changed"),
        )
        try:
            yield Setup(db, scans, libraries, profile, srv, data, changes)
        finally:
            scans.close()


@pytest.fixture
def clip(clip_cache: Path) -> Path:
    return clip_cache / "h264_aac.mp4"


def test_a_library_scans_every_one_of_its_folders(setup: Setup, clip: Path) -> None:
    setup.film("Films/Alien (1979)/Alien (1979).mp4", clip)
    setup.film("More films/Heat (1995).mp4", clip.with_name("bars.mp4"))
    made = setup.libraries.create(
        "Films", "films", [str(setup.srv / "Films"), str(setup.srv / "More films")]
    )
    assert made["source"] == "web" and made["kind"] == "films"
    assert made["folders"] == [str(setup.srv / "Films"), str(setup.srv / "More films")]
    assert made["path"] == str(setup.srv / "Films")  # the first folder, for older code
    setup.scans.wait_idle(60)
    assert setup.titles(made["id"]) == {"Alien", "Heat"}
    assert setup.changes == ["changed"]  # the watcher is told


def test_changing_folders_rescans_taking_out_and_bringing_in(setup: Setup, clip: Path) -> None:
    setup.film("A/Alien (1979).mp4", clip)
    setup.film("B/Heat (1995).mp4", clip.with_name("bars.mp4"))
    made = setup.libraries.create("Films", "films", [str(setup.srv / "A")])
    setup.scans.wait_idle(60)
    assert setup.titles(made["id"]) == {"Alien"}
    setup.libraries.update(made["id"], folders=[str(setup.srv / "B")])
    setup.scans.wait_idle(60)
    assert setup.titles(made["id"]) == {"Heat"}  # A's film left the catalog, not the disk
    assert (setup.srv / "A" / "Alien (1979).mp4").exists()
    renamed = setup.libraries.update(made["id"], name="Cinema", kind="mixed")
    assert (renamed["name"], renamed["kind"], renamed["folders"]) == (
        "Cinema",
        "mixed",
        [str(setup.srv / "B")],
    )


def test_a_missing_folder_keeps_its_films_while_the_others_are_scanned(
    setup: Setup, clip: Path
) -> None:
    setup.film("Disk1/Alien (1979).mp4", clip)
    deleted = setup.film("Disk1/Heat (1995).mp4", clip.with_name("bars.mp4"))
    gone = setup.film("Disk2/Ran (1985).mkv", clip.with_name("h264.mkv"))
    made = setup.libraries.create("Films", "films", [str(gone.parent), str(deleted.parent)])
    setup.scans.wait_idle(60)
    assert setup.titles(made["id"]) == {"Alien", "Heat", "Ran"}
    shutil.rmtree(gone.parent)  # an unplugged disk
    deleted.unlink()  # really deleted
    setup.scan(made["id"])
    assert setup.titles(made["id"]) == {"Alien", "Ran"}
    problems = [r[0] for r in setup.db.query("SELECT reason FROM scan_problems")]
    assert problems == ["library folder: not found"]


def test_removing_takes_the_catalog_rows_and_never_a_file(setup: Setup, clip: Path) -> None:
    film = setup.film("Films/Alien (1979).mp4", clip)
    made = setup.libraries.create("Films", "films", [str(film.parent)])
    setup.scans.wait_idle(60)
    assert setup.libraries.contents(made["id"])["films"] == 1
    removed = setup.libraries.remove(made["id"])
    assert removed == {
        "films": 1,
        "shows": 0,
        "episodes": 0,
        "collections": 0,
        "files": 1,
        "progress": 0,
    }
    assert film.exists()
    for table in ("libraries", "library_folders", "items", "files"):
        assert setup.db.query_one(f"SELECT count(*) FROM {table}")[0] == 0, table  # type: ignore[index]
    with pytest.raises(NoSuchLibrary):
        setup.libraries.get(made["id"])


def test_a_web_library_sends_the_demo_away_for_good(setup: Setup, clip: Path) -> None:
    demo = setup.data / "demo-library"
    demo.mkdir(parents=True)
    setup.scans.sync_libraries([demo], ["Demo library"], source="demo")
    assert setup.libraries.demo_showing()
    setup.film("Films/Alien (1979).mp4", clip)
    made = setup.libraries.create("Films", "films", [str(setup.srv / "Films")])
    assert not setup.libraries.demo_showing()
    assert [lib["name"] for lib in setup.libraries.all()] == ["Films"]
    assert setup.profile.get().demo_retired
    setup.scans.wait_idle(60)
    setup.libraries.remove(made["id"])
    assert setup.libraries.all() == []  # the empty state, not the demo again
    with pytest.raises(ReadOnlyLibrary, match="demo library"):
        setup.libraries.remove(int(setup.libraries.all(inactive=True)[0]["id"]))


def test_config_libraries_cannot_be_changed_here_and_say_where(setup: Setup) -> None:
    folder = setup.srv / "Config films"
    folder.mkdir()
    (library_id,) = setup.scans.sync_libraries([folder])
    for change in (
        lambda: setup.libraries.update(library_id, name="Mine"),
        lambda: setup.libraries.update(library_id, folders=[str(setup.srv)]),
        lambda: setup.libraries.remove(library_id),
    ):
        with pytest.raises(ReadOnlyLibrary, match=r"config file.*media_dirs.*restart"):
            change()
    assert setup.libraries.get(library_id)["source"] == "config"


def test_a_folder_the_config_file_dropped_is_taken_over_with_its_history(
    setup: Setup, clip: Path
) -> None:
    folder = setup.film("Films/Alien (1979).mp4", clip).parent
    (library_id,) = setup.scans.sync_libraries([folder])
    setup.scan(library_id)
    item = setup.db.query_one("SELECT id FROM items WHERE kind = 'movie'")
    setup.scans.sync_libraries([])  # gone from the config file: hidden, kept
    assert setup.libraries.all() == []
    made = setup.libraries.create("My films", "films", [str(folder)])
    assert made["id"] == library_id and made["source"] == "web"
    setup.scans.wait_idle(60)
    assert setup.db.query_one("SELECT id FROM items WHERE kind = 'movie'")[0] == item[0]  # type: ignore[index]


@pytest.mark.parametrize(
    ("folders", "error", "words"),
    [
        ([], LibraryError, "at least one folder"),
        (["{srv}/Films", "{srv}/Films/Alien"], LibraryError, "is inside"),
        (["{srv}/Taken"], LibraryConflict, "is {srv}/Taken, a folder of the library Taken"),
        (["{srv}"], LibraryConflict, "overlaps"),
        (["/etc"], OutsideRoots, "outside the folders"),
        (["{srv}/Nowhere"], FolderNotFound, "There is no folder"),
        (["relative/path"], BadFolderPath, "must start with /"),
    ],
)
def test_folder_rules(setup: Setup, folders: list[str], error: type[Exception], words: str) -> None:
    (setup.srv / "Films" / "Alien").mkdir(parents=True)
    (setup.srv / "Taken").mkdir()
    setup.libraries.create("Taken", "films", [str(setup.srv / "Taken")])
    with pytest.raises(error, match=words.format(srv=setup.srv)):
        setup.libraries.create("New", "films", [f.format(srv=setup.srv) for f in folders])
    assert [lib["name"] for lib in setup.libraries.all()] == ["Taken"]


def test_hearths_own_data_folder_is_never_a_library(setup: Setup, tmp_path: Path) -> None:
    # A browse root that holds the data folder (tmp/data) as well as the media (tmp/srv).
    libraries = Libraries(
        setup.db, setup.scans, FolderBrowser([tmp_path]), setup.profile, data_dir=setup.data
    )
    with pytest.raises(LibraryError, match="Hearth's own data folder"):
        libraries.create("Everything", "mixed", [str(tmp_path)])
    with pytest.raises(LibraryError, match="Hearth's own data folder"):
        libraries.create("Cache", "mixed", [str(setup.data)])


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("", "films", "give the library a name"),
        ("x" * 101, "films", "at most 100"),
        ("Bad\x07name", "films", "control characters"),
        ("Films", "music", "choose one of films, shows, mixed"),
        ("FILMS", "films", "already a library called FILMS"),
    ],
)
def test_names_and_kinds(setup: Setup, name: str, kind: str, words: str) -> None:
    (setup.srv / "One").mkdir()
    (setup.srv / "Two").mkdir()
    setup.libraries.create("Films", "films", [str(setup.srv / "One")])
    with pytest.raises(LibraryError, match=words):
        setup.libraries.create(name, kind, [str(setup.srv / "Two")])


def test_the_server_profile_checks_and_keeps_its_choices(setup: Setup) -> None:
    profile = setup.profile
    assert profile.get().name == "" and profile.get().metadata_language is None
    saved = profile.update(name="  The   Den ", metadata_language="French", subtitle_language="en")
    assert (saved.name, saved.metadata_language, saved.subtitle_language) == (
        "The Den",
        "fra",
        "eng",
    )
    assert profile.get() == saved
    for bad, words in (
        ({"metadata_language": "Klingonese"}, "not a language"),
        ({"name": "x" * 64}, "at most 63"),
        ({"colour": "red"}, "not a server setting"),
    ):
        with pytest.raises(ProfileError, match=words):
            profile.update(**bad)
    assert profile.get() == saved  # nothing stored from a refused change


def _rows(db: Database, sql: str) -> list[Any]:
    return [tuple(r) for r in db.query(sql)]


def test_config_folders_keep_their_folder_rows_through_restarts(setup: Setup) -> None:
    a, b = setup.srv / "A", setup.srv / "B"
    a.mkdir()
    b.mkdir()
    first = setup.scans.sync_libraries([a, b])
    again = setup.scans.sync_libraries([a, b])
    assert first == again
    assert _rows(setup.db, "SELECT library_id, position, path FROM library_folders") == [
        (first[0], 0, str(a)),
        (first[1], 0, str(b)),
    ]
