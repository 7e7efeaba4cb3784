"""Test helpers for Hearth's own tests and for plugin authors.

``make_clip`` synthesises a tiny real video with ffmpeg (nothing is downloaded),
``cut_short`` cuts one off the way a copy that stopped does, ``open_catalog`` opens a throwaway catalog, ``scan_folder`` scans a folder into it the
way the server would, and ``user_credentials`` signs a user in ahead of a server start.  Keep clips tiny (320x180, a second or two) and tests stay fast.
"""

from __future__ import annotations

import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ffmpeg as ffmpeg_python  # the name ``ffmpeg`` is make_clip's binary argument
import sqlite_utils

from mediaserver.db import Database
from mediaserver.db.schema import MIGRATIONS
from mediaserver.db.search_index import register_functions
from mediaserver.events import EventBus
from mediaserver.ffmpeg_tools import find_ffmpeg
from mediaserver.library import catalog
from mediaserver.library.scanner import Progress, Scanner, ScanReport

if TYPE_CHECKING:
    from mediaserver.accounts.auth import Kind

__all__ = [
    "ClipError",
    "ManualClock",
    "add_styled_subtitles",
    "cut_short",
    "make_clip",
    "open_catalog",
    "scan_folder",
    "user_credentials",
]

_MP4_LIKE = frozenset({".mp4", ".m4v", ".mov", ".3gp"})
_SRT = "1\n00:00:00,000 --> 00:00:01,000\nHello from Hearth.\n"


class ManualClock:
    """A monotonic clock that moves only when told (``clock.now += 60``): pass it where a
    service takes ``clock=`` to test expiry and throttling without waiting."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class ClipError(RuntimeError):
    """ffmpeg could not make the clip; the message ends with ffmpeg's stderr."""


def _lavfi(source: str, options: str) -> Any:
    joiner = ":" if "=" in source else "="
    return ffmpeg_python.input(f"{source}{joiner}{options}", f="lavfi")


def make_clip(
    path: Path,
    *,
    seconds: float = 2.0,
    size: str = "320x180",
    video: str = "testsrc2",
    audio: bool = True,
    audio_language: str | None = None,
    vcodec: str = "libx264",
    extra_audio_languages: Sequence[str] = (),
    subtitle: bool = False,
    chapters: Sequence[tuple[float, float, str]] = (),
    output: Mapping[str, Any] | None = None,
    ffmpeg: str | None = None,
) -> Path:
    """Write a real clip to ``path``; the container follows the suffix (.mp4, .mkv, ...).

    ``video`` is a lavfi source (``testsrc2``, ``smptebars``, ``color=c=red``).  With
    ``audio`` the first track is a tone tagged ``audio_language``; each entry of
    ``extra_audio_languages`` adds one more tone tagged with that language.  ``subtitle``
    embeds one English subtitle track (mov_text in MP4, WebVTT in WebM, else SubRip).
    ``chapters`` adds chapters, each ``(start_s, end_s, title)``.
    ``output`` adds or overrides ffmpeg output options (``{"g": 50}``, ``{"metadata:g:0":
    "date=2011"}``, ``{"output_ts_offset": 10}``).
    """
    binary = ffmpeg or find_ffmpeg()[0]
    suffix = path.suffix.lower()
    streams: list[Any] = [_lavfi(video, f"size={size}:rate=25:duration={seconds}").video]
    meta: dict[str, str] = {}
    languages: list[str | None] = [audio_language] if audio else []
    languages += list(extra_audio_languages)
    for n, language in enumerate(languages):
        tone = _lavfi("sine", f"frequency={440 + 110 * n}:sample_rate=48000:duration={seconds}")
        streams.append(tone.audio)
        if language:
            meta[f"metadata:s:a:{n}"] = f"language={language}"
    options: dict[str, Any] = {"c:v": vcodec, "pix_fmt": "yuv420p", "g": 25}
    if vcodec in ("libx264", "libx265"):
        options["preset"] = "ultrafast"
    if languages:
        options.update({"c:a": "libopus" if suffix == ".webm" else "aac", "ac": 2})
    with tempfile.TemporaryDirectory(prefix="hearth-clip-") as scratch:
        if subtitle:
            srt = Path(scratch) / "sub.srt"
            srt.write_text(_SRT, encoding="utf-8")
            streams.append(ffmpeg_python.input(str(srt))["s"])
            codec = "mov_text" if suffix in _MP4_LIKE else "webvtt" if suffix == ".webm" else "srt"
            options["c:s"] = codec
            meta["metadata:s:s:0"] = "language=eng"
        path.parent.mkdir(parents=True, exist_ok=True)
        argv: list[str] = (
            ffmpeg_python.output(
                *streams, str(path.absolute()), t=seconds, **{**options, **meta, **(output or {})}
            )
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .overwrite_output()
            .compile(cmd=binary)
        )
        if chapters:  # ffmpeg-python cannot add a stream-less input: splice it in last
            chapter_file = Path(scratch) / "chapters.txt"
            chapter_file.write_text(_ffmetadata(chapters), encoding="utf-8")
            splice = ["-f", "ffmetadata", "-i", str(chapter_file)]
            splice += ["-map_chapters", str(argv.count("-i"))]
            at = argv.index("-map")
            argv[at:at] = splice
        _run(argv, path)
    return path


