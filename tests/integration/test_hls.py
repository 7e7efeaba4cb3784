"""The HLS engine end to end: a real Hearth on 127.0.0.1, real ffmpeg, real players' requests.

One module-wide server plays a small library of generated clips (see ``hls_library``):

- ``Kestrel Ridge``: H.264 with B-frames and a keyframe every 4 s, AC-3 audio, in Matroska.
  Browsers get it remuxed (video copied, audio to AAC); ``tv-legacy`` gets MPEG-TS.
- ``Heron Bay``: HEVC, which Chromium cannot decode: transcoded only.
- ``Falcon Marsh``: interlaced H.264: browsers get it deinterlaced (transcoded).
- ``Osprey Lake``: plain H.264/AAC MP4, for decoding through the master playlist.
- ``Plover Sands``: like Kestrel Ridge, played only by the seek tests (they need fresh streams).
- ``Gannet Point``: a clip the last test truncates while it plays.

The server runs with ``max_transcodes = 1`` (saturation is easy to reach),
``throttle_segments = 2`` (a job runs at most two segments ahead of its viewer, so it stays
alive and visible in ``/jobs`` instead of racing to the end) and ``idle_timeout_seconds =
3``.  Every test uses its own session ids and stops them when it ends, so no job of one test
holds the only transcode slot in the next.  Two tests run their own servers: ``kill -9`` of
a ``mediaserver serve`` process, and the segment cache at its 64 MB quota.
"""

from __future__ import annotations

import dataclasses
import http.client
import io
import itertools
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import httpx
import pytest

from mediaserver.config import load_settings
from mediaserver.streaming import fmp4, tokens
from mediaserver.streaming.command import TS_OFFSET_S
from mediaserver.testing import make_clip
from tests.integration.conftest import add_member, auth_headers, make_admin, wait_until

FPS = 25.0
FRAME_S = 1 / FPS
SEGMENT_S = 2
# A segment's first picture must be the frame the playlist says it starts with: its
# timestamp within half a frame of the playlist's start (the nearest frame), not merely
# within a frame, which would let a whole-frame shift (a lip-sync error) through.
NEAREST_FRAME_S = FRAME_S / 2 + 0.002
STREAMING = {
    "trickplay": False,
    "segment_seconds": SEGMENT_S,
    "max_transcodes": 1,
    "throttle_segments": 2,
    "idle_timeout_seconds": 3,
    "queue_seconds": 1,  # a newcomer waits less than the idle timeout: saturation is seen
}
PYTHON = sys.executable

# title -> (file name, make_clip keyword arguments)
CLIPS: dict[str, tuple[str, dict[str, Any]]] = {
    "Kestrel Ridge": (
        "Kestrel Ridge (2011).mkv",
        {"seconds": 24, "size": "640x360", "output": {"g": 100, "bf": 2, "c:a": "ac3"}},
    ),
    "Heron Bay": (
        "Heron Bay (2012).mkv",
        {"seconds": 12, "size": "640x360", "video": "smptebars", "vcodec": "libx265"},
    ),
    "Falcon Marsh": (
        "Falcon Marsh (2013).mp4",
        {"seconds": 12, "size": "640x360", "output": {"flags": "+ildct+ilme", "top": 1}},
    ),
    "Osprey Lake": ("Osprey Lake (2014).mp4", {"seconds": 12, "size": "640x360"}),
    "Plover Sands": (
        "Plover Sands (2016).mkv",
        {
            "seconds": 24,
            "size": "640x360",
            "video": "testsrc",
            "output": {"g": 100, "bf": 2, "c:a": "ac3"},
        },
    ),
    "Tern Harbour": (
        "Tern Harbour (2017).mkv",
        {"seconds": 8, "size": "320x180", "subtitle": True, "audio_language": "eng"},
    ),
    "Gannet Point": (
        "Gannet Point (2015).mkv",
        {"seconds": 24, "size": "640x360", "video": "rgbtestsrc"},
    ),
}


# -- playlists, segments and processes ------------------------------------------------------


@dataclass(frozen=True)
class Rendition:
    """One variant playlist of a master playlist, parsed."""

    name: str
    url: str  # path and query of index.m3u8
    key: str
    query: str  # t=...&s=...
    init: str | None  # path and query of init.mp4 (fMP4 only)
    segments: tuple[str, ...]  # path and query of each segment
    durations: tuple[float, ...]

    @property
    def folder(self) -> str:
        return f"/api/v1/hls/{self.key}/"

    @property
    def starts(self) -> list[float]:
        return [0.0, *itertools.accumulate(self.durations)][:-1]

    @property
    def extension(self) -> str:
        return self.segments[0].split("?")[0].rsplit(".", 1)[1]


def parse_variant(client: httpx.Client, name: str, url: str) -> Rendition:
    response = client.get(url)
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    key = urlsplit(url).path.split("/")[4]
    folder = f"/api/v1/hls/{key}/"
    init = next((ln.split('"')[1] for ln in lines if ln.startswith("#EXT-X-MAP:")), None)
    durations = tuple(float(ln[8:].rstrip(",")) for ln in lines if ln.startswith("#EXTINF:"))
    segments = tuple(folder + ln for ln in lines if ln and not ln.startswith("#"))
    assert len(segments) == len(durations) and segments
    return Rendition(
        name,
        url,
        key,
        urlsplit(url).query,
        folder + init if init else None,
        segments,
        durations,
    )


def master(client: httpx.Client, item_id: int, session: str, **params: str) -> str:
    response = client.get(
        f"/api/v1/items/{item_id}/hls/master.m3u8", params={**params, "session": session}
    )
    assert response.status_code == 200, response.text
    return response.text


