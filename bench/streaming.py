"""Streaming: time to first segment, uncached seeks, simultaneous transcodes, CPU, cached segments.

The sources are made here with ``mediaserver.testing.make_clip``: a 1080p (140 s) and a 720p
(90 s) H.264 High / AAC clip of ``testsrc2`` with temporal noise on top, so x264 has real work
(a flat test card compresses to nothing), a keyframe every 2 s as in web releases.  They are
cached in ``bench/out/streaming-sources`` (git-ignored).  Each measured run gets its own file
(a hard link of a source under a film name), so every run starts with a new stream key, an
empty segment cache and a new session.  The catalog is filled by ``mediaserver scan``; the
keyframe index of the remux files is stored beforehand (as a first play would), except for
the "first play" rows, which read it during the master-playlist request.  Then ``mediaserver
serve`` runs on 127.0.0.1 (free port, temporary data folder, no scan, watcher or trickplay).

    .venv/bin/python bench/streaming.py            # about 17 minutes on 2 cores
    .venv/bin/python bench/streaming.py --quick    # fewer runs, a smoke test

1. Time to first segment: master playlist -> first variant's playlist -> init.mp4 -> 0.m4s,
   for a remux ("Original" of the 1080p file) and a 1080p -> 720p transcode (the client
   claims HEVC only, ``vcodec=hevc``, so the H.264 source must be re-encoded).
2. Uncached seek: on that stream, after segments 1-3, the segment at 67 % of the duration.
3. Simultaneous 720p transcodes: N viewers of N different files, each fetching segments one
   after the other as fast as it can, 30 s of media; a viewer keeps up when media seconds
   received >= wall seconds since it asked for the master playlist.
4. CPU per minute streamed (1080p -> 720p, the whole file): the server's ``cutime+cstime``
   delta, i.e. the ffmpeg processes it started and reaped (exact, whatever their lifetime),
   cross-checked by sampling ``/proc/<pid>/stat`` of the job's ffmpeg; plus the server's own
   ``utime+stime`` (HTTP, cutting the fMP4 into segments).
5. Cached segments: ``wrk`` (64 connections) against one cached segment and the init segment,
   from Hearth and from nginx (``nginx-light``, installed when missing, run as our own child
   with its own config) serving the same files.

Every process started here (server, ffmpeg through the server, nginx, wrk) is stopped at the
end, on errors and on Ctrl-C.  The last line is machine-readable: ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from mediaserver.db import Database
from mediaserver.ffmpeg_tools import find_ffmpeg
from mediaserver.streaming.keyframes import pack, read_keyframes
from mediaserver.testing import make_clip, user_credentials

TARGET_TTFS_REMUX_S = 0.3
TARGET_TTFS_TRANSCODE_S = 1.0
TARGET_SEEK_S = 1.5
SEEK_FRACTION = 0.67
VIEWER_MEDIA_S = 30.0
CHUNK_S = 20.0  # seconds of source per make_clip call
CLK_TCK = os.sysconf("SC_CLK_TCK")
HERE = Path(__file__).resolve().parent
CACHE = HERE / "out" / "streaming-sources"


@dataclass(frozen=True)
class Source:
    name: str
    size: str
    seconds: float
    video_kbps: int

    @property
    def filename(self) -> str:  # the parameters are in the name: a change makes a new clip
        return f"noise-{self.size}-{self.seconds:g}s-{self.video_kbps}k-g50-v1.mp4"

    def output_options(self) -> dict[str, Any]:
        kbps = self.video_kbps
        return {
            "vf": "noise=alls=12:allf=t+u",  # grain that changes every frame
            "preset": "veryfast",
            "profile:v": "high",
            "b:v": f"{kbps}k",
            "maxrate": f"{kbps * 3 // 2}k",
            "bufsize": f"{kbps * 2}k",
            "g": 50,  # a keyframe every 2 s (25 fps): remux segments of 4 s
            "b:a": "160k",
            "movflags": "+faststart",
        }


SOURCES = {
    "1080p": Source("1080p", "1920x1080", 140, 8000),
    "720p": Source("720p", "1280x720", 90, 4000),
}


class BenchError(RuntimeError):
    pass


# -- processes -----------------------------------------------------------------------------
class Children:
    """Every process this script starts, stopped in reverse order whatever happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.ffmpeg_pids: set[int] = set()  # seen in /api/v1/hls/jobs
        self.marker = ""  # a path every ffmpeg of ours has on its command line

    def add(self, process: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)  # each runs in its own group
                process.wait(timeout=5)
        # whatever the process left in its group (nginx workers, for one)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.processes)):
            with contextlib.suppress(Exception):
                self.stop(process)
        for pid in self.ffmpeg_pids:  # the server kills them; this is for a server killed -9
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"ffmpeg" in cmdline and self.marker and self.marker.encode() in cmdline:
                    os.killpg(pid, signal.SIGKILL)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_cpu(pid: int) -> tuple[float, float]:
    """(utime + stime, cutime + cstime) of a process in seconds, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    children = (int(fields[13]) + int(fields[14])) / CLK_TCK
    return own, children


def load_1m() -> float:
    return os.getloadavg()[0]


# -- sources and library -------------------------------------------------------------------
def make_sources(ffmpeg: str) -> dict[str, Path]:
    """The sources, encoded once: ``make_clip`` pieces of ``CHUNK_S`` (it gives ffmpeg at most
    120 s, too little for 140 s of noisy 1080p on a busy 2-core machine), joined without
    re-encoding.  Every piece starts with a keyframe and is a multiple of 2 s long, so the
    keyframes stay 2 s apart across the joins."""
    CACHE.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    for name, source in SOURCES.items():
        target = CACHE / source.filename
        if not target.exists():
            print(f"encoding the {name} source ({source.seconds:g} s, once) ...", flush=True)
            started = time.perf_counter()
            with tempfile.TemporaryDirectory(prefix="pieces-", dir=CACHE) as scratch:
                pieces = []
                for n in range(math.ceil(source.seconds / CHUNK_S)):
                    seconds = min(CHUNK_S, source.seconds - n * CHUNK_S)
                    piece = Path(scratch) / f"{n:03d}.mp4"
                    make_clip(
                        piece,
                        seconds=seconds,
                        size=source.size,
                        video="testsrc2",
                        output=source.output_options(),
                        ffmpeg=ffmpeg,
                    )
                    pieces.append(piece)
                listing = Path(scratch) / "pieces.txt"
                listing.write_text("".join(f"file '{p}'\n" for p in pieces), encoding="utf-8")
                partial = Path(scratch) / "joined.mp4"
                argv = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "concat"]
                argv += ["-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart"]
                subprocess.run([*argv, "-y", str(partial)], check=True, timeout=300)  # noqa: S603
                os.replace(partial, target)
            print(f"  {target.name}: {time.perf_counter() - started:.0f} s", flush=True)
        made[name] = target
    return made


@dataclass
class MediaFile:
    role: str
    source: str
    path: Path
    warm_keyframes: bool = True
    item_id: int = 0
    file_id: int = 0


def words(text: str) -> tuple[str, ...]:
    """A word list written as one string, for readability."""
    return tuple(text.split())


TITLE_WORDS = words(
    "amber birch cedar delta ember falcon garnet harbor indigo juniper kestrel lantern "
    "meadow nectar onyx pepper quartz raven saffron thistle umber velvet willow yarrow "
    "zephyr acorn bramble cobalt dune fennel glacier hazel iris jasper kelp linden "
    "mistral nutmeg orchid pumice quill russet sorrel tansy"
)


def build_library(root: Path, sources: dict[str, Path], plan: Sequence[MediaFile]) -> None:
    """Hard links of the sources under distinct film names (copies across file systems)."""
    for n, media in enumerate(plan):
        title = f"{TITLE_WORDS[n % len(TITLE_WORDS)].capitalize()} {media.role.capitalize()}"
        year = 1950 + n
        folder = root / "Movies" / f"{title} ({year})"
        folder.mkdir(parents=True, exist_ok=True)
        media.path = folder / f"{title} ({year}).mp4"
        try:
            os.link(sources[media.source], media.path)
        except OSError:
            shutil.copyfile(sources[media.source], media.path)


def write_config(work: Path, *, max_transcodes: int) -> Path:
    config = work / "hearth.toml"
    config.write_text(
        # The limiter runs (its cost is measured) but one benchmark user never trips it.
        "[server]\nrate_limit_per_minute = 100000000\n"
        "[library]\nscan_on_startup = false\nwatch = false\nscan_interval_minutes = 0\n"
        f"[streaming]\nmax_transcodes = {max_transcodes}\ntrickplay = false\n"
        '[logging]\nlevel = "info"\nformat = "json"\n',
        encoding="utf-8",
    )
    return config


def server_env(work: Path, media_dir: Path, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "MEDIASERVER_HOST": "127.0.0.1",
        "MEDIASERVER_DISCOVERY": "off",  # never announce on the machine's real network
        "MEDIASERVER_PORT": str(port),
        "MEDIASERVER_DATA_DIR": str(work / "data"),
        "MEDIASERVER_MEDIA_DIRS": str(media_dir),
    }


def scan_library(config: Path, env: dict[str, str], children: Children) -> None:
    argv = [sys.executable, "-m", "mediaserver", "--config", str(config), "scan", "--quiet"]
    process = children.add(
        subprocess.Popen(  # noqa: S603
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
    )
    output, _ = process.communicate(timeout=600)
    children.processes.remove(process)
    if process.returncode != 0:
        raise BenchError(
            f"mediaserver scan failed ({process.returncode}): {output.decode()[-800:]}"
        )


def index_library(data: Path, plan: Sequence[MediaFile], sources: dict[str, Path]) -> None:
    """Item and file ids of the plan's files; the keyframe index of the warm ones."""
    db = Database(data / "catalog.sqlite3")
    db.open()
    try:
        rows = {Path(r["path"]).name: r for r in db.query("SELECT id, item_id, path FROM files")}
        keyframes = {name: pack(read_keyframes(str(path))) for name, path in sources.items()}
        for media in plan:
            row = rows.get(media.path.name)
            if row is None or row["item_id"] is None:
                raise BenchError(f"the scan did not catalog {media.path}")
            media.item_id, media.file_id = int(row["item_id"]), int(row["id"])
            if media.warm_keyframes:
                store_keyframes(db, media.file_id, keyframes[media.source])
    finally:
        db.close()