def add_styled_subtitles(
    clip: Path,
    path: Path,
    ass: str,
    *,
    attachments: Sequence[tuple[Path, str]] = (),
    ffmpeg: str | None = None,
) -> Path:
    """Write ``path`` (Matroska): ``clip`` with an ASS track of text ``ass`` and each
    ``(file, mimetype)`` of ``attachments`` attached, as styled releases carry their fonts
    (``(font, "font/ttf")``)."""
    binary = ffmpeg or find_ffmpeg()[0]
    with tempfile.TemporaryDirectory(prefix="hearth-ass-") as scratch:
        track = Path(scratch) / "track.ass"
        track.write_text(ass, encoding="utf-8")
        argv = [binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
        argv += ["-i", str(clip), "-i", str(track)]
        for n, (file, mimetype) in enumerate(attachments):
            argv += ["-attach", str(file), f"-metadata:s:t:{n}", f"mimetype={mimetype}"]
        argv += ["-map", "0", "-map", "1", "-c", "copy", "-c:s", "ass", str(path)]
        path.parent.mkdir(parents=True, exist_ok=True)
        _run(argv, path)
    return path


def _run(argv: list[str], path: Path) -> None:
    done = subprocess.run(argv, capture_output=True, timeout=120, check=False)  # noqa: S603
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip()[-1500:]
        raise ClipError(f"ffmpeg exited with status {done.returncode} making {path}: {tail}")


def cut_short(source: Path, target: Path, at_s: float) -> Path:
    """Copy ``source`` to ``target`` up to (not including) its first packet at or after
    ``at_s`` seconds: a damaged file, as a copy or download that stopped leaves it.

    The header survives (a faststart MP4 keeps its whole index, Matroska its stated
    duration), so the file still says how long it is; ``at_s=0`` keeps only the header.
    """
    import av

    with av.open(str(source)) as container:
        cut = next(
            packet.pos
            for packet in container.demux()
            if packet.pts is not None
            and packet.pos is not None
            and packet.pos >= 0
            and float(packet.pts * packet.time_base) >= at_s
        )
    with source.open("rb") as whole:
        target.write_bytes(whole.read(cut))
    return target


def _ffmetadata(chapters: Sequence[tuple[float, float, str]]) -> str:
    lines = [";FFMETADATA1"]
    for start, end, title in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(start * 1000)}"]
        lines += [f"END={round(end * 1000)}", f"title={title}"]
    return "\n".join(lines) + "\n"


@contextmanager
def open_catalog(folder: Path) -> Iterator[Database]:
    """A migrated catalog at ``folder/catalog.sqlite3``, closed when the block ends."""
    db = Database(folder / "catalog.sqlite3")
    db.open()
    try:
        yield db
    finally:
        db.close()


def scan_folder(
    db: Database,
    root: Path,
    *,
    ffmpeg: str,
    bus: EventBus | None = None,
    images_dir: Path | None = None,
    progress: Progress = lambda *a: None,
    should_stop: Callable[[], bool] = lambda: False,
    probe_timeout_s: float = 30.0,
) -> ScanReport:
    """Register ``root`` as a library (if it is not one yet) and scan it once."""
    root = root.absolute()
    library_id = db.write(lambda d: catalog.ensure_library(d, root.name or str(root), root))
    scanner = Scanner(
        db,
        bus or EventBus(),
        ffmpeg_binary=ffmpeg,
        images_dir=images_dir or db.path.parent / "images",
        probe_timeout_s=probe_timeout_s,
    )
    return scanner.scan(library_id, root, progress, should_stop)


def user_credentials(
    data_dir: Path,
    name: str,
    password: str,
    *,
    admin: bool = False,
    kinds: Sequence[Kind] = ("api_key",),
    label: str = "tests",
) -> list[str]:
    """The user ``name`` in the catalog of ``data_dir`` (made if missing) and one new
    credential per entry of ``kinds`` (``"api_key"``, ``"session"``), before the server runs.

    Made in the catalog rather than through ``POST /api/v1/auth/login``, so the server
    never hashes a password (argon2: 64 MiB) in a benchmark.
    """
    from mediaserver.accounts.auth import AuthService
    from mediaserver.accounts.users import UserService
    from mediaserver.streaming.tokens import load_secret

    with Database(data_dir / "catalog.sqlite3") as db:
        users = UserService(db)
        user = users.by_name(name) or users.create(name, password, admin=admin)
        auth = AuthService(db, users, load_secret(data_dir))
        return [auth.issue(user.id, kind, name=label) for kind in kinds]


def as_older_catalog(path: Path, version: int) -> None:
    """Rebuild the catalog at ``path`` as schema ``version`` held it: only migrations up to
    ``version`` run, and every row of the tables that version has is copied over (the
    columns it has).  Setting ``user_version`` alone leaves later columns behind, and the
    later migrations would then fail on them."""
    source = sqlite3.connect(path)
    older = path.with_name(f"{path.name}.older")
    older.unlink(missing_ok=True)
    target = sqlite3.connect(older)
    register_functions(target)
    db = sqlite_utils.Database(target)
    for migration in MIGRATIONS[:version]:
        migration(db)
    tables = target.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall()
    indexes = tuple(name for name, sql in tables if sql.upper().startswith("CREATE VIRTUAL"))
    for table, _ in tables:  # search indexes (and their own tables) fill themselves
        has = {r[1] for r in source.execute(f'PRAGMA table_info("{table}")')}
        columns = [r[1] for r in target.execute(f'PRAGMA table_info("{table}")') if r[1] in has]
        if not columns or table.startswith(("sqlite_", *indexes)):
            continue
        names = ", ".join(f'"{c}"' for c in columns)
        rows = source.execute(f'SELECT {names} FROM "{table}"').fetchall()
        marks = ", ".join("?" * len(columns))
        target.executemany(f'INSERT OR REPLACE INTO "{table}" ({names}) VALUES ({marks})', rows)
    target.execute(f"PRAGMA user_version = {version}")
    target.commit()
    target.close()
    source.close()
    for journal in ("-wal", "-shm"):
        path.with_name(path.name + journal).unlink(missing_ok=True)
    older.replace(path)