def renditions(
    client: httpx.Client, item_id: int, session: str, **params: str
) -> dict[str, Rendition]:
    """The variants of the item's master playlist by NAME, in the master's order."""
    text = master(client, item_id, session, **params)
    names = re.findall(r'NAME="([^"]+)"', text)
    urls = [ln for ln in text.splitlines() if ln.startswith("/api/v1/hls/")]
    assert len(names) == len(urls), text
    return {name: parse_variant(client, name, url) for name, url in zip(names, urls, strict=True)}


@dataclass(frozen=True)
class Timing:
    """What a segment holds, in seconds on the playlist's timeline."""

    video_start: float  # presentation time of the first video packet
    keyframe: bool  # whether that packet is a keyframe
    frames: int
    video_end: float  # the last picture's time plus one frame
    audio_start: float | None
    audio_end: float | None


def timing(data: bytes, *, ts_offset: float = 0.0) -> Timing:
    """The timing of a segment (fMP4: init + segment, MPEG-TS: the segment alone)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        pictures: list[tuple[float, bool]] = []
        sounds: list[tuple[float, float]] = []
        for packet in container.demux():
            if packet.pts is None or not packet.size or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base) - ts_offset
            if packet.stream == video:
                pictures.append((at, packet.is_keyframe))
            elif packet.stream == audio:
                sounds.append((at, float((packet.duration or 0) * packet.time_base)))
    assert pictures, "the segment holds no video"
    return Timing(
        video_start=pictures[0][0],
        keyframe=pictures[0][1],
        frames=len(pictures),
        video_end=max(t for t, _ in pictures) + FRAME_S,
        audio_start=min(t for t, _ in sounds) if sounds else None,
        audio_end=max(t + d for t, d in sounds) if sounds else None,
    )


def fetch_segment(client: httpx.Client, rendition: Rendition, index: int) -> bytes:
    response = client.get(rendition.segments[index])
    assert response.status_code == 200, (index, response.status_code, response.text)
    init = b""
    if rendition.init is not None:
        init_response = client.get(rendition.init)
        assert init_response.status_code == 200, init_response.text
        init = init_response.content
    return init + response.content


def composition_start(data: bytes) -> float:
    """The composition time of the first video sample of an fMP4 init + segment, as ISO BMFF
    defines it: ``tfdt`` + the sample's (signed, in a version 1 ``trun``) offset.

    PyAV cannot say this: libavformat's mov demuxer adds its own shift to every pts of a
    fragment with negative offsets (B-frames), so its first pts is late by the B-frame
    delay.  Browsers' MSE and Apple's players use the boxes as written.
    """
    video = next(t for t in fmp4.read_tracks(data).values() if t.handler == "vide")
    moof = next(b for b in fmp4.iter_boxes(data) if b.kind == "moof")
    for traf in fmp4.iter_boxes(data, moof.body, moof.end):
        boxes = {b.kind: b for b in fmp4.iter_boxes(data, traf.body, traf.end)}
        if traf.kind != "traf" or struct.unpack_from(">I", data, boxes["tfhd"].body + 4)[0] != (
            video.track_id
        ):
            continue
        tfdt, trun = boxes["tfdt"], boxes["trun"]
        wide = data[tfdt.body] == 1
        (decode,) = struct.unpack_from(">Q" if wide else ">I", data, tfdt.body + 4)
        version, flags = data[trun.body], int.from_bytes(data[trun.body + 1 : trun.body + 4])
        offset = 0
        if flags & 0x800:
            at = (
                trun.body + 8 + 4 * sum(1 for bit in (0x1, 0x4, 0x100, 0x200, 0x400) if flags & bit)
            )
            (offset,) = struct.unpack_from(">i" if version else ">I", data, at)
        return float(decode + offset) / video.timescale
    pytest.fail("the segment has no video fragment")


def timing_of(client: httpx.Client, rendition: Rendition, index: int) -> Timing:
    """A segment's timing; for fMP4 its video start is the composition time of the boxes."""
    data = fetch_segment(client, rendition, index)
    if rendition.extension == "ts":
        return timing(data, ts_offset=TS_OFFSET_S)
    measured = timing(data)
    start = composition_start(data)
    # PyAV's video times are late by the demuxer's shift: move them back together.
    shift = measured.video_start - start
    return dataclasses.replace(measured, video_start=start, video_end=measured.video_end - shift)


