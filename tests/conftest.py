"""Shared fixtures: tiny real clips made once per session, and a library-folder builder.

Clips are 320x180 and two seconds long, so ffmpeg makes all of them in about a second and
a scan of a few copies takes well under one.  Copies of one clip share a fingerprint; use
different clips where a test needs files that are told apart by content.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from mediaserver.ffmpeg_tools import FfmpegNotFound, find_ffmpeg
from mediaserver.testing import cut_short, make_clip

# No test server announces itself on this machine's real network (mDNS multicasts on every
# interface): the discovery tests turn it on inside network namespaces they make.
os.environ["MEDIASERVER_DISCOVERY"] = "off"

# name -> make_clip keyword arguments
CLIPS: dict[str, dict[str, object]] = {
    "h264_aac.mp4": {},
    "h264.mkv": {"audio": False},
    "bars.mp4": {"video": "smptebars"},
    "two_audio_sub.mkv": {
        "audio_language": "eng",
        "extra_audio_languages": ("fre",),
        "subtitle": True,
    },
    # AV1 (libaom's realtime mode: a quarter of a second to make) and AAC.
    "av1_aac.mp4": {
        "vcodec": "libaom-av1",
        "size": "160x90",
        "seconds": 1.0,
        "output": {"usage": "realtime", "cpu-used": 8, "row-mt": 1},
    },
}
# A 12 s film and copies of it cut short (``make_damaged``).
DAMAGED_SECONDS = 12.0
DAMAGED_WORDS = "damaged: only 0:00:01 of 0:00:12 can be read"


@pytest.fixture(scope="session")
def ffmpeg_binary() -> str:
    try:
        return find_ffmpeg()[0]
    except FfmpegNotFound as exc:
        pytest.skip(f"needs ffmpeg: {exc}")


@pytest.fixture(scope="session")
def clip_cache(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> Path:
    """A folder holding every clip in :data:`CLIPS`, made once per test session."""
    folder = tmp_path_factory.mktemp("clips")
    for name, options in CLIPS.items():
        make_clip(folder / name, ffmpeg=ffmpeg_binary, **options)  # type: ignore[arg-type]
    return folder


def make_damaged(folder: Path, ffmpeg: str) -> dict[str, Path]:
    """``whole.mp4`` (12 s, faststart) and ``whole.mkv``; ``cut.mp4`` and ``cut.mkv``, each
    cut off at 1.2 s (the MP4 keeps its whole index in front, the Matroska file its stated
    duration but not its index); ``header_only.mp4``, the index and no pictures at all."""
    folder.mkdir(parents=True, exist_ok=True)
    whole = make_clip(
        folder / "whole.mp4",
        seconds=DAMAGED_SECONDS,
        size="160x90",
        output={"movflags": "+faststart"},
        ffmpeg=ffmpeg,
    )
    whole_mkv = folder / "whole.mkv"
    argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(whole)]
    subprocess.run([*argv, "-c", "copy", str(whole_mkv)], check=True, timeout=60)  # noqa: S603
    return {
        "whole.mp4": whole,
        "whole.mkv": whole_mkv,
        "cut.mp4": cut_short(whole, folder / "cut.mp4", 1.2),
        "cut.mkv": cut_short(whole_mkv, folder / "cut.mkv", 1.2),
        "header_only.mp4": cut_short(whole, folder / "header_only.mp4", 0.0),
    }


@pytest.fixture(scope="session")
def damaged_clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> dict[str, Path]:
    """:func:`make_damaged`, once per test session."""
    return make_damaged(tmp_path_factory.mktemp("damaged"), ffmpeg_binary)


@dataclass
class LibraryFolder:
    """A fresh library folder; ``add`` copies a session clip to a path inside it."""

    root: Path
    clips: Path

    def add(self, relative: str, clip: str = "h264_aac.mp4") -> Path:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.clips / clip, target)
        return target

    def write(self, relative: str, text: str) -> Path:
        """A sidecar (NFO, subtitle...) or any other text file."""
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        return target

    def clip(self, name: str) -> Path:
        return self.clips / name


@pytest.fixture
def library(tmp_path: Path, clip_cache: Path) -> LibraryFolder:
    root = tmp_path / "media"
    root.mkdir()
    return LibraryFolder(root, clip_cache)
