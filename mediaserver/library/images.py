"""Posters and thumbnails pulled out of the video when no sidecar image exists.

One frame at 10 % of the runtime, scaled to 480 px wide, stored in the data dir under a
name derived from the file's fingerprint, so a rescan never extracts it twice.  The probe
worker normally saves it while it has the file open (``probe.grab_frame``); this ffmpeg
run is the fallback (rotated phone videos, files PyAV could probe but not decode).
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import ffmpeg

from mediaserver.ffmpeg_tools import INPUT_GUARD, input_url, run_ffmpeg
from mediaserver.library.links import stays_home

__all__ = ["CACHE_PREFIX", "FILE_PREFIX", "extract_frame", "resolve_image"]

FILE_PREFIX = "file:"  # a sidecar image in the library
CACHE_PREFIX = "cache:"  # an image we made, relative to the images dir


def extract_frame(
    ffmpeg_binary: str,
    video: Path,
    duration_s: float | None,
    out: Path,
    *,
    width: int = 480,
    timeout_s: float = 30.0,
) -> bool:
    """Write one JPEG frame of ``video`` to ``out``; False (and no file) when ffmpeg fails."""
    at = max(0.0, (duration_s or 0.0) * 0.10)
    tmp = partial_path(out)
    argv = (
        ffmpeg.input(input_url(video), ss=f"{at:.3f}", **INPUT_GUARD)
        .filter("scale", width, -2)
        .output(str(tmp), vframes=1, f="image2", **{"q:v": 4})
        .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
        .overwrite_output()
        .compile(cmd=ffmpeg_binary)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_ffmpeg(argv, timeout_s=timeout_s, background=True)  # a scan never slows viewers
    except (subprocess.SubprocessError, OSError):
        tmp.unlink(missing_ok=True)
        return False
    if not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        return False
    tmp.replace(out)
    return True


def partial_path(out: Path) -> Path:
    """Where one writer puts ``out`` before renaming it into place: its own name, since
    copies of one film (one fingerprint, one poster) are probed and framed side by side by
    several threads and processes, and a shared name let one rename another's half-written
    file away (a poster lost, or a file left half written)."""
    return out.with_name(f"{out.name}.{os.getpid()}-{threading.get_ident()}.part")


def resolve_image(reference: str | None, images_dir: Path) -> Path | None:
    """Turn a stored image reference into a path we may serve (never outside its root)."""
    if not reference:
        return None
    if reference.startswith(FILE_PREFIX):
        path = Path(reference[len(FILE_PREFIX) :])
        return path if stays_home(path) else None  # a link re-pointed since the scan
    if reference.startswith(CACHE_PREFIX):
        name = Path(reference[len(CACHE_PREFIX) :]).name  # no directory parts, ever
        return images_dir / name
    return None