def store_keyframes(db: Database, file_id: int, blob: bytes) -> None:
    """What the first play of the file would store (``KeyframeIndex.get``)."""

    def write(conn: Any) -> None:
        conn.execute("UPDATE files SET keyframes = ? WHERE id = ?", [blob, file_id])

    db.write(write)


def make_api_key(data_dir: Path) -> str:
    """An admin in the catalog and a new API key, before the server starts: every route
    but health, sign-in and the HLS media needs one."""
    return user_credentials(
        data_dir, "bench", "the bench admin's long password", admin=True, label="bench"
    )[0]


def start_server(
    config: Path, env: dict[str, str], log: Path, children: Children
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return children.add(
            subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "mediaserver", "--config", str(config), "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )


def wait_ready(base_url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"the server exited with code {server.returncode}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if httpx.get(base_url + "/health", timeout=2).json().get("startup") == "ready":
                return
        time.sleep(0.1)
    raise BenchError(f"the server was not ready within {timeout} s")


# -- HLS client ----------------------------------------------------------------------------
def fetch(http: httpx.Client, url: str, params: dict[str, str] | None = None) -> bytes:
    response = http.get(url, params=params)
    if response.status_code != 200:
        raise BenchError(f"GET {url} -> {response.status_code}: {response.text[:300]}")
    return response.content


def variants(master: str) -> list[tuple[str, str]]:
    """(NAME, URI) of each variant, in the master playlist's order."""
    lines = master.splitlines()
    found = []
    for n, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            name = re.search(r'NAME="([^"]*)"', line)
            found.append((name[1] if name else "", lines[n + 1].strip()))
    return found


def media_segments(playlist: str) -> tuple[str | None, list[tuple[str, float]]]:
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
    segments: list[tuple[str, float]] = []
    duration: float | None = None
    for line in playlist.splitlines():
        if line.startswith("#EXTINF:"):
            duration = float(line[8:].split(",")[0])
        elif line and not line.startswith("#") and duration is not None:
            segments.append((line.strip(), duration))
            duration = None
    return (init[1] if init else None), segments


@dataclass
class Playback:
    """One viewer's stream, opened the way a player opens it."""

    base_url: str
    session: str
    variant: str = ""
    variant_url: str = ""
    init_url: str = ""
    segments: list[tuple[str, float]] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # seconds of each request
    first_segment_bytes: int = 0
    wall_start: float = 0.0  # time.time() when the master playlist was asked for

    @property
    def key(self) -> str:
        return urlsplit(self.variant_url).path.split("/")[-2]

    def segment_url(self, index: int) -> str:
        return urljoin(self.variant_url, self.segments[index][0])

    def start_of(self, index: int) -> float:
        return sum(d for _, d in self.segments[:index])


def open_playback(
    http: httpx.Client, base_url: str, item_id: int, session: str, *, transcode: bool
) -> tuple[Playback, float]:
    """Master -> first variant -> init.mp4 -> 0.m4s; (the playback, seconds in all)."""
    params = {"profile": "chromium", "session": session}
    if transcode:
        params["vcodec"] = "hevc"  # no H.264 on the client: the H.264 source is re-encoded
    play = Playback(base_url, session)
    play.wall_start = time.time()
    started = time.perf_counter()
    master = fetch(http, f"/api/v1/items/{item_id}/hls/master.m3u8", params).decode()
    t_master = time.perf_counter()
    name, uri = variants(master)[0]
    expected = "720p" if transcode else "Original"
    if name != expected:
        raise BenchError(f"the first variant is {name!r}, not {expected!r}: {master}")
    play.variant, play.variant_url = name, urljoin(base_url, uri)
    init, play.segments = media_segments(fetch(http, play.variant_url).decode())
    t_variant = time.perf_counter()
    if init is None:
        raise BenchError("the variant playlist has no init segment (not fMP4?)")
    play.init_url = urljoin(play.variant_url, init)
    fetch(http, play.init_url)
    t_init = time.perf_counter()
    play.first_segment_bytes = len(fetch(http, play.segment_url(0)))
    done = time.perf_counter()
    play.steps = {
        "master": t_master - started,
        "variant": t_variant - t_master,
        "init": t_init - t_variant,
        "segment": done - t_init,
    }
    return play, done - started


def jobs(http: httpx.Client, children: Children | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = http.get("/api/v1/hls/jobs").json()["jobs"]
    if children is not None:
        children.ffmpeg_pids.update(j["pid"] for j in found if j.get("pid"))
    return found


def stop_session(http: httpx.Client, session: str) -> None:
    http.post(f"/api/v1/hls/sessions/{session}/stop")


def wait_quiet(http: httpx.Client, children: Children, timeout: float = 30.0) -> None:
    """Until no job runs and every ffmpeg we saw is gone (reaped by the server)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [j for j in jobs(http, children) if j["state"] == "running"]
        alive = [p for p in children.ffmpeg_pids if Path(f"/proc/{p}").exists()]
        if not running and not alive:
            time.sleep(0.3)
            return
        time.sleep(0.1)
    raise BenchError("stream jobs were still running after 30 s")


# -- the measurements ----------------------------------------------------------------------
@dataclass
class StartRun:
    mode: str
    total_s: float
    steps: dict[str, float]
    marks: dict[str, float] = field(default_factory=dict)  # server side, s after the master
    seek_s: float | None = None
    seek_index: int = 0
    seek_new_job: bool = False
    job_next_at_seek: int | None = None


def start_and_seek(
    http: httpx.Client,
    base_url: str,
    media: MediaFile,
    session: str,
    children: Children,
    work: Path,
    *,
    transcode: bool,
    seek: bool = True,
) -> tuple[StartRun, Playback]:
    play, total = open_playback(http, base_url, media.item_id, session, transcode=transcode)
    run = StartRun("transcode" if transcode else "remux", total, play.steps)
    run.marks = server_marks(work, play)
    run.marks["received"] = total
    if seek:
        for index in (1, 2, 3):  # the player fills its buffer: the stream is playing
            fetch(http, play.segment_url(index))
        when = SEEK_FRACTION * sum(d for _, d in play.segments)
        index = max(n for n in range(len(play.segments)) if play.start_of(n) <= when)
        mine = [j for j in jobs(http, children) if j["stream"] == play.key]
        run.job_next_at_seek = max((j["next"] for j in mine), default=None)
        if run.job_next_at_seek is not None and run.job_next_at_seek > index:
            raise BenchError(f"segment {index} was made before the seek")
        started = time.perf_counter()
        fetch(http, play.segment_url(index))
        run.seek_s = time.perf_counter() - started
        run.seek_index = index
        run.seek_new_job = any(
            j["stream"] == play.key and j["start"] == index for j in jobs(http, children)
        )
    stop_session(http, session)
    wait_quiet(http, children)
    return run, play


def server_marks(work: Path, play: Playback) -> dict[str, float]:
    """When, after the master request, the server logged the job's start and wrote the
    init and first segments (from the log line and the files' mtimes): where the time goes."""
    marks: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in (work / "server.log").read_text(errors="replace").splitlines()[-400:]:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                entry = json.loads(line)
                if entry.get("event") == "stream job started" and entry["stream"] == play.key:
                    stamp = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
                    marks["job started"] = stamp.timestamp() - play.wall_start
                    break
    folder = work / "data" / "cache" / "hls" / play.key
    for label, name in (("init written", "init.mp4"), ("0 written", "0.m4s")):
        with contextlib.suppress(OSError):
            marks[label] = (folder / name).stat().st_mtime_ns / 1e9 - play.wall_start
    return marks


@dataclass
class Viewer:
    media_s: float = 0.0
    wall_s: float = 0.0
    first_s: float = 0.0
    lowest_lead_s: float = float("inf")  # min over time of (media received - wall elapsed)
    error: str | None = None

    @property
    def speed(self) -> float:
        return self.media_s / self.wall_s if self.wall_s else 0.0

    @property
    def keeps_up(self) -> bool:
        return self.error is None and self.media_s >= self.wall_s


def watch(
    base_url: str,
    media: MediaFile,
    session: str,
    barrier: threading.Barrier,
    headers: httpx.Headers,
) -> Viewer:
    viewer = Viewer()
    with httpx.Client(base_url=base_url, timeout=90, headers=headers) as http:
        barrier.wait()
        started = time.perf_counter()
        try:
            play, viewer.first_s = open_playback(
                http, base_url, media.item_id, session, transcode=True
            )
            viewer.media_s = play.segments[0][1]
            for index in range(1, len(play.segments)):
                now = time.perf_counter() - started
                viewer.lowest_lead_s = min(viewer.lowest_lead_s, viewer.media_s - now)
                if viewer.media_s >= VIEWER_MEDIA_S:
                    break
                fetch(http, play.segment_url(index))
                viewer.media_s += play.segments[index][1]
        except (httpx.HTTPError, BenchError) as exc:
            viewer.error = str(exc)[:200]
        viewer.wall_s = time.perf_counter() - started
    return viewer


def simultaneous(
    http: httpx.Client, base_url: str, files: Sequence[MediaFile], children: Children, tag: str
) -> list[Viewer]:
    barrier = threading.Barrier(len(files))
    results: list[Viewer | None] = [None] * len(files)
    sessions = [f"{tag}-{n}" for n in range(len(files))]

    def run(n: int) -> None:
        results[n] = watch(base_url, files[n], sessions[n], barrier, http.headers)

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(files))]
    for thread in threads:
        thread.start()
    sampler = threading.Event()

    def remember_pids() -> None:  # so the clean-up knows every ffmpeg
        while not sampler.wait(0.5):
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, RuntimeError):
                jobs(http, children)

    watcher = threading.Thread(target=remember_pids, daemon=True)
    watcher.start()
    for thread in threads:
        thread.join()
    sampler.set()
    watcher.join()
    for session in sessions:
        stop_session(http, session)
    wait_quiet(http, children)
    return [r if r is not None else Viewer(error="no result") for r in results]


@dataclass
class CpuRun:
    media_s: float
    wall_s: float
    reaped_s: float  # server cutime+cstime delta: the ffmpeg it started and reaped
    sampled_s: float  # /proc/<pid>/stat of the job's ffmpeg, last sample before it exited
    server_s: float  # the server's own utime+stime delta

    def per_minute(self, seconds: float) -> float:
        return seconds / self.media_s * 60


def cpu_run(
    http: httpx.Client,
    base_url: str,
    server_pid: int,
    media: MediaFile,
    session: str,
    children: Children,
) -> CpuRun:
    own_before, reaped_before = proc_cpu(server_pid)
    stop = threading.Event()
    samples: dict[int, float] = {}

    def sample() -> None:
        pids: set[int] = set()
        with httpx.Client(base_url=base_url, timeout=10, headers=http.headers) as side:
            while not stop.is_set():
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    pids.update(j["pid"] for j in jobs(side, children) if j.get("pid"))
                for pid in pids:
                    with contextlib.suppress(OSError, IndexError, ValueError):
                        samples[pid] = proc_cpu(pid)[0]
                stop.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        play, _ = open_playback(http, base_url, media.item_id, session, transcode=True)
        for index in range(1, len(play.segments)):
            fetch(http, play.segment_url(index))
        wall = time.perf_counter() - started
        wait_quiet(http, children, timeout=60)  # the job ends by itself at the last segment
    finally:
        stop.set()
        sampler.join()
    own_after, reaped_after = proc_cpu(server_pid)
    stop_session(http, session)
    return CpuRun(
        media_s=sum(d for _, d in play.segments),
        wall_s=wall,
        reaped_s=reaped_after - reaped_before,
        sampled_s=sum(samples.values()),
        server_s=own_after - own_before,
    )


# -- wrk and nginx -------------------------------------------------------------------------
def ensure_packages(tools: dict[str, Sequence[str]]) -> dict[str, str | None]:
    """{tool: path}; installs Debian packages (first name that exists) for missing tools."""

    def locate(tool: str) -> str | None:
        return shutil.which(tool) or next(
            (str(p) for p in (Path("/usr/sbin") / tool, Path("/usr/bin") / tool) if p.exists()),
            None,
        )

    found = {tool: locate(tool) for tool in tools}
    missing = [tool for tool, path in found.items() if path is None]
    if not missing:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"cannot install {', '.join(missing)} (needs root and apt-get)", flush=True)
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def install(package: str) -> bool:
        argv = ["apt-get", "install", "-y", "--no-install-recommends", package]
        return subprocess.run(argv, env=env, capture_output=True, check=False).returncode == 0  # noqa: S603

    updated = False
    for tool in missing:
        for package in tools[tool]:
            print(f"installing {package} ...", flush=True)
            ok = install(package)
            if not ok and not updated:
                subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
                updated = True
                ok = install(package)
            if ok:
                break
        found[tool] = locate(tool)
    return found


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
{user}pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    types {{ video/iso.segment m4s; video/mp4 mp4; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ add_header Cache-Control "public, max-age=31536000, immutable"; }}
    }}
}}
"""


def start_nginx(
    nginx: str, work: Path, root: Path, port: int, children: Children
) -> subprocess.Popen[bytes]:
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""  # our temp folders are 0700
    workers = os.cpu_count() or 1
    conf.write_text(
        NGINX_CONF.format(workers=workers, user=user, work=work, port=port, root=root),
        encoding="utf-8",
    )
    argv = [nginx, "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf)]
    with (work / "nginx.out").open("wb") as out:
        process = children.add(
            subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = (work / "nginx.out").read_text() + (work / "nginx-error.log").read_text()
            raise BenchError(f"nginx exited ({process.returncode}): {text[-600:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return process
        time.sleep(0.05)
    raise BenchError("nginx did not start listening within 10 s")


@dataclass
class WrkRun:
    requests_s: float
    errors: int


def run_wrk(wrk: str, url: str, seconds: int, connections: int = 64) -> WrkRun:
    threads = min(connections, max(2, os.cpu_count() or 2))
    argv = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", url]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)  # noqa: S603
    rate = re.search(r"Requests/sec:\s*([0-9.]+)", done.stdout)
    if done.returncode != 0 or rate is None:
        raise BenchError(f"wrk failed: {done.stdout[-400:]} {done.stderr[-400:]}")
    errors = 0
    if match := re.search(r"Non-2xx or 3xx responses:\s*(\d+)", done.stdout):
        errors += int(match[1])
    if match := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", done.stdout
    ):
        errors += sum(int(g) for g in match.groups())
    return WrkRun(float(rate[1]), errors)


# -- reporting -----------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], unit: str = "s", digits: int = 3) -> str:
    if not values:
        return "-"
    return (
        f"{median(values):.{digits}f} {unit} "
        f"(min {min(values):.{digits}f}, max {max(values):.{digits}f}, n={len(values)})"
    )


def verdict(value: float, target: float) -> str:
    return "yes" if value <= target else "NO"


def ffmpeg_version(ffmpeg: str) -> str:
    out = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False)  # noqa: S603
    first = out.stdout.splitlines()[0] if out.stdout else "unknown"
    return first.split(" Copyright")[0]


LOADS: dict[str, float] = {}  # load average when each section started


@contextlib.contextmanager
def section(title: str) -> Iterator[None]:
    started = time.perf_counter()
    LOADS[title.split(" ")[0]] = load_1m()
    print(f"\n== {title} (load {load_1m():.2f})", flush=True)
    yield
    print(f"   ({time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke test")
    parser.add_argument("--runs", type=int, help="runs of the start/seek figures (default 7)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    runs = args.runs or (2 if args.quick else 7)
    cold_runs = 1 if args.quick else 3
    cpu_runs = 1 if args.quick else 5
    levels = (1, 2) if args.quick else (1, 2, 3, 4)
    wrk_runs, wrk_seconds = (1, 4) if args.quick else (5, 10)
    concurrency_sources = ("1080p",) if args.quick else ("1080p", "720p")

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with it ignored
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    children = Children()
    ffmpeg, _ = find_ffmpeg()
    load_start = load_1m()
    print(f"machine: {os.cpu_count()} cores, {ffmpeg_version(ffmpeg)}, load {load_start:.2f}")
    sources = make_sources(ffmpeg)

    plan: list[MediaFile] = []
    plan += [MediaFile("start", "1080p", Path()) for _ in range(runs)]
    plan += [
        MediaFile("first play", "1080p", Path(), warm_keyframes=False) for _ in range(cold_runs)
    ]
    plan += [MediaFile("cpu", "1080p", Path()) for _ in range(cpu_runs)]
    for name in concurrency_sources:
        plan += [MediaFile(f"viewer {name}", name, Path()) for n in levels for _ in range(n)]

    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=CACHE))  # same file system: hard links
    children.marker = str(work)
    results: dict[str, Any] = {}
    try:
        media_dir = work / "media"
        build_library(media_dir, sources, plan)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        config = write_config(work, max_transcodes=max(8, max(levels) * 2))
        env = server_env(work, media_dir, port)
        with section(f"cataloguing {len(plan)} files (mediaserver scan)"):
            scan_library(config, env, children)
            index_library(work / "data", plan, sources)
        key = make_api_key(work / "data")
        server = start_server(config, env, work / "server.log", children)
        wait_ready(base_url, server)
        signed_in = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base_url, timeout=90, headers=signed_in) as http:
            opts = {
                "levels": levels,
                "wrk_runs": wrk_runs,
                "wrk_seconds": wrk_seconds,
                "concurrency_sources": concurrency_sources,
                "work": work,
            }
            results.update(measure(http, base_url, server.pid, plan, children, opts))
        children.stop(server)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    report(results, ffmpeg, load_start, args.quick)
    return 0


def measure(
    http: httpx.Client,
    base_url: str,
    server_pid: int,
    plan: list[MediaFile],
    children: Children,
    opts: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_role: dict[str, list[MediaFile]] = {}
    for media in plan:
        by_role.setdefault(media.role, []).append(media)

    work: Path = opts["work"]
    with section("1-2. time to first segment and uncached seek, remux and transcode"):
        remux: list[StartRun] = []
        transcode: list[StartRun] = []
        plays: list[Playback] = []
        for n, media in enumerate(by_role["start"]):
            run, _ = start_and_seek(http, base_url, media, f"r{n}", children, work, transcode=False)
            remux.append(run)
            run, play = start_and_seek(
                http, base_url, media, f"t{n}", children, work, transcode=True
            )
            transcode.append(run)
            plays.append(play)
            print(
                f"   run {n + 1}: remux {remux[-1].total_s:.3f} s, seek {remux[-1].seek_s:.3f} s "
                f"(segment {remux[-1].seek_index}, new job {remux[-1].seek_new_job}); transcode "
                f"{run.total_s:.3f} s, seek {run.seek_s:.3f} s (segment {run.seek_index}, "
                f"new job {run.seek_new_job})",
                flush=True,
            )
            print(f"      remux {fmt_marks(remux[-1].marks)}; transcode {fmt_marks(run.marks)}")
        out["remux"], out["transcode"] = remux, transcode
        cold: list[StartRun] = []
        for n, media in enumerate(by_role["first play"]):
            run, _ = start_and_seek(
                http, base_url, media, f"c{n}", children, work, transcode=False, seek=False
            )
            cold.append(run)
            print(f"   first play {n + 1}: remux {run.total_s:.3f} s {fmt_steps(run.steps)}")
        out["cold"] = cold

    with section("3. simultaneous 720p transcodes"):
        out["viewers"], out["viewer_load"] = {}, {}
        for name in opts["concurrency_sources"]:
            pool = list(by_role[f"viewer {name}"])
            out["viewers"][name] = {}
            for level in opts["levels"]:
                files, pool = pool[:level], pool[level:]
                load = load_1m()
                viewers = simultaneous(http, base_url, files, children, f"v{name}-{level}")
                out["viewers"][name][level] = viewers
                out["viewer_load"][(name, level)] = load
                print(
                    f"   {name} source, {level} viewer(s): "
                    + ", ".join(
                        f"{v.speed:.2f}x" + (f" ({v.error})" if v.error else "") for v in viewers
                    ),
                    flush=True,
                )

    with section("4. CPU per minute streamed, 1080p -> 720p"):
        cpu: list[CpuRun] = []
        for n, media in enumerate(by_role["cpu"]):
            cpu.append(cpu_run(http, base_url, server_pid, media, f"cpu{n}", children))
            c = cpu[-1]
            print(
                f"   run {n + 1}: {c.media_s:.0f} s of media in {c.wall_s:.1f} s; ffmpeg "
                f"{c.reaped_s:.1f} cpu-s (sampled {c.sampled_s:.1f}), server {c.server_s:.1f}",
                flush=True,
            )
        out["cpu"] = cpu

    with section("5. cached segments: Hearth vs nginx (wrk, 64 connections)"):
        out["wrk"] = cached_segments(http, base_url, plays, children, opts)
    return out


def fmt_marks(marks: dict[str, float]) -> str:
    return ", ".join(f"{k} +{v * 1000:.0f} ms" for k, v in marks.items())


def fmt_steps(steps: dict[str, float]) -> str:
    return "(" + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in steps.items()) + ")"


def cached_segments(
    http: httpx.Client,
    base_url: str,
    plays: Sequence[Playback],
    children: Children,
    opts: dict[str, Any],
) -> dict[str, Any]:
    tools = ensure_packages({"nginx": ("nginx-light", "nginx"), "wrk": ("wrk",)})
    nginx, wrk = tools["nginx"], tools["wrk"]
    if nginx is None or wrk is None:
        print("   skipped: nginx or wrk is not available")
        return {}
    hls = opts["work"] / "data" / "cache" / "hls"
    play = plays[0]
    folder = hls / play.key
    # the cached segment closest to 750 kB (a 2 s segment of 720p at 3 Mb/s)
    cached = [(abs(p.stat().st_size - 750_000), p) for p in folder.glob("*.m4s")]
    if not cached:
        raise BenchError(f"no cached segment in {folder}")
    segment = min(cached)[1]
    index = int(segment.stem)
    size = segment.stat().st_size
    init_size = (folder / "init.mp4").stat().st_size
    ours = {"segment": play.segment_url(index), "init": play.init_url}
    port = free_port()
    theirs = {
        "segment": f"http://127.0.0.1:{port}/{play.key}/{segment.name}",
        "init": f"http://127.0.0.1:{port}/{play.key}/init.mp4",
    }
    nginx_process = start_nginx(nginx, opts["work"] / "nginx", hls, port, children)
    try:
        for what in ("segment", "init"):  # same bytes from both, or the comparison is void
            a = fetch(http, ours[what])
            b = httpx.get(theirs[what], timeout=10).content
            if a != b:
                raise BenchError(f"nginx and Hearth serve different {what} bytes")
        rates: dict[tuple[str, str], list[WrkRun]] = {}
        for _ in range(opts["wrk_runs"]):
            for what in ("segment", "init"):
                for server, urls in (("hearth", ours), ("nginx", theirs)):
                    run = run_wrk(wrk, urls[what], opts["wrk_seconds"])
                    rates.setdefault((server, what), []).append(run)
                    print(f"   {server} {what}: {run.requests_s:,.0f} req/s", flush=True)
    finally:
        children.stop(nginx_process)
    return {"rates": rates, "size": size, "init_size": init_size, "index": index}


def report(results: dict[str, Any], ffmpeg: str, load_start: float, quick: bool) -> None:
    if not results:
        return
    rows: list[tuple[str, str, str, str]] = []
    remux: list[StartRun] = results["remux"]
    transcode: list[StartRun] = results["transcode"]
    cold: list[StartRun] = results["cold"]
    r_ttfs = [r.total_s for r in remux]
    t_ttfs = [r.total_s for r in transcode]
    r_seek = [r.seek_s for r in remux if r.seek_s is not None]
    t_seek = [r.seek_s for r in transcode if r.seek_s is not None]
    kv: dict[str, Any] = {"cpus": os.cpu_count(), "quick": str(quick).lower()}
    rows.append(
        (
            "1. first segment, remux (Original, 1080p)",
            spread(r_ttfs),
            "<= 0.3 s",
            verdict(median(r_ttfs), TARGET_TTFS_REMUX_S),
        )
    )
    rows.append(("   requests (median)", steps_median(remux), "", ""))
    rows.append(("   server, ms after the master request", marks_median(remux), "", ""))
    if cold:
        c = [r.total_s for r in cold]
        rows.append(("   first play (keyframe index read)", spread(c), "", ""))
        rows.append(("   requests (median)", steps_median(cold), "", ""))
    rows.append(
        (
            "1. first segment, transcode 1080p->720p",
            spread(t_ttfs),
            "<= 1.0 s",
            verdict(median(t_ttfs), TARGET_TTFS_TRANSCODE_S),
        )
    )
    rows.append(("   requests (median)", steps_median(transcode), "", ""))
    rows.append(("   server, ms after the master request", marks_median(transcode), "", ""))
    new_r = sum(r.seek_new_job for r in remux)
    new_t = sum(r.seek_new_job for r in transcode)
    rows.append(
        (
            f"2. seek, remux (seg {remux[0].seek_index}; new job {new_r}/{len(remux)})",
            spread(r_seek),
            "<= 1.5 s",
            verdict(median(r_seek), TARGET_SEEK_S),
        )
    )
    rows.append(
        (
            f"2. seek, transcode (seg {transcode[0].seek_index}; new job {new_t}/{len(transcode)})",
            spread(t_seek),
            "<= 1.5 s",
            verdict(median(t_seek), TARGET_SEEK_S),
        )
    )
    kv.update(
        ttfs_remux_s=f"{median(r_ttfs):.3f}",
        ttfs_transcode_s=f"{median(t_ttfs):.3f}",
        seek_remux_s=f"{median(r_seek):.3f}",
        seek_transcode_s=f"{median(t_seek):.3f}",
    )
    if cold:
        kv["ttfs_remux_first_play_s"] = f"{median([r.total_s for r in cold]):.3f}"
    for name, levels in results["viewers"].items():
        best = 0
        for level, viewers in levels.items():
            ok = all(v.keeps_up for v in viewers)
            if ok and level == best + 1:
                best = level
            speeds = " ".join(f"{v.speed:.2f}x" for v in viewers)
            lead = min(v.lowest_lead_s for v in viewers)
            first = max(v.first_s for v in viewers)
            rows.append(
                (
                    f"3. {level} x {name}->720p viewers",
                    f"{speeds} (first seg <= {first:.2f} s, min lead {lead:+.1f} s, "
                    f"load {results['viewer_load'][(name, level)]:.1f})",
                    "all >= 1x",
                    "yes" if ok else "NO",
                )
            )
        rows.append((f"3. => simultaneous {name}->720p at >= 1x", f"{best}", "", ""))
        kv[f"simultaneous_{name}"] = best
    cpu: list[CpuRun] = results["cpu"]
    if cpu:
        ff = [c.per_minute(c.reaped_s) for c in cpu]
        sampled = [c.per_minute(c.sampled_s) for c in cpu]
        own = [c.per_minute(c.server_s) for c in cpu]
        speed = [c.media_s / c.wall_s for c in cpu]
        rows.append(("4. CPU per minute, ffmpeg (reaped children)", spread(ff, "cpu-s", 1), "", ""))
        rows.append(("   ffmpeg, sampled /proc/<pid>/stat", spread(sampled, "cpu-s", 1), "", ""))
        rows.append(("   server process itself", spread(own, "cpu-s", 2), "", ""))
        rows.append(("   solo transcode speed", spread(speed, "x", 2), "", ""))
        kv["cpu_s_per_min_ffmpeg"] = f"{median(ff):.1f}"
        kv["cpu_s_per_min_server"] = f"{median(own):.2f}"
    wrk = results.get("wrk") or {}
    if wrk:
        rates = wrk["rates"]
        for what, size in (("segment", wrk["size"]), ("init", wrk["init_size"])):
            h = [r.requests_s for r in rates[("hearth", what)]]
            n = [r.requests_s for r in rates[("nginx", what)]]
            errors = sum(r.errors for r in rates[("hearth", what)] + rates[("nginx", what)])
            label = (
                f"5. cached {what} ({size / 1e6:.2f} MB)"
                if what == "segment"
                else f"5. cached init ({size / 1e3:.1f} kB)"
            )
            rows.append(
                (
                    label + ", Hearth",
                    f"{median(h):,.0f} req/s = {median(h) * size / 1e6:,.0f} MB/s",
                    "",
                    "",
                )
            )
            rows.append(
                ("   nginx", f"{median(n):,.0f} req/s = {median(n) * size / 1e6:,.0f} MB/s", "", "")
            )
            rows.append(
                ("   Hearth / nginx", f"{median(h) / median(n):.2f} (errors {errors})", "", "")
            )
            kv[f"wrk_{what}_hearth_rps"] = f"{median(h):.0f}"
            kv[f"wrk_{what}_nginx_rps"] = f"{median(n):.0f}"
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print("\n" + "=" * (width + value_width + 18))
    print(f"{'figure':<{width}}  {'measured':<{value_width}}  {'target':<10} met")
    for label, value, target, met in rows:
        print(f"{label:<{width}}  {value:<{value_width}}  {target:<10} {met}".rstrip())
    print(
        f"machine: nproc={os.cpu_count()}, {ffmpeg_version(ffmpeg)}, "
        f"load {load_start:.2f} at start, {load_1m():.2f} at end"
    )
    print(
        "load at the start of each section: " + ", ".join(f"{k} {v:.2f}" for k, v in LOADS.items())
    )
    kv["load_1m"] = f"{load_start:.2f}"
    kv["pass"] = str(
        median(r_ttfs) <= TARGET_TTFS_REMUX_S
        and median(t_ttfs) <= TARGET_TTFS_TRANSCODE_S
        and median(r_seek) <= TARGET_SEEK_S
        and median(t_seek) <= TARGET_SEEK_S
    ).lower()
    print(" ".join(f"{k}={v}" for k, v in kv.items()))


def marks_median(runs: Sequence[StartRun]) -> str:
    keys = [k for k in runs[0].marks if all(k in r.marks for r in runs)]
    return ", ".join(f"{k} +{median([r.marks[k] for r in runs]) * 1000:.0f}" for k in keys)


def steps_median(runs: Sequence[StartRun]) -> str:
    keys = runs[0].steps.keys()
    return ", ".join(f"{k} {median([r.steps[k] for r in runs]) * 1000:.0f} ms" for k in keys)


if __name__ == "__main__":
    sys.exit(main())