def decode(
    url: str, *extra: str, timeout: float = 120, headers: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """ffmpeg as an HLS client: read and decode everything, fail on the first error.
    ``headers`` (the API key) for the master playlist; stream links carry their own token."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-xerror"]
    if headers:
        argv += ["-headers", "".join(f"{k}: {v}\r\n" for k, v in headers.items())]
    argv += ["-i", url]
    return subprocess.run(  # noqa: S603
        [*argv, *extra, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def jobs(client: httpx.Client) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = client.get("/api/v1/hls/jobs").json()["jobs"]
    return listed


def stream_jobs(client: httpx.Client, key: str, *, alive: bool = False) -> list[dict[str, Any]]:
    return [
        j for j in jobs(client) if j["stream"] == key and (not alive or j["state"] == "running")
    ]


def ffmpeg_children(sid: int) -> list[int]:
    """Live ffmpeg processes whose session id is ``sid`` (a server started in its own)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z" and b"ffmpeg" in cmdline:
            found.append(int(entry))
    return found


# -- the library and the module's server ----------------------------------------------------


@pytest.fixture(scope="module")
def hls_library(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> Path:
    root = tmp_path_factory.mktemp("hls-media") / "HLS Library"
    movies = root / "Movies"

    def make(entry: tuple[str, dict[str, Any]]) -> Path:
        name, options = entry
        return make_clip(movies / name, ffmpeg=ffmpeg_binary, **options)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(make, CLIPS.values()))
    return root


@dataclass(frozen=True)
class Hearth:
    url: str
    data_dir: Path
    items: dict[str, int]  # title -> item id
    client: httpx.Client

    def file_of(self, title: str) -> Path:
        return Path(
            self.client.get(f"/api/v1/items/{self.items[title]}").json()["files"][0]["path"]
        )


def movie_ids(client: httpx.Client) -> dict[str, int]:
    body = client.get("/api/v1/items", params={"kind": "movie", "limit": 100}).json()
    return {item["title"]: item["id"] for item in body["items"]}


@pytest.fixture(scope="module")
def hearth(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hls_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[Hearth]:
    data_dir = tmp_path_factory.mktemp("hls-data")
    with (
        hearth_server(data_dir, [hls_library], streaming=STREAMING) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=90) as client,
    ):
        scan_waiter(client)
        items = movie_ids(client)
        assert set(CLIPS) <= set(items), items
        yield Hearth(url, data_dir, items, client)


@pytest.fixture
def client(hearth: Hearth) -> httpx.Client:
    return hearth.client


@pytest.fixture
def sessions(hearth: Hearth) -> Iterator[Callable[[], str]]:
    """A maker of fresh session ids; every one is stopped when the test ends."""
    made: list[str] = []

    def new() -> str:
        made.append(f"t{os.getpid()}x{len(made)}x{time.monotonic_ns() % 10**9}")
        return made[-1]

    yield new
    for session in made:
        hearth.client.post(f"/api/v1/hls/sessions/{session}/stop")


# -- 1. ffmpeg plays every kind of stream -----------------------------------------------------

DECODE_CASES = {
    # case: (title, profile, variant name)
    "remux-fmp4": ("Kestrel Ridge", "chromium", "Original"),
    "transcode-fmp4": ("Heron Bay", "chromium", "360p"),
    "deinterlace-fmp4": ("Falcon Marsh", "chromium", "240p"),
    "remux-ts": ("Kestrel Ridge", "tv-legacy", "Original"),
}


@pytest.mark.parametrize("case", list(DECODE_CASES))
def test_ffmpeg_decodes_the_whole_stream(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str], case: str
) -> None:
    title, profile, name = DECODE_CASES[case]
    offered = renditions(client, hearth.items[title], sessions(), profile=profile)
    assert name in offered, list(offered)
    if case.startswith("transcode") or case.startswith("deinterlace"):
        assert "Original" not in offered  # the client cannot decode the source's video
    rendition = offered[name]
    assert rendition.extension == ("ts" if profile == "tv-legacy" else "m4s")
    done = decode(hearth.url + rendition.url)
    assert done.returncode == 0, done.stderr
    assert sum(rendition.durations) == pytest.approx(float(CLIPS[title][1]["seconds"]), abs=0.05)


def test_ffmpeg_decodes_through_the_master_playlist(
    hearth: Hearth, sessions: Callable[[], str]
) -> None:
    session = sessions()
    url = f"{hearth.url}/api/v1/items/{hearth.items['Osprey Lake']}/hls/master.m3u8"
    done = decode(f"{url}?profile=chromium&session={session}", headers=auth_headers(hearth.url))
    assert done.returncode == 0, done.stderr


# -- 2. segments start on keyframes, where the playlist says --------------------------------

KEYFRAME_CASES = {
    # case: (profile, variant name)
    "remux-fmp4": ("chromium", "Original"),
    "transcode-fmp4": ("chromium", "240p"),
    "remux-ts": ("tv-legacy", "Original"),
    "transcode-ts": ("tv-legacy", "240p"),
}


