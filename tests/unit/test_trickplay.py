"""Trickplay previews built by real ffmpeg from tiny clips in a temp catalog."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from mediaserver.db import Database
from mediaserver.streaming.trickplay import (
    SpriteLayout,
    TrickplayService,
    TrickplayUnavailable,
    jpeg_size,
    parse_index,
    render_vtt,
)
from mediaserver.testing import make_clip, open_catalog, scan_folder

CUE = re.compile(
    r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)"
)


def cues(vtt: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    assert vtt.startswith("WEBVTT\n\n")
    found = []
    for m in CUE.finditer(vtt):
        g = [int(x) for x in m.groups()[:8]]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        found.append((start, end, m.group(9), tuple(int(x) for x in m.groups()[9:])))
    assert vtt.count("-->") == len(found)  # every cue parsed
    return found  # type: ignore[return-value]


def decoded_size(path: Path) -> tuple[int, int]:
    """Width and height as a real decoder sees them (Pillow is not installed; PyAV is)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.width, frame.height


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> Path:
    folder = tmp_path_factory.mktemp("trickplay-clips")
    make_clip(folder / "long.mp4", seconds=35, audio=False, ffmpeg=ffmpeg_binary)
    make_clip(
        folder / "short.mp4", seconds=21, audio=False, video="smptebars", ffmpeg=ffmpeg_binary
    )
    make_clip(
        folder / "chapters.mp4",
        seconds=12,
        audio=False,
        chapters=[(0, 5, "Opening"), (5, 12, "Finale")],
        ffmpeg=ffmpeg_binary,
    )
    return folder


class Setup:
    def __init__(self, tmp_path: Path, clips: Path, ffmpeg: str, db: Database) -> None:
        self.media = tmp_path / "media"
        self.cache = tmp_path / "cache"
        self.clips, self.ffmpeg, self.db = clips, ffmpeg, db

    def add(self, name: str, clip: str) -> Path:
        self.media.mkdir(exist_ok=True)
        shutil.copyfile(self.clips / clip, self.media / name)
        scan_folder(self.db, self.media, ffmpeg=self.ffmpeg)
        return self.media / name

    def service(self, **options: Any) -> TrickplayService:
        return TrickplayService(
            self.db, ffmpeg_binary=self.ffmpeg, cache_dir=self.cache, poll_s=0.02, **options
        )

    def file(self, name: str) -> tuple[int, int]:
        row = self.db.query_one(
            "SELECT id, item_id FROM files WHERE path = ?", [str(self.media / name)]
        )
        assert row is not None
        return int(row["item_id"]), int(row["id"])

    def key(self, name: str) -> str:
        row = self.db.query_one(
            "SELECT id, size, mtime_ns FROM files WHERE path = ?", [str(self.media / name)]
        )
        assert row is not None
        return f"{row['id']}-{row['size']}-{row['mtime_ns']}"

    def dirs(self) -> list[str]:
        root = self.cache / "trickplay"
        return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


@pytest.fixture
def setup(tmp_path: Path, clips: Path, ffmpeg_binary: str) -> Iterator[Setup]:
    with open_catalog(tmp_path) as db:
        yield Setup(tmp_path, clips, ffmpeg_binary, db)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)
    return result


# -- pure pieces --------------------------------------------------------------------------


def test_cues_cover_the_duration_across_sheets() -> None:
    layout = SpriteLayout(10, 10, 10, 320, 180, 150, 1495.0)
    found = cues(render_vtt(layout, lambda n: f"{n}.jpg"))
    assert len(found) == 150
    assert found[0] == (0.0, 10.0, "0.jpg", (0, 0, 320, 180))
    assert found[11] == (110.0, 120.0, "0.jpg", (320, 180, 320, 180))
    assert found[100] == (1000.0, 1010.0, "1.jpg", (0, 0, 320, 180))
    assert found[-1] == (1490.0, 1495.0, "1.jpg", (2880, 720, 320, 180))
    assert all(a[1] == b[0] for a, b in itertools.pairwise(found))
    assert layout.sheets == 2


