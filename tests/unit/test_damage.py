"""Files cut short: the probe measures how much can be read, the scan adds them with a
warning and lists them as problems, and playing one out is not watching it.

The clips (``tests/conftest.py::make_damaged``) are a real 12 s film and copies of it cut
off at 1.2 s, the way a copy that stopped leaves a file: a faststart MP4 keeps its whole
index, Matroska its stated duration.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaserver.activity.progress import ProgressService
from mediaserver.db import Database
from mediaserver.events import EventBus
from mediaserver.library import queries
from mediaserver.library.damage import damage_note
from mediaserver.library.probe import probe_file
from mediaserver.testing import open_catalog, scan_folder
from tests.conftest import DAMAGED_SECONDS, DAMAGED_WORDS

pytestmark = pytest.mark.timeout(120)

CUT = "Movies/Cut Short (2011).mp4"
WHOLE = "Movies/Whole Story (2011).mp4"
EMPTY = "Movies/Empty Reel (2012).mp4"


@pytest.mark.parametrize("name", ["whole.mp4", "whole.mkv"])
def test_a_whole_file_reads_to_its_end(damaged_clips: dict[str, Path], name: str) -> None:
    result = probe_file(str(damaged_clips[name]))
    assert result.error is None
    assert result.duration_s == pytest.approx(DAMAGED_SECONDS, abs=0.1)
    assert result.readable_s is None


@pytest.mark.parametrize("name", ["cut.mp4", "cut.mkv"])
def test_a_file_cut_short_says_how_much_can_be_read(
    damaged_clips: dict[str, Path], name: str
) -> None:
    result = probe_file(str(damaged_clips[name]))
    assert result.error is None  # still offered: the first second plays
    assert result.duration_s == pytest.approx(DAMAGED_SECONDS, abs=0.1)  # what it states
    assert result.readable_s is not None and 0.9 <= result.readable_s <= 1.3, result.readable_s


def test_a_file_with_nothing_but_its_header_is_not_offered(
    damaged_clips: dict[str, Path],
) -> None:
    result = probe_file(str(damaged_clips["header_only.mp4"]))
    assert result.error == "damaged: none of its 0:00:12 can be read"


def test_damage_in_words() -> None:
    assert damage_note(1.13, 12.0) == "only 0:00:01 of 0:00:12 can be read"
    assert damage_note(3725.4, 7200.0) == "only 1:02:05 of 2:00:00 can be read"
    assert damage_note(0.0, 12.0) == "none of its 0:00:12 can be read"


@pytest.fixture(scope="module")
def catalog(
    tmp_path_factory: pytest.TempPathFactory, damaged_clips: dict[str, Path], ffmpeg_binary: str
) -> Iterator[tuple[Database, int]]:
    """A scanned library of the cut MP4, the film it was cut from and a header-only copy;
    the catalog and the scan's problem count."""
    root = tmp_path_factory.mktemp("damaged-library")
    for relative, clip in ((CUT, "cut.mp4"), (WHOLE, "whole.mp4"), (EMPTY, "header_only.mp4")):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(damaged_clips[clip], root / relative)
    with open_catalog(tmp_path_factory.mktemp("data")) as db:
        report = scan_folder(db, root, ffmpeg=ffmpeg_binary)
        yield db, report.problems


def _item_id(db: Database, title: str) -> int:
    row = db.query_one("SELECT id FROM items WHERE title = ?", [title])
    assert row is not None, f"{title} is not in the catalog"
    return int(row["id"])


def test_the_scan_adds_a_damaged_file_with_a_warning_and_lists_it(
    catalog: tuple[Database, int],
) -> None:
    db, problem_count = catalog
    item = queries.get_item(db, _item_id(db, "Cut Short"))
    assert item is not None
    (file,) = item["files"]
    assert file["damage"] == "only 0:00:01 of 0:00:12 can be read"
    whole = queries.get_item(db, _item_id(db, "Whole Story"))
    assert whole is not None and whole["files"][0]["damage"] is None
    reasons = {Path(p["path"]).name: p["reason"] for p in queries.problems(db)}
    assert reasons == {
        "Cut Short (2011).mp4": DAMAGED_WORDS,
        "Empty Reel (2012).mp4": "damaged: none of its 0:00:12 can be read",
    }
    assert problem_count == 2
    assert db.query_one("SELECT 1 FROM items WHERE title = 'Empty Reel'") is None


def test_playing_a_damaged_file_out_is_not_watching_it(catalog: tuple[Database, int]) -> None:
    db, _ = catalog
    db.write(
        lambda d: d.execute("INSERT INTO users (id, name, password_hash) VALUES (7, 'a', 'x')")
    )
    user = 7
    progress = ProgressService(db, EventBus())
    cut, whole = _item_id(db, "Cut Short"), _item_id(db, "Whole Story")
    # Where the data stops, and where Chromium jumps to when a cut Matroska file "ends".
    for position in (1.1, DAMAGED_SECONDS):
        data = progress.record(user, cut, position, "stopped")
        assert not data.watched, position
        assert data.play_count == 0
    assert progress.record(user, whole, DAMAGED_SECONDS, "stopped").watched  # the same, whole