def source_keyframes(path: Path) -> list[float]:
    """Keyframe times of the first video stream, from its first frame (as the index has them)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        start = stream.start_time or 0
        times = [
            round(float((p.pts - start) * stream.time_base), 3)
            for p in container.demux(stream)
            if p.is_keyframe and p.pts is not None
        ]
    return sorted(times)


@pytest.mark.parametrize("case", list(KEYFRAME_CASES))
def test_segments_start_on_keyframes_at_the_playlist_times(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str], case: str
) -> None:
    profile, name = KEYFRAME_CASES[case]
    rendition = renditions(client, hearth.items["Kestrel Ridge"], sessions(), profile=profile)[name]
    starts = rendition.starts
    if name == "Original":
        # A copied stream can only be cut at the source's keyframes (every 4 s here).
        keyframes = source_keyframes(hearth.file_of("Kestrel Ridge"))
        assert keyframes[:3] == [0.0, 4.0, 8.0], keyframes
        assert [round(s, 3) for s in starts] == keyframes
    problems = []
    for index, start in enumerate(starts):
        got = timing_of(client, rendition, index)
        frames = round(rendition.durations[index] * FPS)
        if not got.keyframe:
            problems.append(f"segment {index} does not start on a keyframe")
        if abs(got.video_start - start) > NEAREST_FRAME_S:
            problems.append(
                f"segment {index}: first picture at {got.video_start:.3f} s, playlist says {start:.3f} s"
            )
        if got.frames != frames:
            problems.append(
                f"segment {index}: {got.frames} frames for EXTINF {rendition.durations[index]}"
            )
    assert not problems, "\n".join(problems)


# -- 3. a seek far ahead is served by a job that starts there -----------------------------------

SEEK_CASES = {
    # case: (profile, variant name); Plover Sands is played by these tests only
    "remux-fmp4": ("chromium", "Original"),
    "transcode-fmp4": ("chromium", "360p"),
    "remux-ts": ("tv-legacy", "Original"),
    "transcode-ts": ("tv-legacy", "360p"),
}


@contextmanager
def watching_jobs(client: httpx.Client, key: str) -> Iterator[list[dict[str, Any]]]:
    """Every job of stream ``key`` that /jobs lists while the block runs (polled in a thread):
    a job near the end may finish and be cleared before a request made afterwards sees it."""
    seen: list[dict[str, Any]] = []
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=str(client.base_url), headers=client.headers, timeout=10) as own:
            while True:
                seen.extend(stream_jobs(own, key))
                if stop.wait(0.05):
                    seen.extend(stream_jobs(own, key))
                    return

    thread = threading.Thread(target=poll, name="jobs-watcher", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=10)


def with_session(rendition: Rendition, session: str) -> Rendition:
    """The same stream watched by another viewer (tokens are per stream, not per viewer)."""
    query = re.sub(r"(^|&)s=[^&]*", rf"\g<1>s={session}", rendition.query)
    swap = lambda url: url.split("?")[0] + "?" + query  # noqa: E731
    return Rendition(
        rendition.name,
        swap(rendition.url),
        rendition.key,
        query,
        swap(rendition.init) if rendition.init else None,
        tuple(swap(u) for u in rendition.segments),
        rendition.durations,
    )


def is_cached(hearth: Hearth, rendition: Rendition, index: int) -> bool:
    folder = hearth.data_dir / "cache" / "hls" / rendition.key
    return (folder / f"{index}.{rendition.extension}").exists()


@pytest.mark.parametrize("case", list(SEEK_CASES))
def test_a_seek_near_the_end_starts_a_job_there(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str], case: str
) -> None:
    profile, name = SEEK_CASES[case]
    opener = sessions()
    # A transcoded rung is asked for as a client that copies nothing: beside a copied
    # original only rungs smaller than it are offered, and this small clip has none.
    copy = {} if name == "Original" else {"vcodec": ""}
    rendition = renditions(client, hearth.items["Plover Sands"], opener, profile=profile, **copy)[
        name
    ]
    # The master playlist starts its first stream at 0; that viewer leaves, another seeks.
    client.post(f"/api/v1/hls/sessions/{opener}/stop")
    rendition = with_session(rendition, sessions())
    last = len(rendition.segments) - 1
    target = last - 2
    assert target >= 3
    assert not any(is_cached(hearth, rendition, n) for n in range(target, last + 1))
    with watching_jobs(client, rendition.key) as seen:
        far = [timing_of(client, rendition, n) for n in range(target, last + 1)]
    at_target = {j["id"] for j in seen if j["start"] == target}
    assert len(at_target) == 1, seen  # one job from the seek made all three: no restarts
    assert {j["start"] for j in seen} <= {0, target}, seen
    # A job started at a seek produces the timeline of one that ran from the start: each
    # segment where the playlist says, and sound and picture ending together (the clip's
    # audio and video both run to the end).
    for n, got in enumerate(far, start=target):
        assert got.keyframe, n
        assert got.video_start == pytest.approx(rendition.starts[n], abs=NEAREST_FRAME_S), n
    end = far[-1]
    assert end.audio_end is not None
    assert end.audio_end == pytest.approx(end.video_end, abs=0.1), end


# -- 4. viewers of one stream share its job ---------------------------------------------------


def test_two_viewers_of_one_rung_share_one_job(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str]
) -> None:
    first, second = sessions(), sessions()
    a = renditions(client, hearth.items["Heron Bay"], first, profile="chromium")["240p"]
    b = renditions(client, hearth.items["Heron Bay"], second, profile="chromium")["240p"]
    assert a.key == b.key and a.query != b.query
    job_ids: set[int] = set()
    sessions_seen: set[str] = set()
    for index in range(len(a.segments)):
        viewer = a if index % 2 == 0 else b  # each asks for the segment after the other's
        response = client.get(viewer.segments[index])
        assert response.status_code == 200, response.text
        running = stream_jobs(client, a.key)
        assert len([j for j in running if j["state"] == "running"]) <= 1, running
        job_ids |= {j["id"] for j in running}
        for job in running:
            sessions_seen |= set(job["sessions"])
    assert len(job_ids) == 1, f"jobs {sorted(job_ids)} made one stream"
    assert {first, second} <= sessions_seen


# -- 5. idle jobs go, and so does their ffmpeg --------------------------------------------------


def uncached_run(hearth: Hearth, rendition: Rendition) -> int:
    """The first segment from which three are not cached: a job started there runs, then
    waits for its viewer (``throttle_segments = 2``) instead of finishing at once."""
    for index in range(len(rendition.segments) - 3):
        if not any(is_cached(hearth, rendition, index + n) for n in range(3)):
            return index
    pytest.fail(f"{rendition.name} is nearly all cached already")


def test_an_idle_job_is_stopped_and_its_ffmpeg_killed(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str], poll: Callable[..., Any]
) -> None:
    rendition = renditions(client, hearth.items["Falcon Marsh"], sessions(), profile="chromium")[
        "360p"
    ]
    index = uncached_run(hearth, rendition)
    assert client.get(rendition.segments[index]).status_code == 200
    (job,) = [j for j in stream_jobs(client, rendition.key, alive=True) if j["start"] == index]
    assert job["pid"] and pid_alive(job["pid"])
    time.sleep(1.0)  # well within the idle timeout: the paused job waits for its viewer
    assert [j["id"] for j in stream_jobs(client, rendition.key, alive=True)] == [job["id"]]
    poll(lambda: not stream_jobs(client, rendition.key), 10, "the idle job to go")
    poll(lambda: not pid_alive(job["pid"]), 3, f"ffmpeg {job['pid']} to exit")


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_a_job_ahead_of_its_viewer_pauses_without_using_cpu(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str], poll: Callable[..., Any]
) -> None:
    session = sessions()
    rendition = renditions(
        client, hearth.items["Gannet Point"], session, profile="chromium", vcodec=""
    )["240p"]
    index = uncached_run(hearth, rendition)
    assert client.get(rendition.segments[index]).status_code == 200
    poll(
        lambda: any(j["paused"] for j in stream_jobs(client, rendition.key, alive=True)),
        5,
        "the job to pause",
    )
    (job,) = stream_jobs(client, rendition.key, alive=True)
    # throttle_segments = 2: it stops once two segments past what was asked are made.
    assert job["next"] - job["requested"] <= STREAMING["throttle_segments"] + 1
    time.sleep(0.5)  # the encoder's threads finish the frames they hold
    assert client.post(f"/api/v1/hls/sessions/{session}/ping").status_code == 204
    before = cpu_ticks(job["pid"])
    time.sleep(1.0)  # the ping keeps it within the 3 s idle timeout
    # Blocked on its full pipe: at most 2 % of a core (encoding takes 50 % or more).
    assert cpu_ticks(job["pid"]) - before <= 2
    assert client.post(f"/api/v1/hls/sessions/{session}/ping").status_code == 204
    (still,) = stream_jobs(client, rendition.key, alive=True)
    assert still["next"] == job["next"]
    # The viewer catches up: the same job goes on.
    assert client.get(rendition.segments[job["next"] - 1]).status_code == 200
    poll(
        lambda: any(j["next"] > job["next"] for j in stream_jobs(client, rendition.key)),
        5,
        "the job to resume",
    )
    assert [j["id"] for j in stream_jobs(client, rendition.key, alive=True)] == [job["id"]]


def test_the_stop_endpoint_ends_a_session_at_once(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str], poll: Callable[..., Any]
) -> None:
    session = sessions()
    # MPEG-TS: a throttled TS job is a stopped (SIGSTOP) process group, which must die too.
    rendition = renditions(client, hearth.items["Heron Bay"], session, profile="tv-legacy")["360p"]
    index = uncached_run(hearth, rendition)
    assert client.get(rendition.segments[index]).status_code == 200
    poll(
        lambda: any(j["paused"] for j in stream_jobs(client, rendition.key, alive=True)),
        10,
        "the job to be throttled",
    )
    (job,) = stream_jobs(client, rendition.key, alive=True)
    asked = time.monotonic()
    assert client.post(f"/api/v1/hls/sessions/{session}/stop").status_code == 204
    assert not stream_jobs(client, rendition.key, alive=True)
    poll(lambda: not pid_alive(job["pid"]), 2, f"ffmpeg {job['pid']} to exit")
    assert time.monotonic() - asked < 2
    poll(lambda: not stream_jobs(client, rendition.key), 3, "the stopped job to be cleared")


# -- 8. bad names and tokens ------------------------------------------------------------------

BAD_NAMES = [
    "-1.m4s",
    "01.m4s",
    "1.5.m4s",
    "abc.m4s",
    "99999.m4s",
    "1.ts",
    "1.m4s.tmp",
    "stream.json",
    "..%2F..%2Fcatalog.sqlite3",
    "..%2F..%2F..%2Fsecret.key",
    "..%5C..%5Ccatalog.sqlite3",
    "%252e%252e%252fsecret.key",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "../../../../catalog.sqlite3",
    "index.m3u8%00.m4s",
    "init.mp4%2F..",
]


def raw_get(url: str, target: str) -> tuple[int, dict[str, str], bytes]:
    """A GET sent exactly as written: httpx would normalise dots and escapes away."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def two_streams(hearth: Hearth) -> Iterator[tuple[Rendition, Rendition]]:
    """Kestrel Ridge's Original and 240p (fMP4), for the name and token tests."""
    offered = renditions(hearth.client, hearth.items["Kestrel Ridge"], "names", profile="chromium")
    yield offered["Original"], offered["240p"]
    hearth.client.post("/api/v1/hls/sessions/names/stop")


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_segment_names_are_not_found(
    hearth: Hearth, two_streams: tuple[Rendition, Rendition], name: str
) -> None:
    original, _ = two_streams
    secret = (hearth.data_dir / "secret.key").read_bytes()
    status, _, body = raw_get(hearth.url, f"{original.folder}{name}?{original.query}")
    assert status == 404, (status, body[:200])
    assert secret not in body and b"SQLite format 3" not in body and b"root:" not in body


