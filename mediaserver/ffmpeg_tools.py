"""Finding ffmpeg and ffprobe, and the guard every media input goes through.

Order: the configured path, then PATH, then the ffmpeg binary shipped in the
``imageio-ffmpeg`` wheel (which has no ffprobe: probing uses PyAV, so that is fine).
"""

from __future__ import annotations

import errno
import functools
import itertools
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "INPUT_GUARD",
    "FfmpegInfo",
    "FfmpegNotFound",
    "failure_words",
    "ffmpeg_failure",
    "ffmpeg_info",
    "find_ffmpeg",
    "find_ffprobe",
    "guarded_argv",
    "input_url",
    "low_priority_prefix",
    "run_ffmpeg",
    "without_paths",
]

# Media files must never make ffmpeg read other files or the network (concat:, http:,
# playlists pointing elsewhere).  Every input is given after these options.  The protocol
# list alone is not enough: a text file named ``x.mkv`` holding an ffconcat or HLS playlist
# opens the files it lists through ``file:``, so only real container demuxers may run.
INPUT_GUARD: dict[str, str] = {
    "protocol_whitelist": "file,pipe",
    "format_whitelist": "mov,matroska,webm,mpegts,mpeg,mpegvideo,avi,asf,flv,ogg,dv,h264,hevc,m4v",
}


class FfmpegNotFound(Exception):
    """No usable ffmpeg: the message says what was tried."""


@dataclass(frozen=True, slots=True)
class FfmpegInfo:
    path: str
    source: str  # "configured", "PATH" or "imageio-ffmpeg"
    version: str
    encoders: tuple[str, ...]


def input_url(path: Path) -> str:
    """``file:`` + absolute path: a name that starts with ``-`` or holds ``:`` stays a file."""
    return "file:" + str(path.absolute())


def find_ffmpeg(configured: str = "") -> tuple[str, str]:
    """Return (path, source) of the ffmpeg to use."""
    if configured:
        found = shutil.which(configured)
        if not found:
            raise FfmpegNotFound(f"ffmpeg.ffmpeg is set to {configured!r}, which does not run")
        return found, "configured"
    found = shutil.which("ffmpeg")
    if found:
        return found, "PATH"
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe()), "imageio-ffmpeg"
    except Exception as exc:  # the wheel raises RuntimeError when it has no binary
        raise FfmpegNotFound(
            "no ffmpeg on PATH and the imageio-ffmpeg fallback failed: " + str(exc)
        ) from exc


def find_ffprobe(configured: str = "") -> str | None:
    if configured:
        return shutil.which(configured)
    return shutil.which("ffprobe")


@functools.cache
def ffmpeg_info(path: str, source: str) -> FfmpegInfo:
    version_out = _run([path, "-hide_banner", "-version"])
    match = re.search(r"ffmpeg version (\S+)", version_out)
    encoders_out = _run([path, "-hide_banner", "-encoders"])
    encoders = tuple(
        m.group(1) for m in re.finditer(r"^ [VAS][\w.]{5} (\S+)", encoders_out, re.MULTILINE)
    )
    return FfmpegInfo(path, source, match.group(1) if match else "unknown", encoders)


def guarded_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` run so that it dies with the server, even after ``kill -9`` of the server.

    util-linux's ``setpriv --pdeathsig KILL`` (always on Debian) sets the parent-death signal
    and execs the command; ``preexec_fn`` could do it too, but is unsafe in a threaded process.
    The signal follows the thread that started the child, so start long jobs from a thread
    that outlives them.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or sys.platform != "linux":
        return list(argv)
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def low_priority_prefix() -> list[str]:
    """``nice -n 19`` and ``ionice -c 3`` (idle I/O; ``-t``: run anyway if refused), for
    background work that must never slow a viewer or the API."""
    prefix: list[str] = []
    nice = shutil.which("nice")
    if nice:
        prefix += [nice, "-n", "19"]
    ionice = shutil.which("ionice")
    if ionice and sys.platform == "linux":
        prefix += [ionice, "-c", "3", "-t"]
    return prefix


def run_ffmpeg(
    argv: Sequence[str], *, timeout_s: float, background: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """Run one ffmpeg to completion: its own process group, no shell, killed on timeout
    and with the server; raises ``subprocess.CalledProcessError`` / ``TimeoutExpired``.
    ``background``: at the lowest CPU and I/O priority (scan-time posters)."""
    command = [*low_priority_prefix(), *argv] if background else list(argv)
    return subprocess.run(  # noqa: S603 - an argv list, never a shell
        guarded_argv(command), capture_output=True, timeout=timeout_s, check=True, process_group=0
    )


def _run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)  # noqa: S603
    return done.stdout


# -- ffmpeg's and the system's errors, in words without the server's paths --------------
# Every message made from an ffmpeg or OS error goes through here, so none shows where the
# server keeps its files (a cache file's name, the data folder, a library's folder): the
# video is named by its file name, and anything else is "a working file".

_LOG_PREFIX = re.compile(r"\[[^\[\]]* @ 0x[0-9a-fA-F]+\]\s*")  # "[mov,mp4,m4a @ 0x55d1…] "
# An absolute path, with or without "file:", up to a space, a quote or a closing ".:,;)".
_PATH = re.compile(r"(?<![\w.~/])(?:file:)?/[^\s'\"]*?(?=[.,:;)]?(?:\s|$)|['\"])")
_NOISE = ("Conversion failed!", "Last message repeated", "Exiting normally")
WORKING_FILE = "a working file"


def without_paths(text: str, names: Mapping[str, str] | None = None) -> str:
    """``text`` with every absolute path in it replaced: one in ``names`` (with or without
    ``file:``) by its name there, any other by "a working file"."""
    for path, name in sorted((names or {}).items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"file:{path}", name).replace(path, name)
    return _PATH.sub(WORKING_FILE, text)


def ffmpeg_failure(
    stderr: bytes | str,
    *,
    argv: Sequence[str],
    code: int | None = None,
    names: Mapping[str, str] | None = None,
) -> str:
    """What ffmpeg said went wrong, for a person: its last two distinct lines, each input of
    ``argv`` named by its file name (or by ``names``, for an input that stands for another
    file), every other path "a working file", and no "[mov,mp4 @ 0x55…]" prefixes.  The
    paths of ``argv`` are replaced whole (a data folder may have spaces in its name)."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines: list[str] = []
    for raw in text.splitlines():
        line = _LOG_PREFIX.sub("", raw).strip()
        if line and not line.startswith(_NOISE) and line not in lines:
            lines.append(line)
    if not lines:
        return f"ffmpeg stopped with exit status {code}" if code is not None else "ffmpeg failed"
    paths = [arg.removeprefix("file:") for arg in argv]
    known = {path: WORKING_FILE for path in paths if path.startswith("/")}  # outputs too
    inputs = {
        path: Path(path).name
        for flag, path in itertools.pairwise(paths)
        if flag == "-i" and path.startswith("/")
    }
    return without_paths("; ".join(lines[-2:]), {**known, **inputs, **(names or {})})[:300]


def failure_words(exc: BaseException) -> str:
    """An error's text without the file names Python puts in an OSError's: "the server's
    disk is full", "Permission denied", or the message with its paths taken out."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the server's disk is full"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return without_paths(str(exc))
