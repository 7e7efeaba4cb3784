"""ensure_demo_library: real ffmpeg generates the library once; ffprobe checks what came out.

Generation takes seconds, so one module-scoped library is shared by every read-only test;
only the interruption test pays for a second full run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediaserver.library import demo
from mediaserver.library.demo import (
    DEMO_MARKER,
    DemoLibraryError,
    demo_library_path,
    ensure_demo_library,
)

FFMPEG = shutil.which("ffmpeg")
FFPROBE = "/usr/bin/ffprobe"

pytestmark = pytest.mark.skipif(
    FFMPEG is None or not Path(FFPROBE).exists(), reason="needs ffmpeg on PATH and ffprobe"
)

ODYSSEY = "Movies/Test Pattern Odyssey (2019)/Test.Pattern.Odyssey.2019.720p.WEB-DL.x264-HEARTH"
BARS = "Movies/The.Colour.Bars.2021.1080p.BluRay.x264-HEARTH"
CODECS = "Movies/Night.Of.The.Codecs.2018.480p.mkv"
SEASON1 = "Shows/Signal Tests/Season 01/Signal.Tests"
SEASON2 = "Shows/Signal Tests/Season 02/Signal.Tests"
EPISODES = [
    f"{SEASON1}.S01E01.Pilot.720p.WEB-DL.x264-HEARTH.mp4",
    f"{SEASON1}.S01E02.Bars.and.Tone.720p.WEB-DL.x264-HEARTH.mp4",
    f"{SEASON2}.S02E01.Game.of.Life.720p.WEB-DL.x264-HEARTH.mp4",
    f"{SEASON2}.S02E02.Deep.Zoom.720p.WEB-DL.x264-HEARTH.mp4",
]
VIDEOS = [f"{ODYSSEY}.mp4", f"{BARS}.mp4", CODECS, *EPISODES]
EXPECTED_FILES = {
    DEMO_MARKER,
    f"{ODYSSEY}.mp4",
    f"{ODYSSEY}.nfo",
    "Movies/Test Pattern Odyssey (2019)/poster.jpg",
    f"{BARS}.mp4",
    f"{BARS}.en.srt",
    f"{BARS}.fr.srt",
    CODECS,
    CODECS.replace(".mkv", ".nfo"),
    "Shows/Signal Tests/tvshow.nfo",
    "Shows/Signal Tests/poster.jpg",
    "Shows/Signal Tests/fanart.jpg",
    *EPISODES,
}


@dataclass(frozen=True)
class Generated:
    data_dir: Path
    root: Path
    progress: list[tuple[int, int, str]]
    seconds: float


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    assert FFMPEG is not None
    data_dir = tmp_path_factory.mktemp("data")
    progress: list[tuple[int, int, str]] = []
    started = time.monotonic()
    root = ensure_demo_library(data_dir, FFMPEG, on_progress=lambda *call: progress.append(call))
    return Generated(data_dir, root, progress, time.monotonic() - started)


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _output(argv: list[str]) -> bytes:
    """Run a fixed tool argv (ffmpeg/ffprobe, no shell) and return its stdout."""
    return subprocess.run(argv, check=True, capture_output=True, timeout=30).stdout  # noqa: S603


def _probe(path: Path) -> dict[str, Any]:
    argv = [FFPROBE, "-v", "error", "-show_streams", "-show_format", "-of", "json"]
    probed: dict[str, Any] = json.loads(_output([*argv, f"file:{path}"]))
    return probed


def _streams(probed: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in probed["streams"] if s["codec_type"] == kind]


def _frame_md5(path: Path, at_seconds: float) -> str:
    assert FFMPEG is not None
    argv = [FFMPEG, "-v", "error", "-nostdin", "-ss", str(at_seconds), "-i", str(path)]
    argv += ["-frames:v", "1", "-f", "md5", "-"]
    return _output(argv).decode().strip()


def test_generates_exactly_the_expected_files(generated: Generated) -> None:
    assert generated.root == demo_library_path(generated.data_dir)
    assert generated.root == generated.data_dir / "demo-library"
    assert _files(generated.root) == EXPECTED_FILES
    # Nothing but the library itself is left next to it (no partial directories).
    assert [p.name for p in generated.data_dir.iterdir()] == ["demo-library"]


def test_reports_progress_once_per_file(generated: Generated) -> None:
    total = len(EXPECTED_FILES) - 1  # the marker is bookkeeping, not content
    assert [done for done, _, _ in generated.progress] == list(range(1, total + 1))
    assert {t for _, t, _ in generated.progress} == {total}
    assert {name for _, _, name in generated.progress} == EXPECTED_FILES - {DEMO_MARKER}


def test_generation_is_reasonably_fast(generated: Generated) -> None:
    # The target is ~15 s on 2 cores; the bound is loose so a busy CI box does not flake.
    assert generated.seconds < 60, f"demo generation took {generated.seconds:.1f} s"


def test_second_call_does_nothing(generated: Generated) -> None:
    def stamps() -> dict[str, int]:
        return {n: (generated.root / n).stat().st_mtime_ns for n in _files(generated.root)}

    def must_not_progress(done: int, total: int, name: str) -> None:
        raise AssertionError(f"regenerated {name}")

    before = stamps()
    # A binary that cannot exist proves ffmpeg is not even started.
    again = ensure_demo_library(
        generated.data_dir, "/nonexistent/ffmpeg", on_progress=must_not_progress
    )
    assert again == generated.root
    assert stamps() == before


@pytest.mark.parametrize("relative", VIDEOS)
def test_every_video_is_browser_friendly_h264_aac(generated: Generated, relative: str) -> None:
    probed = _probe(generated.root / relative)
    (video,) = _streams(probed, "video")
    assert video["codec_name"] == "h264"
    assert video["pix_fmt"] == "yuv420p"
    assert video["width"] <= 640 and video["height"] <= 360
    audio = _streams(probed, "audio")
    assert audio and all(a["codec_name"] == "aac" for a in audio)
    assert 20 <= float(probed["format"]["duration"]) <= 60


def test_container_formats(generated: Generated) -> None:
    assert "matroska" in _probe(generated.root / CODECS)["format"]["format_name"]
    for relative in VIDEOS:
        if relative.endswith(".mp4"):
            assert "mp4" in _probe(generated.root / relative)["format"]["format_name"]
            head = (generated.root / relative).read_bytes()[:65536]
            assert 0 <= head.find(b"moov") < head.find(b"mdat"), f"{relative} is not faststart"


def test_single_track_videos(generated: Generated) -> None:
    for relative in [f"{ODYSSEY}.mp4", CODECS, *EPISODES]:
        probed = _probe(generated.root / relative)
        counts = [len(_streams(probed, kind)) for kind in ("video", "audio", "subtitle")]
        assert counts == [1, 1, 0], relative


def test_colour_bars_has_two_languages_and_a_subtitle(generated: Generated) -> None:
    probed = _probe(generated.root / f"{BARS}.mp4")
    assert len(_streams(probed, "video")) == 1
    audio = _streams(probed, "audio")
    assert [a["tags"]["language"] for a in audio] == ["eng", "fre"]
    # MP4 keeps a track's title as its handler name.
    assert [a["tags"]["handler_name"] for a in audio] == ["Stereo", "Français"]
    (subtitle,) = _streams(probed, "subtitle")
    assert subtitle["codec_name"] == "mov_text"
    assert subtitle["tags"]["language"] == "eng"
    assert 39 <= float(probed["format"]["duration"]) <= 41


def test_colour_bars_sidecar_subtitles(generated: Generated) -> None:
    english = (generated.root / f"{BARS}.en.srt").read_text(encoding="utf-8")
    french = (generated.root / f"{BARS}.fr.srt").read_text(encoding="utf-8")
    assert english.startswith("1\n00:00:01,000 --> 00:00:07,000\n")
    assert "English subtitle" in english
    assert "française" in french
    assert english.count("-->") == french.count("-->") == 4


def test_keyframe_every_two_seconds(generated: Generated) -> None:
    argv = [FFPROBE, "-v", "error", "-select_streams", "v", "-skip_frame", "nokey"]
    argv += ["-show_entries", "frame=pts_time", "-of", "csv=p=0"]
    output = _output([*argv, f"file:{generated.root / ODYSSEY}.mp4"])
    times = [float(t.strip(",")) for t in output.decode().split()]
    assert times == [2.0 * i for i in range(15)]


def test_episode_pictures_differ(generated: Generated) -> None:
    digests = {_frame_md5(generated.root / relative, 5) for relative in EPISODES}
    assert len(digests) == len(EPISODES)


def test_episode_tags(generated: Generated) -> None:
    titles = []
    for relative in EPISODES:
        tags = _probe(generated.root / relative)["format"]["tags"]
        assert tags["show"] == "Signal Tests"
        titles.append(tags["title"])
    assert titles == ["Pilot", "Bars and Tone", "Game of Life", "Deep Zoom"]


@pytest.mark.parametrize(
    ("relative", "size"),
    [
        ("Movies/Test Pattern Odyssey (2019)/poster.jpg", (400, 600)),
        ("Shows/Signal Tests/poster.jpg", (400, 600)),
        ("Shows/Signal Tests/fanart.jpg", (1280, 720)),
    ],
)
def test_artwork(generated: Generated, relative: str, size: tuple[int, int]) -> None:
    (image,) = _probe(generated.root / relative)["streams"]
    assert image["codec_name"] == "mjpeg"
    assert (image["width"], image["height"]) == size


def test_nfo_files(generated: Generated) -> None:
    movie = ET.parse(generated.root / f"{ODYSSEY}.nfo").getroot()
    assert movie.tag == "movie"
    assert movie.findtext("title") == "Test Pattern Odyssey"
    assert movie.findtext("year") == "2019"
    assert movie.findtext("mpaa") == "PG"
    assert movie.findtext("plot") and movie.findtext("director") and movie.findtext("runtime")
    assert [g.text for g in movie.iter("genre")] == ["Science Fiction", "Documentary"]
    assert len([a.findtext("name") for a in movie.iter("actor")]) == 2
    show = ET.parse(generated.root / "Shows/Signal Tests/tvshow.nfo").getroot()
    assert show.tag == "tvshow"
    assert (show.findtext("title"), show.findtext("year")) == ("Signal Tests", "2020")
    assert show.findtext("plot") and list(show.iter("genre"))


def _partials(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.iterdir() if p.name != "demo-library"]


def test_interrupted_run_leaves_nothing_that_looks_complete(tmp_path: Path) -> None:
    assert FFMPEG is not None

    def crash_after_first(done: int, total: int, name: str) -> None:
        raise KeyboardInterrupt("simulated crash")

    with pytest.raises(KeyboardInterrupt):
        ensure_demo_library(tmp_path, FFMPEG, on_progress=crash_after_first)
    final = demo_library_path(tmp_path)
    assert not final.exists()
    assert not (final / DEMO_MARKER).exists()
    assert _partials(tmp_path) == []

    # Leftovers of a hard kill: a marker-less library dir and an old partial dir are replaced
    # and swept; a fresh partial dir may belong to a live process and is left alone.
    (final / "Movies").mkdir(parents=True)
    (final / "Movies" / "half-written.mp4").write_bytes(b"\0")
    stale, fresh = tmp_path / ".demo-library.partial-old", tmp_path / ".demo-library.partial-new"
    stale.mkdir()
    fresh.mkdir()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    assert ensure_demo_library(tmp_path, FFMPEG) == final
    assert _files(final) == EXPECTED_FILES
    assert _partials(tmp_path) == [fresh]


def test_ffmpeg_failure_raises_with_stderr_tail(tmp_path: Path) -> None:
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text("#!/bin/sh\necho 'boom: unknown encoder libx264' >&2\nexit 1\n")
    fake.chmod(0o755)
    data_dir = tmp_path / "data"
    with pytest.raises(DemoLibraryError, match="boom: unknown encoder libx264"):
        ensure_demo_library(data_dir, str(fake))
    assert not demo_library_path(data_dir).exists()
    assert _partials(data_dir) == []


def _fake_filters(tmp_path: Path, listing: str) -> str:
    """An "ffmpeg" whose -filters output is ``listing`` and that fails everything else."""
    fake = tmp_path / "ffmpeg-filters"
    body = f'case "$*" in *-filters*) printf "%s\\n" "{listing}";; *) exit 1;; esac\n'
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(0o755)
    return str(fake)


@pytest.mark.parametrize(
    "listing",
    [
        " ... testsrc2          |->V       Generate another test pattern.",
        " T.C drawtext          V->V       Draw text (but no font works).",
    ],
)
def test_drawtext_detection(tmp_path: Path, listing: str) -> None:
    # Missing from -filters, or listed but failing its one-frame trial: either way no labels.
    assert demo._drawtext_works(_fake_filters(tmp_path, listing)) is False


@pytest.mark.parametrize("text", [True, False])
def test_labels_only_when_drawtext_works(tmp_path: Path, text: bool) -> None:
    argvs = []
    for name, make in demo._plan(text):
        graph = make(tmp_path / Path(name).name)
        if graph is not None:
            argvs.append(" ".join(graph.compile(cmd="ffmpeg")))
    labelled = [argv for argv in argvs if "drawtext=" in argv]
    assert len(labelled) == (4 if text else 0)