@pytest.mark.parametrize(
    "key", ["ZZZZZZZZZZZZZZZZZZZZZZZZ", "D7D86395D5AA91A568A47667", "abc", "0" * 25, "..", "%2e%2e"]
)
def test_a_key_that_is_not_24_hex_digits_is_not_found(
    hearth: Hearth, two_streams: tuple[Rendition, Rendition], key: str
) -> None:
    original, _ = two_streams
    status, _, body = raw_get(hearth.url, f"/api/v1/hls/{key}/index.m3u8?{original.query}")
    assert status == 404, (status, body[:200])


def test_an_unknown_stream_with_a_valid_token_is_not_found(hearth: Hearth) -> None:
    key = "0123456789abcdef01234567"
    secret = (hearth.data_dir / "secret.key").read_bytes()
    token = tokens.sign(secret, key, 600)
    status, _, body = raw_get(hearth.url, f"/api/v1/hls/{key}/index.m3u8?t={token}&s=x")
    assert status == 404, body


def test_tokens_are_checked(
    hearth: Hearth, client: httpx.Client, two_streams: tuple[Rendition, Rendition]
) -> None:
    original, other = two_streams
    secret = (hearth.data_dir / "secret.key").read_bytes()
    good = dict(pair.split("=", 1) for pair in original.query.split("&"))["t"]
    expiry, signature = good.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    cases = {
        "missing": None,
        "empty": "",
        "another stream's": dict(pair.split("=", 1) for pair in other.query.split("&"))["t"],
        "expired": tokens.sign(secret, original.key, -60),
        "tampered signature": f"{expiry}.{flipped}",
        "tampered expiry": f"{int(expiry) + 1}.{signature}",
        "malformed": "not-a-token",
        "signed with another secret": tokens.sign(b"x" * 32, original.key, 600),
    }
    for name in ("index.m3u8", "init.mp4", "0.m4s"):
        assert client.get(original.folder + name, params={"t": good}).status_code == 200
        for case, token in cases.items():
            params = {"s": "tokens"} if token is None else {"t": token, "s": "tokens"}
            response = client.get(original.folder + name, params=params)
            assert response.status_code == 403, (name, case, response.text)
            assert response.json()["detail"], (name, case)