def test_last_cue_stretches_when_ffmpeg_made_fewer_tiles() -> None:
    found = cues(render_vtt(SpriteLayout(10, 3, 1, 320, 180, 3, 34.9), str))
    assert [(s, e) for s, e, *_ in found] == [(0, 10), (10, 20), (20, 34.9)]


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("0.jpg", 0),
        ("12.jpg", 12),
        *[(bad, None) for bad in ("-1.jpg", "01.jpg", "01x.jpg", "1.png", "../x.jpg", "1.jpg/")],
        ("\u0661.jpg", None),  # ARABIC-INDIC DIGIT ONE: int() would take it
        (".jpg", None),
        ("1234567.jpg", None),
    ],
)
def test_parse_index_takes_plain_decimals_only(name: str, index: int | None) -> None:
    assert parse_index(name) == index


# -- building with real ffmpeg ------------------------------------------------------------


def test_sprites_and_vtt_geometry_for_35_seconds_at_10(setup: Setup) -> None:
    setup.add("Long Walk (2020).mp4", "long.mp4")
    item_id, file_id = setup.file("Long Walk (2020).mp4")
    service = setup.service(interval_s=10, width=320)
    assert service.vtt_url(item_id, file_id) is None
    with pytest.raises(TrickplayUnavailable, match="not built yet"):
        service.vtt(item_id, file_id)

    report = service.run_once()

    assert (report["built"], report["failed"]) == (1, 0)
    found = cues(service.vtt(item_id, file_id))
    assert [(s, e) for s, e, *_ in found] == [(0, 10), (10, 20), (20, 30), (30, 35)]
    sheet = service.sprite(item_id, file_id, "0.jpg")
    width, height = decoded_size(sheet)
    assert (width, height) == jpeg_size(sheet) == (4 * 320, 180)  # 4x1 grid, 16:9 tiles
    for _, _, url, (x, y, w, h) in found:
        assert url.startswith(f"/api/v1/items/{item_id}/trickplay/{file_id}/0.jpg?v=")
        assert (w, h) == (320, 180) and x + w <= width and y + h <= height
    assert len({xywh for *_, xywh in found}) == 4  # four different tiles
    assert service.vtt_url(item_id, file_id) == (
        f"/api/v1/items/{item_id}/trickplay.vtt?file_id={file_id}"
    )
    with pytest.raises(TrickplayUnavailable):
        service.sprite(item_id, file_id, "1.jpg")  # only one sheet
    assert service.status()["files_done"] == service.status()["files_total"] == 1
    assert service.run_once()["files"] == []  # current: nothing to redo


def test_a_changed_file_is_rebuilt_and_its_old_folder_dropped(setup: Setup) -> None:
    path = setup.add("Walk.mp4", "long.mp4")
    item_id, file_id = setup.file("Walk.mp4")
    service = setup.service()
    service.run_once()
    (before,) = setup.dirs()

    shutil.copyfile(setup.clips / "short.mp4", path)  # 21 s now
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    scan_folder(setup.db, setup.media, ffmpeg=setup.ffmpeg)
    assert setup.file("Walk.mp4") == (item_id, file_id)  # same row, new size and mtime
    assert service.vtt_url(item_id, file_id) is None

    assert service.run_once()["built"] == 1
    (after,) = setup.dirs()
    assert after != before and after.startswith(f"{file_id}-")
    assert len(cues(service.vtt(item_id, file_id))) == 3


def test_a_broken_file_is_recorded_and_not_retried(setup: Setup) -> None:
    path = setup.add("Broken.mp4", "long.mp4")
    item_id, file_id = setup.file("Broken.mp4")
    # The catalog still holds the probed row; ffmpeg now meets garbage of the same name.
    path.write_bytes(b"\x00not a video any more\n" * 4096)
    service = setup.service()

    first = service.run_once()
    assert (first["built"], first["failed"]) == (0, 1)
    (folder,) = setup.dirs()
    reason = json.loads((setup.cache / "trickplay" / folder / "failed.json").read_text())["reason"]
    # ffmpeg's own words, naming the file, never where the server keeps it (issue 16).
    assert reason == "moov atom not found; Broken.mp4: Invalid data found when processing input"
    with pytest.raises(TrickplayUnavailable) as unavailable:
        service.vtt(item_id, file_id)
    assert str(unavailable.value) == f"no previews for file {file_id}: {reason}"

    again = service.run_once()
    assert again["files"] == [] and service.status()["files_total"] == 0
    assert setup.dirs() == [folder]


