"""Scanner throughput: a first scan of N fresh files, then an unchanged rescan.

Ten distinct tiny H.264/AAC clips are encoded once; every library file is a copy of one of
them with a few random bytes appended (MP4 and Matroska demuxers ignore trailing junk), so
each file has its own size and fingerprint and so its own probe and poster, as in a real
library.  The scan goes through ``mediaserver.library.scanner.Scanner`` on a temp SQLite
catalog, exactly as the server runs it.

    .venv/bin/python bench/scan.py --files 2000

The last line is machine-readable: ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ffmpeg

from mediaserver.db import Database
from mediaserver.events import EventBus
from mediaserver.ffmpeg_tools import find_ffmpeg
from mediaserver.library import catalog
from mediaserver.library.scanner import Scanner, ScanReport


def words(text: str) -> tuple[str, ...]:
    """A word list written as one string, for readability."""
    return tuple(text.split())


TARGET_RESCAN_FILES_PER_S = 2000
# (lavfi source, container): ten different pictures, two of them in Matroska.
SOURCES = [
    ("testsrc2", "mp4"),
    ("smptebars", "mp4"),
    ("smptehdbars", "mp4"),
    ("rgbtestsrc", "mp4"),
    ("testsrc", "mp4"),
    ("pal75bars", "mp4"),
    ("pal100bars", "mp4"),
    ("yuvtestsrc", "mp4"),
    ("mandelbrot", "mkv"),
    ("cellauto", "mkv"),
]
WORDS = words(
    "silent harbor midnight glass river crown iron garden winter echo hollow signal "
    "copper lantern northern shadow velvet orbit ember quiet falcon paper empire storm "
    "summer ghost atlas violet machine desert island thunder coral saffron marble tide"
)
MARKER = ".bench-scan-library"


class TimedScanner(Scanner):
    """The real scanner, with the probe-and-save and poster phases timed separately."""

    phase_s: dict[str, float]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase_s = {}

    def _timed(self, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.phase_s[name] = self.phase_s.get(name, 0.0) + time.perf_counter() - started

    def _probe_and_save(self, *args: Any) -> None:
        self._timed("probe_save", super()._probe_and_save, *args)

    def _make_images(self, *args: Any) -> int:
        made: int = self._timed("posters", super()._make_images, *args)
        return made


def make_sources(folder: Path, ffmpeg_binary: str) -> list[Path]:
    """The ten distinct 2 s, 320x180 clips, encoded in parallel."""
    folder.mkdir(parents=True, exist_ok=True)

    def encode(n: int) -> Path:
        source, container = SOURCES[n]
        target = folder / f"source{n}.{container}"
        video = ffmpeg.input(f"{source}=size=320x180:rate=25", f="lavfi", t=2)
        audio = ffmpeg.input(f"sine=frequency={220 + 55 * n}", f="lavfi", t=2)
        extra = {"movflags": "+faststart"} if container == "mp4" else {}
        argv = (
            ffmpeg.output(
                video,
                audio,
                str(target),
                vcodec="libx264",
                preset="ultrafast",
                pix_fmt="yuv420p",
                acodec="aac",
                **extra,
            )
            .global_args("-hide_banner", "-loglevel", "error", "-nostdin")
            .overwrite_output()
            .compile(cmd=ffmpeg_binary)
        )
        subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603
        return target

    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(encode, range(len(SOURCES))))


def library_paths(count: int, rng: random.Random) -> list[tuple[str, int]]:
    """(relative path without extension, source index): 40 % films, 60 % episodes."""
    paths: list[tuple[str, int]] = []
    used: set[str] = set()
    while len(paths) < count:
        title = " ".join(w.capitalize() for w in rng.sample(WORDS, rng.choice((1, 2, 3))))
        dotted = title.replace(" ", ".")
        source = rng.randrange(len(SOURCES))
        if rng.random() < 0.4:
            year = rng.randint(1950, 2025)
            rel = f"Movies/{title} ({year})/{dotted}.{year}.1080p.BluRay.x264-BENCH"
            if rel not in used:
                used.add(rel)
                paths.append((rel, source))
            continue
        if f"show:{title}" in used:
            continue
        used.add(f"show:{title}")
        for season in range(1, rng.randint(1, 4) + 1):
            for episode in range(1, rng.randint(6, 12) + 1):
                if len(paths) == count:
                    break
                name = f"{dotted}.S{season:02d}E{episode:02d}.{rng.choice(WORDS).capitalize()}"
                paths.append((f"Shows/{title}/Season {season:02d}/{name}.720p.WEB-DL", source))
    return paths


def build_library(root: Path, count: int, ffmpeg_binary: str, seed: int) -> None:
    """``count`` files under realistic names; each a source clip plus 1-64 random bytes."""
    sources = make_sources(root.parent / f"{root.name}-sources", ffmpeg_binary)
    blobs = [p.read_bytes() for p in sources]
    rng = random.Random(seed)
    for rel, n in library_paths(count, rng):
        target = root / f"{rel}{sources[n].suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blobs[n] + rng.randbytes(rng.randint(1, 64)))
    (root / MARKER).write_text(str(count), encoding="utf-8")


def run_scan(scanner: TimedScanner, library_id: int, root: Path) -> tuple[ScanReport, float]:
    scanner.phase_s = {}
    started = time.perf_counter()
    report = scanner.scan(library_id, root)
    return report, time.perf_counter() - started


def describe(label: str, report: ScanReport, seconds: float, phases: dict[str, float]) -> None:
    rate = report.files_seen / seconds if seconds else 0.0
    print(
        f"{label}: {report.files_seen} files in {seconds:.2f} s = {rate:,.0f} files/s "
        f"(probed {report.probed}, unchanged {report.unchanged}, added {len(report.items_added)}, "
        f"posters {report.images}, problems {report.problems}); "
        f"probe+save {phases.get('probe_save', 0.0):.2f} s, "
        f"posters {phases.get('posters', 0.0):.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=2000, help="library size (default 2000)")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="build the library (and catalog) in DIR and keep it; reused when it has --files files",
    )
    parser.add_argument("--probe-workers", type=int, default=2, help="as library.probe_workers")
    parser.add_argument("--poster-workers", type=int, default=2, help="as library.poster_workers")
    parser.add_argument("--seed", type=int, default=1, help="random seed for names and bytes")
    args = parser.parse_args(argv)
    if args.files < 1:
        parser.error("--files must be at least 1")

    load_1m = os.getloadavg()[0]  # other work on the machine skews every figure below
    work = args.keep.absolute() if args.keep else Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    root = work / "library"
    ffmpeg_binary, _ = find_ffmpeg()
    try:
        marker = root / MARKER
        if not (marker.exists() and marker.read_text(encoding="utf-8") == str(args.files)):
            shutil.rmtree(root, ignore_errors=True)
            started = time.perf_counter()
            build_library(root, args.files, ffmpeg_binary, args.seed)
            size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
            print(
                f"built {args.files} files ({size / 1e6:.0f} MB) in "
                f"{time.perf_counter() - started:.1f} s under {root}"
            )
        data = work / "data"
        shutil.rmtree(data, ignore_errors=True)  # every run starts from an empty catalog
        db = Database(data / "catalog.sqlite3")
        db.open()
        try:
            scanner = TimedScanner(
                db,
                EventBus(),
                ffmpeg_binary=ffmpeg_binary,
                images_dir=data / "images",
                probe_workers=args.probe_workers,
                image_workers=args.poster_workers,
            )
            library_id = db.write(lambda d: catalog.ensure_library(d, "Bench", root))
            first, first_s = run_scan(scanner, library_id, root)
            first_phases = dict(scanner.phase_s)
            describe("first scan", first, first_s, first_phases)
            again, again_s = run_scan(scanner, library_id, root)
            describe("unchanged rescan", again, again_s, scanner.phase_s)
        finally:
            db.close()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    first_rate = first.files_seen / first_s
    rescan_rate = again.files_seen / again_s
    ok = rescan_rate >= TARGET_RESCAN_FILES_PER_S and again.unchanged == args.files
    print(
        f"files={args.files} cpus={os.cpu_count()} "
        f"first_scan_s={first_s:.3f} first_files_per_s={first_rate:.1f} "
        f"first_probe_save_s={first_phases.get('probe_save', 0.0):.3f} "
        f"first_posters_s={first_phases.get('posters', 0.0):.3f} "
        f"first_probed={first.probed} first_posters={first.images} first_problems={first.problems} "
        f"rescan_s={again_s:.3f} rescan_files_per_s={rescan_rate:.1f} "
        f"rescan_unchanged={again.unchanged} "
        f"load_1m={load_1m:.2f} target_rescan_files_per_s={TARGET_RESCAN_FILES_PER_S} "
        f"pass={str(ok).lower()}"
    )
    return 0 if ok else 1


if __name__ == "__main__":  # the probe pool spawns workers that re-import this module
    sys.exit(main())