def test_playlists_and_segments_carry_the_right_headers(
    hearth: Hearth,
    client: httpx.Client,
    sessions: Callable[[], str],
    two_streams: tuple[Rendition, Rendition],
) -> None:
    original, _ = two_streams
    immutable = "public, max-age=31536000, immutable"
    playlist = "application/vnd.apple.mpegurl"
    expected = {
        f"/api/v1/items/{hearth.items['Kestrel Ridge']}/hls/master.m3u8?profile=chromium": (
            playlist,
            "no-cache",
        ),
        original.url: (playlist, "no-cache"),
        original.init or "": ("video/mp4", immutable),
        original.segments[0]: ("video/iso.segment", immutable),
    }
    ts = renditions(client, hearth.items["Kestrel Ridge"], sessions(), profile="tv-legacy")
    expected[ts["Original"].url] = (playlist, "no-cache")
    expected[ts["Original"].segments[0]] = ("video/mp2t", immutable)
    for url, (content_type, cache_control) in expected.items():
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.headers["content-type"].split(";")[0] == content_type, url
        assert response.headers["cache-control"] == cache_control, url


# -- 9. saturation ---------------------------------------------------------------------------


def test_a_second_transcode_beyond_the_limit_gets_503_with_retry_after(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str]
) -> None:
    first, second = sessions(), sessions()
    # Another person: the same sign-in's new stream would take its own older one's place.
    _, other = add_member(client, auth_headers(hearth.url), "saturation")
    busy = renditions(client, hearth.items["Falcon Marsh"], first, profile="tv-legacy")["240p"]
    for index in range(2):  # the first viewer is watching: its job is not idle
        assert client.get(busy.segments[index]).status_code == 200
    with httpx.Client(base_url=hearth.url, headers=other, timeout=90) as them:
        waiting = renditions(them, hearth.items["Heron Bay"], second, profile="tv-legacy")["240p"]
    refused = client.get(waiting.segments[0])
    assert refused.status_code == 503, refused.text[:300]
    assert int(refused.headers["retry-after"]) > 0
    assert "slot is in use by another viewer" in refused.json()["detail"]
    # The first viewer leaves: the slot is free.
    client.post(f"/api/v1/hls/sessions/{first}/stop")
    served = client.get(waiting.segments[0])
    assert served.status_code == 200, served.text[:300]


# -- 10. a file that breaks while it plays ---------------------------------------------------------


