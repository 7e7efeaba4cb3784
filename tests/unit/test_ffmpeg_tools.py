"""Finding ffmpeg: PATH first, then the imageio-ffmpeg wheel; and embedded tags filling gaps."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mediaserver.ffmpeg_tools import (
    FfmpegNotFound,
    failure_words,
    ffmpeg_failure,
    ffmpeg_info,
    find_ffmpeg,
    guarded_argv,
    input_url,
    without_paths,
)
from mediaserver.library import queries
from mediaserver.testing import make_clip, open_catalog, scan_folder


def test_path_ffmpeg_is_preferred(monkeypatch: pytest.MonkeyPatch, ffmpeg_binary: str) -> None:
    monkeypatch.setenv("PATH", str(Path(ffmpeg_binary).parent))
    path, source = find_ffmpeg()
    assert (path, source) == (ffmpeg_binary, "PATH")


def test_without_ffmpeg_on_path_the_wheel_binary_is_used_and_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no ffmpeg anywhere on PATH
    path, source = find_ffmpeg()
    assert source == "imageio-ffmpeg"
    assert "imageio_ffmpeg" in path
    info = ffmpeg_info(path, source)
    assert info.version != "unknown" and "libx264" in info.encoders


def test_a_configured_ffmpeg_that_does_not_exist_is_a_clear_error() -> None:
    with pytest.raises(FfmpegNotFound, match=re.escape("ffmpeg.ffmpeg is set to '/nope/ffmpeg'")):
        find_ffmpeg("/nope/ffmpeg")


def test_input_urls_keep_odd_names_files() -> None:
    assert input_url(Path("/m/-rf.mkv")) == "file:/m/-rf.mkv"
    assert input_url(Path("/m/concat:a|b.mkv")) == "file:/m/concat:a|b.mkv"


def _tagged_clip(target: Path, ffmpeg_binary: str, **tags: str) -> None:
    metadata = {f"metadata:g:{i}": f"{k}={v}" for i, (k, v) in enumerate(tags.items())}
    make_clip(target, seconds=1, size="160x90", audio=False, output=metadata, ffmpeg=ffmpeg_binary)


def test_embedded_tags_fill_what_the_name_does_not_say(tmp_path: Path, ffmpeg_binary: str) -> None:
    root = tmp_path / "media"
    _tagged_clip(
        root / "Movies/Quiet.Harbour.mp4",
        ffmpeg_binary,
        date="2011",
        description="A tagged overview.",
        genre="Drama, Mystery",
    )
    _tagged_clip(
        root / "Shows/Harbour Lights/Season 1/Harbour.Lights.S01E03.mp4",
        ffmpeg_binary,
        title="The Tagged One",
    )
    _tagged_clip(root / "Movies/Named.Year.1999.mp4", ffmpeg_binary, date="2011")
    with open_catalog(tmp_path / "data") as db:
        scan_folder(db, root, ffmpeg=ffmpeg_binary)
        movies = {
            m["title"]: m for m in queries.list_items(db, queries.ItemQuery(kind=("movie",)))[0]
        }
        harbour = movies["Quiet Harbour"]
        assert (harbour["year"], harbour["overview"]) == (2011, "A tagged overview.")
        assert harbour["genres"] == ["Drama", "Mystery"]
        assert movies["Named Year"]["year"] == 1999  # the name wins over the tag
        (episode,) = queries.list_items(db, queries.ItemQuery(kind=("episode",)))[0]
        assert (episode["title"], episode["episode_number"]) == ("The Tagged One", 3)


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_an_ffmpeg_dies_with_a_server_killed_with_sigkill(ffmpeg_binary: str) -> None:
    """The parent-death signal: no ffmpeg outlives the process that started it."""
    script = (
        "import sys; from mediaserver.ffmpeg_tools import run_ffmpeg;"
        f"run_ffmpeg([{ffmpeg_binary!r}, '-nostdin', '-loglevel', 'error', '-re', '-f', 'lavfi',"
        " '-i', 'testsrc2=size=160x90:rate=10', '-f', 'null', '-'], timeout_s=120)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])  # noqa: S603
    try:
        deadline = time.monotonic() + 20
        children: list[int] = []
        while time.monotonic() < deadline and not children:
            children = [
                c
                for c in _children_of(parent.pid)
                if "ffmpeg" in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")
            ]
            time.sleep(0.1)
        assert children, "ffmpeg never started"
        (child,) = children
        assert os.getpgid(child) == child  # its own process group
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "ffmpeg outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_guarded_argv_wraps_the_command() -> None:
    argv = guarded_argv(["ffmpeg", "-version"])
    assert argv[-2:] == ["ffmpeg", "-version"]
    assert argv[1:4] == ["--pdeathsig", "KILL", "--"] and argv[0].endswith("setpriv")


def test_ffmpeg_failures_name_the_video_and_hide_the_servers_paths(
    tmp_path: Path, ffmpeg_binary: str
) -> None:
    """Every message made from ffmpeg's errors goes through ffmpeg_failure (issue 16)."""
    video = tmp_path / "Films" / "Not A Film (2020).mkv"
    video.parent.mkdir()
    video.write_bytes(b"x")
    working = tmp_path / "cache with spaces" / "gone" / ".ab12-cd34.5678.tmp"
    for argv, expected in [
        (
            ["-i", input_url(video), "-f", "null", "-"],
            "EBML header parsing failed; Not A Film (2020).mkv: Invalid data found when "
            "processing input",
        ),
        (
            [
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=32x32",
                "-t",
                "0.2",
                "-f",
                "mp4",
                input_url(working),
            ],
            "a working file: No such file or directory",
        ),
    ]:
        command = [ffmpeg_binary, "-hide_banner", "-loglevel", "error", "-nostdin", *argv]
        done = subprocess.run(command, capture_output=True, check=False)  # noqa: S603
        assert done.returncode != 0
        assert ffmpeg_failure(done.stderr, argv=command, code=done.returncode) == expected
    aliased = ffmpeg_failure(
        f"file:{working}: Invalid argument".encode(),
        argv=["ffmpeg", "-i", input_url(working)],
        names={str(working): "Film.en.vtt"},
    )
    assert aliased == "Film.en.vtt: Invalid argument"
    assert ffmpeg_failure(b"", argv=[], code=1) == "ffmpeg stopped with exit status 1"


def test_failure_words_leave_out_file_names() -> None:
    gone = FileNotFoundError(2, "No such file or directory", "/srv/hearth/cache/x/tiles.crc")
    assert failure_words(gone) == "No such file or directory"
    full = OSError(28, "No space left on device", "/srv/hearth/cache/hls/1/3.ts")
    assert failure_words(full) == "the server's disk is full"
    assert failure_words(ValueError("/srv/hearth/cache/0.jpg: bad JPEG marker at byte 4")) == (
        "a working file: bad JPEG marker at byte 4"
    )
    assert without_paths("1/25 timebase, 320x240") == "1/25 timebase, 320x240"