def test_busy_holds_the_run_before_the_next_file(setup: Setup) -> None:
    setup.add("Walk.mp4", "long.mp4")
    busy = threading.Event()
    busy.set()
    service = setup.service(busy=busy.is_set)
    service.request_run()
    try:
        wait_for(lambda: service.status()["state"] == "paused", "the run to pause")
        time.sleep(0.3)
        status = service.status()
        assert status["state"] == "paused" and status["files_done"] == 0
        assert service.running_pid is None and setup.dirs() == []
        busy.clear()
        assert service.wait_idle(30)
        assert service.status()["files_done"] == 1 and service.status()["built"] == 1
    finally:
        service.stop()


def proc_stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


@pytest.fixture(scope="module")
def slow_clip(clips: Path, ffmpeg_binary: str) -> str:
    """90 s: ffmpeg runs long enough (about half a second) to be caught at work."""
    make_clip(clips / "slow.mp4", seconds=90, audio=False, ffmpeg=ffmpeg_binary)
    return "slow.mp4"


def is_ffmpeg(pid: int | None) -> bool:
    """True once setpriv, nice and ionice have exec'd ffmpeg (so their settings hold)."""
    try:
        return pid is not None and Path(f"/proc/{pid}/comm").read_text().strip() == "ffmpeg"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_busy_stops_the_running_ffmpeg_and_lets_it_go_on(setup: Setup, slow_clip: str) -> None:
    setup.add("Walk.mp4", slow_clip)
    released = threading.Event()
    service = setup.service()
    service.busy = lambda: is_ffmpeg(service.running_pid) and not released.is_set()
    service.request_run()
    try:
        pid = wait_for(
            lambda: service.status()["state"] == "paused" and service.running_pid, "a pause"
        )
        wait_for(lambda: proc_stat(pid)[0] == "T", "ffmpeg to be stopped")
        cpu = int(proc_stat(pid)[11]) + int(proc_stat(pid)[12])  # utime + stime, in ticks
        time.sleep(0.3)
        fields = proc_stat(pid)
        assert fields[0] == "T"  # still stopped: no progress while busy
        assert int(fields[11]) + int(fields[12]) == cpu
        assert int(fields[16]) == 19  # nice -n 19
        ionice = shutil.which("ionice")
        if ionice:
            done = subprocess.run([ionice, "-p", str(pid)], capture_output=True, text=True)  # noqa: S603
            assert done.stdout.strip() == "idle"
        assert service.status()["files_done"] == 0 and setup.dirs() == [
            f".tmp-{setup.key('Walk.mp4')}"
        ]
        released.set()
        assert service.wait_idle(30)
        assert service.status()["built"] == 1
    finally:
        service.stop()


def test_stop_kills_a_paused_ffmpeg_and_leaves_no_half_built_folder(setup: Setup) -> None:
    setup.add("Walk.mp4", "long.mp4")
    service = setup.service()
    service.busy = lambda: service.running_pid is not None
    service.request_run()
    pid = wait_for(lambda: service.running_pid, "ffmpeg to start")
    wait_for(lambda: service.status()["state"] == "paused", "a pause")
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 2
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped
    assert setup.dirs() == []  # neither sprites nor a failure marker
    assert service.status()["last"]["cancelled"] is True
    service.request_run()  # refused after stop
    assert service.status()["state"] == "idle"


def test_chapter_images_for_a_file_with_chapters(setup: Setup) -> None:
    setup.add("Chapter Book.mp4", "chapters.mp4")
    item_id, file_id = setup.file("Chapter Book.mp4")
    service = setup.service()
    before = service.chapters(item_id, file_id)
    assert [c["title"] for c in before] == ["Opening", "Finale"]
    assert all(c["image_url"] is None for c in before)

    service.run_once()

    chapters = service.chapters(item_id, file_id)
    assert [(c["start_s"], c["end_s"]) for c in chapters] == [(0, 5), (5, 12)]
    for n, chapter in enumerate(chapters):
        assert chapter["image_url"].startswith(
            f"/api/v1/items/{item_id}/chapters/{file_id}/{n}.jpg"
        )
        image = service.chapter_image(item_id, file_id, f"{n}.jpg")
        assert decoded_size(image) == (320, 180)
    with pytest.raises(TrickplayUnavailable):
        service.chapter_image(item_id, file_id, "2.jpg")
