"""``mediaserver doctor``: is this machine ready to serve?  Each line says what it found."""

from __future__ import annotations

import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from mediaserver.config import Settings
from mediaserver.db.sealing import SealingError, check_catalog
from mediaserver.ffmpeg_tools import FfmpegNotFound, ffmpeg_info, find_ffmpeg, find_ffprobe

__all__ = ["NETWORK_FILESYSTEMS", "filesystem_type", "run_doctor"]

NETWORK_FILESYSTEMS = frozenset(
    [
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "fuse.sshfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "davfs",
        "fuse.rclone",
    ]
)
_WANTED_ENCODERS = ("libx264", "h264_vaapi", "h264_qsv", "h264_nvenc", "libx265", "aac", "libopus")


def filesystem_type(path: Path, mounts: str = "/proc/mounts") -> str | None:
    """The type of the filesystem holding ``path`` (longest matching mount point)."""
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return None
    target = str(path.resolve())
    best, best_type = "", None
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, best_type = point, parts[2]
    return best_type


Say = Callable[[bool | None, str], None]


def run_doctor(settings: Settings) -> int:
    problems = 0

    def say(ok: bool | None, text: str) -> None:
        nonlocal problems
        mark = {True: "ok  ", False: "FAIL", None: "warn"}[ok]
        problems += ok is False
        print(f"[{mark}] {text}", flush=True)

    try:
        path, source = find_ffmpeg(settings.ffmpeg.ffmpeg)
        info = ffmpeg_info(path, source)
        have = [e for e in _WANTED_ENCODERS if e in info.encoders]
        say(
            True,
            f"ffmpeg {info.version} at {info.path} (from {info.source}); {len(info.encoders)} encoders",
        )
        say(
            "libx264" in have,
            "encoders: " + (", ".join(have) or "none of " + ", ".join(_WANTED_ENCODERS)),
        )
    except FfmpegNotFound as exc:
        say(False, str(exc))
    ffprobe = find_ffprobe(settings.ffmpeg.ffprobe)
    say(
        True if ffprobe else None,
        f"ffprobe at {ffprobe}" if ffprobe else "no ffprobe (not needed: probing uses PyAV)",
    )
    try:
        import av

        say(True, f"PyAV {av.__version__} (FFmpeg libraries {av.ffmpeg_version_info})")
    except Exception as exc:
        say(False, f"PyAV cannot be imported: {exc}")
    data = settings.data_path
    try:
        data.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=data, prefix=".doctor-"):
            pass
        say(True, f"data folder {data} is writable")
    except OSError as exc:
        say(False, f"data folder {data} is not writable: {exc.strerror}")
    if data.is_dir() and data.stat().st_mode & 0o077:
        mode = oct(stat.S_IMODE(data.stat().st_mode))[2:]
        say(None, f"other users can read the data folder (mode {mode}); the server makes it "
                  "private (0700, files 0600) when it starts")  # fmt: skip
    fstype = filesystem_type(data)
    if fstype in NETWORK_FILESYSTEMS:
        say(
            None,
            f"data folder is on a network filesystem ({fstype}): SQLite can corrupt there; use a local disk",
        )
    else:
        say(True, f"data folder filesystem: {fstype or 'unknown'}")
    _check_database(settings.database_path, say)
    try:
        check_catalog(settings.database_path)
    except SealingError as exc:
        say(False, str(exc))
    for media in settings.media_paths:
        say(
            os.access(media, os.R_OK | os.X_OK),
            f"media folder {media} "
            + ("is readable" if os.access(media, os.R_OK) else "cannot be read"),
        )
    print("all checks passed" if not problems else f"{problems} check(s) failed", flush=True)
    return 0 if not problems else 1


def _check_database(path: Path, report: Say) -> None:
    if not path.exists():
        report(True, f"catalog {path} does not exist yet (created on first start)")
        return
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        report(False, f"catalog {path} cannot be read: {exc}")
        return
    ok = result == ["ok"]
    detail = "passes integrity_check" if ok else "FAILS integrity_check: " + "; ".join(result[:5])
    report(ok, f"catalog {path} (schema v{version}) {detail}")
