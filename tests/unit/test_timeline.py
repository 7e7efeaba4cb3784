"""One timeline: a clip whose own clock starts late is measured, posted and played from 0.

The clips are real: ffmpeg's ``-output_ts_offset 3600`` writes an MP4 with an edit list (an
empty hour, then the picture; what many phone and camera clips look like) and a Matroska
file whose timestamps start at 1:00:00.  A plain clip is the control.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mediaserver.library.probe import grab_frame, probe_file, rebase_chapters
from mediaserver.streaming.decision import decide
from mediaserver.streaming.profiles import PROFILES
from mediaserver.streaming.subtitles import SubtitleCache
from mediaserver.testing import make_clip, open_catalog, scan_folder

HOUR = 3600
SECONDS = 3.0
LATE = {"output_ts_offset": HOUR}


@pytest.fixture(scope="module")
def late_clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> dict[str, Path]:
    """An hour-late MP4 and Matroska clip, and a Matroska one whose chapters are on its
    own clock (1:00:00 and 1:00:01.5), as a cut from a longer recording has them."""
    folder = tmp_path_factory.mktemp("late")
    clips = {
        ext: make_clip(
            folder / f"late.{ext}",
            seconds=SECONDS,
            video="testsrc",
            subtitle=True,  # one cue, 0:00 to 0:01 on the picture's clock
            output=LATE,
            ffmpeg=ffmpeg_binary,
        )
        for ext in ("mp4", "mkv")
    }
    chapters = folder / "chapters.txt"
    chapters.write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=3600000\nEND=3601500\ntitle=One\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=3601500\nEND=3603000\ntitle=Two\n",
        encoding="utf-8",
    )
    clips["chapters"] = folder / "chapters.mkv"
    argv = [ffmpeg_binary, "-v", "error", "-y", "-copyts", "-i", str(clips["mkv"])]
    argv += ["-i", str(chapters), "-map", "0", "-map_chapters", "1", "-c", "copy"]
    subprocess.run([*argv, str(clips["chapters"])], check=True, capture_output=True, timeout=60)  # noqa: S603
    return clips


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_a_late_clip_is_measured_from_its_first_timestamp(
    late_clips: dict[str, Path], kind: str
) -> None:
    probed = probe_file(str(late_clips[kind]))
    assert probed.error is None
    assert probed.start_offset_s == pytest.approx(HOUR, abs=0.1)
    # Matroska's own duration is where it ends (1:00:03): the length is 3 s.
    assert probed.duration_s == pytest.approx(SECONDS, abs=0.1)
    bits_per_second = late_clips[kind].stat().st_size * 8 / SECONDS
    assert probed.bit_rate == pytest.approx(bits_per_second, rel=0.05)


def test_a_plain_clip_starts_at_zero(clip_cache: Path) -> None:
    probed = probe_file(str(clip_cache / "h264.mkv"))
    assert probed.start_offset_s == 0.0
    assert probed.duration_s == pytest.approx(2.0, abs=0.05)


def test_chapters_on_the_files_own_clock_move_to_zero(late_clips: dict[str, Path]) -> None:
    probed = probe_file(str(late_clips["chapters"]))
    starts = [round(c["start_s"], 1) for c in probed.chapters]
    assert starts == [0.0, 1.5], probed.chapters
    assert probed.duration_s == pytest.approx(SECONDS, abs=0.1)


def test_chapters_already_counted_from_zero_stay() -> None:
    chapters: list[dict[str, Any]] = [
        {"start_s": 0.0, "end_s": 60.0, "title": "Opening"},
        {"start_s": 60.0, "end_s": 120.0, "title": "Credits"},
    ]
    assert rebase_chapters(chapters, HOUR) == chapters
    assert rebase_chapters(chapters, 0.4) == chapters  # under a second: left exactly alone
    moved = rebase_chapters([{"start_s": 3600.0, "end_s": 3660.0, "title": "A"}], 3599.98)
    assert moved == [{"start_s": 0.02, "end_s": 60.02, "title": "A"}]


def test_the_poster_frame_is_taken_that_far_into_a_late_clip(
    late_clips: dict[str, Path], tmp_path: Path
) -> None:
    """testsrc moves: the frame 2 s in is not the first (which a seek to 2 s on the
    file's own clock, an hour before its first picture, would give)."""
    first, later = tmp_path / "first.jpg", tmp_path / "later.jpg"
    assert grab_frame(late_clips["mp4"], 0.0, first, width=160)
    assert grab_frame(late_clips["mp4"], 2.0, later, width=160)
    assert first.read_bytes() != later.read_bytes()


@pytest.mark.parametrize("kind", ["mp4", "mkv"])
def test_the_subtitles_of_a_late_clip_count_from_zero(
    late_clips: dict[str, Path], kind: str, tmp_path: Path, ffmpeg_binary: str
) -> None:
    (stream,) = [s for s in probe_file(str(late_clips[kind])).streams if s["type"] == "subtitle"]
    vtt = SubtitleCache(ffmpeg_binary, tmp_path).webvtt(late_clips[kind], stream).read_text()
    assert re.search(r"^00:00\.0\d\d --> 00:01\.0\d\d$", vtt, re.MULTILINE), vtt


def test_a_late_clip_streams_for_everyone_but_mpeg_ts_players() -> None:
    streams = [
        {"idx": 0, "type": "video", "codec": "h264", "height": 1080, "bit_depth": 8},
        {"idx": 1, "type": "audio", "codec": "aac", "channels": 2},
    ]
    chromium = PROFILES["chromium"]
    assert decide("mp4", streams, chromium).mode == "direct"
    assert decide("mp4", streams, chromium, start_offset_s=0.4).mode == "direct"
    late = decide("mp4", streams, chromium, start_offset_s=3599.98)
    assert (late.mode, late.video, late.audio) == ("remux", "copy", "copy")
    assert late.summary == (
        "Remuxing: the file's own clock starts at 1:00:00, and the stream starts at 0:00; "
        "the video is copied, not re-encoded."
    )
    assert decide("mkv", streams, PROFILES["tv-lg"], start_offset_s=HOUR).mode == "remux"
    # MPEG-TS starts anywhere by nature; a TV that opens it counts from its start.
    assert decide("ts", streams, PROFILES["tv-lg"], start_offset_s=HOUR).mode == "direct"


def test_files_probed_before_hearth_knew_their_start_are_probed_again(
    tmp_path: Path, late_clips: dict[str, Path], ffmpeg_binary: str
) -> None:
    root = tmp_path / "media"
    target = root / "Movies" / "Late Walk (2020).mkv"
    target.parent.mkdir(parents=True)
    target.write_bytes(late_clips["mkv"].read_bytes())
    with open_catalog(tmp_path / "data") as db:
        assert scan_folder(db, root, ffmpeg=ffmpeg_binary).probed == 1
        # What an older Hearth left: no start, and Matroska's end taken for the length.
        db.write(lambda d: d.execute("UPDATE files SET start_offset_s = NULL, duration_s = 3603"))
        again = scan_folder(db, root, ffmpeg=ffmpeg_binary)
        assert (again.probed, again.unchanged, again.items_added) == (1, 0, [])
        (row,) = db.query("SELECT start_offset_s, duration_s FROM files")
        assert row["start_offset_s"] == pytest.approx(HOUR, abs=0.1)
        assert row["duration_s"] == pytest.approx(SECONDS, abs=0.1)
        assert scan_folder(db, root, ffmpeg=ffmpeg_binary).unchanged == 1