def test_a_file_truncated_mid_stream_gives_a_clear_error_and_no_leftover_ffmpeg(
    hearth: Hearth, client: httpx.Client, sessions: Callable[[], str], poll: Callable[..., Any]
) -> None:
    rendition = renditions(
        client, hearth.items["Gannet Point"], sessions(), profile="chromium", vcodec=""
    )["360p"]
    # Where nothing is cached yet (an earlier master playlist prepares this rung's start),
    # so that a job runs for these segments.
    start = uncached_run(hearth, rendition)
    for index in range(start, start + 2):
        assert client.get(rendition.segments[index]).status_code == 200
    pids = {j["pid"] for j in stream_jobs(client, rendition.key) if j["pid"]}
    assert pids
    path = hearth.file_of("Gannet Point")
    with path.open("r+b") as handle:  # the disk lost the second half of the film
        handle.truncate(path.stat().st_size * 2 // 5)
    failure = None
    for index in range(start + 2, len(rendition.segments)):
        started = time.monotonic()
        response = client.get(rendition.segments[index])
        assert time.monotonic() - started < 65, f"segment {index} hung"
        # 500: ffmpeg could not make it, and asking again will not help (no Retry-After).
        assert response.status_code in (200, 500), (index, response.status_code, response.text)
        if response.status_code == 500:
            failure = response
            break
    assert failure is not None, "every segment of a truncated file was served"
    detail = failure.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 10 and "Traceback" not in detail
    assert " @ 0x" not in detail and "retry-after" not in failure.headers, (detail, failure.headers)
    assert index * SEGMENT_S >= 2  # the start did play
    # The job is cleaned up: nothing runs for the stream and its ffmpeg is gone.
    poll(lambda: not stream_jobs(client, rendition.key, alive=True), 10, "the job to end")
    pids |= {j["pid"] for j in stream_jobs(client, rendition.key) if j["pid"]}
    poll(lambda: not any(pid_alive(p) for p in pids), 5, "the job's ffmpeg to exit")
    # Asking again (a player retrying after Retry-After) fails as clearly, and as fast.
    started = time.monotonic()
    again = client.get(rendition.segments[-1])
    assert again.status_code == 500 and again.json()["detail"], again.text
    assert time.monotonic() - started < 30
    poll(lambda: not stream_jobs(client, rendition.key, alive=True), 10, "the retry's job to end")


# -- 6. kill -9 of the server leaves no ffmpeg ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServeProcess:
    """``python -m mediaserver serve`` in its own session, output to files."""

    def __init__(self, data_dir: Path, media: Path, logs: Path) -> None:
        port = free_port()
        config = logs / "hearth.toml"
        config.write_text(
            "[library]\nwatch = false\nscan_interval_minutes = 0\n"
            "[streaming]\ntrickplay = false\nthrottle_segments = 2\nsegment_seconds = 2\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")}
        env |= {
            "MEDIASERVER_DATA_DIR": str(data_dir),
            "MEDIASERVER_MEDIA_DIRS": str(media),
            "MEDIASERVER_HOST": "127.0.0.1",
            "MEDIASERVER_PORT": str(port),
            "MEDIASERVER_CONFIG": str(config),
            "MEDIASERVER_LOG_LEVEL": "warning",
            "MEDIASERVER_DISCOVERY": "off",  # never announce on this machine's network
        }
        self.url = f"http://127.0.0.1:{port}"
        key = make_admin(load_settings(config, env))
        self.headers = {"Authorization": f"Bearer {key}"}
        self.stderr = logs / f"stderr-{port}"
        with self.stderr.open("wb") as err:
            self.process = subprocess.Popen(  # noqa: S603
                [PYTHON, "-m", "mediaserver", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
            )

    def wait_ready(self, poll: Callable[..., Any]) -> None:
        def healthy() -> bool:
            assert self.process.poll() is None, self.stderr.read_text()
            try:
                return httpx.get(self.url + "/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        poll(healthy, 30, "the server to answer /health", interval=0.2)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for pid in ffmpeg_children(self.process.pid):  # never leave one behind, whatever failed
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_kill_9_of_the_server_leaves_no_ffmpeg_and_a_restart_reaps_leftovers(
    hls_library: Path,
    tmp_path: Path,
    poll: Callable[..., Any],
    scan_waiter: Callable[..., dict[str, Any]],
) -> None:
    data_dir = tmp_path / "data"
    first = ServeProcess(data_dir, hls_library, tmp_path)
    try:
        first.wait_ready(poll)
        with httpx.Client(base_url=first.url, headers=first.headers, timeout=60) as client:
            scan_waiter(client)
            items = movie_ids(client)
            fmp4 = renditions(client, items["Heron Bay"], "crash", profile="chromium")["240p"]
            ts = renditions(client, items["Falcon Marsh"], "crash2", profile="tv-legacy")["240p"]
            for rendition in (fmp4, ts):
                assert client.get(rendition.segments[0]).status_code == 200
            running = [j for j in jobs(client) if j["state"] == "running"]
        pids = {j["pid"] for j in running if j["pid"]}
        assert len(pids) >= 2, running
        assert pids <= set(ffmpeg_children(first.process.pid))
        os.kill(first.process.pid, signal.SIGKILL)  # the server alone: its ffmpegs must follow
        first.process.wait(10)
        poll(lambda: not any(pid_alive(p) for p in pids), 5, f"ffmpeg {sorted(pids)} to die")
    finally:
        first.kill()
    assert any((data_dir / "cache" / "run").glob("*.pid")), "no pid file was left to reap"
    assert any((data_dir / "cache" / "hls").glob("*/job-*")), "no TS job folder was left"

    second = ServeProcess(data_dir, hls_library, tmp_path)
    try:
        second.wait_ready(poll)
        run_files = {p.name for p in (data_dir / "cache" / "run").iterdir()}
        stale = [name for name in run_files if name.startswith(f"{first.process.pid}-")]
        assert not stale, stale
        assert not list((data_dir / "cache" / "hls").glob("*/job-*"))
        assert not list((data_dir / "cache" / "hls").glob("*/*.tmp"))
        with httpx.Client(base_url=second.url, headers=second.headers, timeout=60) as client:
            before = client.get("/api/v1/hls/jobs").json()["cache"]["hits"]
            again = client.get(fmp4.segments[0])  # tokens and keys survive a restart
            assert again.status_code == 200, again.text
            assert client.get("/api/v1/hls/jobs").json()["cache"]["hits"] > before
            assert client.get(fmp4.segments[-1]).status_code == 200  # and new jobs run
            client.post("/api/v1/hls/sessions/crash/stop")
    finally:
        second.kill()


# -- 7. the segment cache keeps to its quota ------------------------------------------------------

CACHE_MB = 64  # the smallest quota the settings allow
CACHE_STREAMING = {
    "trickplay": False,
    "cache_max_mb": CACHE_MB,
    "segment_seconds": 1,
    "throttle_segments": 2,
}
BIG_CLIPS = {  # testsrc2 at qp 1: about 15 Mb/s, 35-38 MB each, made in about 2 s
    "Albatross Cove": ("Albatross Cove (2016).mp4", "1280x720"),
    "Bittern Fen": ("Bittern Fen (2017).mp4", "1216x684"),
}


@pytest.fixture(scope="module")
def big_library(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> Path:
    root = tmp_path_factory.mktemp("big-media") / "Big Library"

    def make(entry: tuple[str, str]) -> Path:
        name, size = entry
        options = {"qp": 1, "g": 25}
        return make_clip(
            root / "Movies" / name, seconds=20, size=size, output=options, ffmpeg=ffmpeg_binary
        )

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(make, BIG_CLIPS.values()))
    return root


@dataclass(frozen=True)
class CacheUse:
    segments: int  # finished segments in stream folders: what the quota governs
    in_flight: int  # segments being written (*.tmp) or in a TS job's folder, not handed over
    other: int  # init.mp4 and stream.json

    @property
    def total(self) -> int:
        return self.segments + self.in_flight + self.other


def cache_use(data_dir: Path) -> CacheUse:
    root = data_dir / "cache" / "hls"
    segments = in_flight = other = 0
    # os.walk, not rglob: the server removes job folders and evicted streams while we look.
    files = [Path(top, name) for top, _, names in os.walk(root) for name in names]
    for path in files:
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue  # gone between listing and looking: it no longer counts
        if path.parent.name.startswith("job-") or path.suffix == ".tmp":
            in_flight += size
        elif path.suffix in (".m4s", ".ts"):
            segments += size
        else:
            other += size
    return CacheUse(segments, in_flight, other)


def test_the_segment_cache_keeps_to_its_quota(
    hearth_server: Callable[..., AbstractContextManager[str]],
    big_library: Path,
    tmp_path: Path,
    scan_waiter: Callable[..., dict[str, Any]],
) -> None:
    """Plays of four remuxed streams, twice round, write about 300 MB into a 64 MB cache.

    Allowed at any moment: finished segments within the quota plus the ones a live job
    protects from eviction (its viewer's position up to one past what it has made: at most
    ``throttle_segments + 2``).  Not counted against the quota, and bounded separately: the
    segments a TS job's ffmpeg has already written into its job folder (a remux runs at disk
    speed and, on a loaded machine, can write the rest of the file before the reader's
    SIGSTOP lands: at most one source's worth, and nothing once the job stops), and the small
    ``init.mp4`` / ``stream.json`` files.
    """
    quota = CACHE_MB * 1024 * 1024
    window = int(CACHE_STREAMING["throttle_segments"]) + 2
    source_bytes = max(p.stat().st_size for p in big_library.rglob("*.mp4"))
    data_dir = tmp_path / "data"
    with (
        hearth_server(data_dir, [big_library], streaming=CACHE_STREAMING) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=90) as client,
    ):
        scan_waiter(client)
        items = movie_ids(client)
        plays = [(title, profile) for title in BIG_CLIPS for profile in ("chromium", "tv-legacy")]
        written = largest = peak = peak_in_flight = 0
        for n, (title, profile) in enumerate(plays * 2):
            session = f"cache{n}"
            rendition = renditions(client, items[title], session, profile=profile)["Original"]
            for index, segment_url in enumerate(rendition.segments):
                response = client.get(segment_url)
                where = f"play {n} ({title}, {profile}) segment {index}"
                assert response.status_code == 200, (where, response.text)
                written += len(response.content)
                largest = max(largest, len(response.content))
                use = cache_use(data_dir)
                peak, peak_in_flight = max(peak, use.segments), max(peak_in_flight, use.in_flight)
                assert use.segments <= quota + window * largest, (where, use)
                # A remux runs at disk speed: under load it can write the rest of the file
                # before the reader's SIGSTOP lands, but never more than one source's worth.
                assert use.in_flight <= source_bytes, (where, use)
                assert use.other < 256 * 1024, (where, use)
            client.post(f"/api/v1/hls/sessions/{session}/stop")
            # Nothing of a stopped job stays behind in a job folder.
            wait_until(lambda: cache_use(data_dir).in_flight == 0, 10, "the job folders to go")
            # The job is done: what the cache accounts for is exactly what is on disk.
            stats = client.get("/api/v1/hls/jobs").json()["cache"]
            use = cache_use(data_dir)
            assert stats["bytes"] == use.segments, (n, stats, use)
            assert use.segments <= quota + window * largest, (n, use)
        assert written > 4 * quota, f"only {written} bytes were played"
        print(
            f"\ncache: played {written / 2**20:.0f} MiB; peak {peak / 2**20:.1f} MiB of "
            f"{CACHE_MB} MiB in segments, {peak_in_flight / 2**20:.1f} MiB in TS job folders"
        )
        # Still serving: the first stream plays again in full.
        again = renditions(client, items["Albatross Cove"], "again", profile="chromium")["Original"]
        done = decode(url + again.url)
        assert done.returncode == 0, done.stderr


def test_text_subtitles_are_webvtt_renditions_and_direct_play_tracks(hearth: Hearth) -> None:
    client = hearth.client
    item = hearth.items["Tern Harbour"]
    answer = client.get(f"/api/v1/items/{item}/playback", params={"profile": "chromium"}).json()
    (track,) = answer["subtitle_tracks"]
    assert track["kind"] == "text" and track["url"]
    direct = client.get(track["url"])
    assert direct.status_code == 200
    assert direct.headers["content-type"].startswith("text/vtt")
    assert direct.text.startswith("WEBVTT") and "-->" in direct.text
    assert client.get(f"/api/v1/items/{item}/subtitles/99.vtt").status_code == 404
    assert client.get(f"/api/v1/items/{item}/subtitles/..%2Fx.vtt").status_code == 404

    text = client.get(answer["hls_url"]).text
    media = next(line for line in text.splitlines() if line.startswith("#EXT-X-MEDIA:"))
    assert 'TYPE=SUBTITLES,GROUP-ID="subs",NAME="English"' in media
    uri = media.split('URI="', 1)[1].rstrip('"')
    playlist = client.get(uri)
    assert playlist.status_code == 200
    assert playlist.headers["content-type"] == "application/vnd.apple.mpegurl"
    vtt_name = next(x for x in playlist.text.splitlines() if x and not x.startswith("#"))
    vtt = client.get(uri.rsplit("/", 1)[0] + "/" + vtt_name)
    assert vtt.status_code == 200
    lines = vtt.text.splitlines()
    assert lines[0] == "WEBVTT" and lines[1].startswith("X-TIMESTAMP-MAP=MPEGTS:0,")
    assert all('SUBTITLES="subs"' in x for x in text.splitlines() if x.startswith("#EXT-X-STREAM"))
