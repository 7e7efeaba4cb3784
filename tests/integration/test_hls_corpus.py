"""Every segment of every file in the test corpus can be made, and one that cannot be made
costs one ffmpeg, not one per request.

The corpus: the session clips (``tests/conftest.py``), the real-world sources of
``test_hls_sources.py`` (MPEG-2, VP9, AV1, 10-bit HEVC, an odd size, two audio tracks,
clocks that start an hour in, variable frame rate, a rotated phone clip), the whole 12 s
film of the damage checks, and a VP9/Opus WebM whose picture stops at 6 s while its sound
runs to 10 s (the file of issue 16: its last two segments failed for ever, each request
starting a new ffmpeg).  Each is played with ``profile=generic`` (H.264/AAC only, so
nearly everything is transcoded) and every segment of every variant is asked for from the
last to the first: each one is made by a job that starts at it, as a viewer seeking there
gets it.  The film cut short at 1.2 s cannot be made past its data: that failure is
remembered, and asking again starts no ffmpeg.
"""

from __future__ import annotations

import io
import itertools
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from tests.integration.conftest import auth_headers
from tests.integration.test_bad_input import audit_log
from tests.integration.test_hls import Rendition, master, parse_variant
from tests.integration.test_hls_sources import SMALL, SOURCES, make_sources

pytestmark = pytest.mark.timeout(600)

SESSION_CLIPS = {  # title -> session clip (tests/conftest.py CLIPS)
    "Plain Clip": "h264_aac.mp4",
    "Silent Clip": "h264.mkv",
    "Colour Bars": "bars.mp4",
    "Two Voices": "two_audio_sub.mkv",
    "Night Train": "av1_aac.mp4",
}
SHORT_PICTURE = "Short Picture"  # VP9/Opus, 10 s of sound, 6 s of picture
HELD_PICTURE = "Held Picture"  # a copy, played from the start by one test only
CUT_SHORT = "Cut Short"  # 12 s stated, 1.2 s there


def make_short_picture(path: Path, ffmpeg: str) -> Path:
    """A 10 s VP9/Opus WebM whose picture stops at 6 s while its sound runs on."""
    argv = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={SMALL}:rate=25:d=6"]
    argv += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:d=10"]
    argv += ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "25"]
    argv += ["-c:a", "libopus", "-ac", "2", str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603
    return path


@pytest.fixture(scope="module")
def corpus(
    tmp_path_factory: pytest.TempPathFactory,
    ffmpeg_binary: str,
    clip_cache: Path,
    damaged_clips: dict[str, Path],
) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "Corpus"
    movies = root / "Movies"
    movies.mkdir(parents=True)
    for title, clip in SESSION_CLIPS.items():
        shutil.copyfile(clip_cache / clip, movies / f"{title} (2001){Path(clip).suffix}")
    shutil.copyfile(damaged_clips["whole.mp4"], movies / "Whole Story (2011).mp4")
    shutil.copyfile(damaged_clips["cut.mkv"], movies / f"{CUT_SHORT} (2011).mkv")
    make_sources(movies, ffmpeg_binary)
    make_short_picture(movies / f"{SHORT_PICTURE} (2021).webm", ffmpeg_binary)
    shutil.copyfile(movies / f"{SHORT_PICTURE} (2021).webm", movies / f"{HELD_PICTURE} (2022).webm")
    return root


TITLES = [
    *SESSION_CLIPS,
    *SOURCES,
    "Vari Rate",
    "Phone Clip",
    "Whole Story",
    SHORT_PICTURE,
]


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    corpus: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[tuple[httpx.Client, dict[str, int]]]:
    audit = audit_log()  # counts the ffmpeg processes the server starts
    audit.active = True
    data_dir = tmp_path_factory.mktemp("corpus-data")
    try:
        with (
            hearth_server(data_dir, [corpus], streaming={"trickplay": False}) as url,
            httpx.Client(base_url=url, headers=auth_headers(url), timeout=120) as client,
        ):
            scan_waiter(client)
            body = client.get("/api/v1/items", params={"kind": "movie", "limit": 100}).json()
            found = {item["title"]: item["id"] for item in body["items"]}
            assert {*TITLES, CUT_SHORT, HELD_PICTURE} <= set(found), sorted(found)
            yield client, found
    finally:
        audit.active = False


def variants(client: httpx.Client, item: int, session: str, **params: str) -> list[Rendition]:
    """The variant streams of the item's master playlist (subtitle renditions left out)."""
    lines = master(client, item, session, **params).splitlines()
    return [
        parse_variant(client, info.split('NAME="', 1)[1].split('"', 1)[0], uri)
        for info, uri in itertools.pairwise(lines)
        if info.startswith("#EXT-X-STREAM-INF:")
    ]


def ffmpegs_reading(path: str) -> int:
    """How many ffmpeg processes the server has started on the file at ``path``."""
    return sum(
        1
        for argv in audit_log().all_popens
        if any(Path(a).name == "ffmpeg" for a in argv) and any(path in a for a in argv)
    )


def pictures_and_sound(data: bytes) -> tuple[int, int, float]:
    """Video frames and audio packets in an init segment followed by a media segment, and
    where its sound ends (seconds on the stream's timeline)."""
    counts = {"video": 0, "audio": 0}
    sound_end = 0.0
    with av.open(io.BytesIO(data), mode="r") as container:
        for packet in container.demux():
            kind = packet.stream.type
            if not packet.size or kind not in counts:
                continue
            counts[kind] += 1
            if kind == "audio" and packet.pts is not None and packet.time_base is not None:
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                sound_end = max(sound_end, end)
    return counts["video"], counts["audio"], sound_end


def walk_backwards(client: httpx.Client, rendition: Rendition) -> list[tuple[int, int, float]]:
    """Every segment of ``rendition``, last first; (pictures, sound packets, sound end) of
    each, first first."""
    init = b""
    if rendition.init is not None:
        answer = client.get(rendition.init)
        assert answer.status_code == 200, (rendition.name, "init", answer.text)
        init = answer.content
    found = []
    for index in reversed(range(len(rendition.segments))):
        answer = client.get(rendition.segments[index])
        assert answer.status_code == 200, (rendition.name, index, answer.text)
        found.append(pictures_and_sound(init + answer.content))
    return found[::-1]


@pytest.mark.parametrize("title", TITLES)
def test_every_segment_of_every_corpus_file_can_be_made(
    server: tuple[httpx.Client, dict[str, int]], title: str
) -> None:
    client, items = server
    session = f"corpus{items[title]}"
    try:
        offered = variants(client, items[title], session, profile="generic")
        assert offered, title
        for rendition in offered:
            for index, (pictures, _, _) in enumerate(walk_backwards(client, rendition)):
                assert pictures > 0, (rendition.name, index)
    finally:
        client.post(f"/api/v1/hls/sessions/{session}/stop")


def test_the_sound_after_the_last_picture_plays_over_the_held_picture(
    server: tuple[httpx.Client, dict[str, int]],
) -> None:
    """The playlist promises 10 s: the segments after 6 s hold sound and a picture, played
    through from the start (one job finds where the picture stops, the next one holds it)
    or from a seek past it, and no segment holds the sound of the ones after it."""
    client, items = server
    session = "corpusheld"
    try:
        (rendition,) = variants(client, items[HELD_PICTURE], session, profile="generic")
        (seeking,) = variants(client, items[SHORT_PICTURE], session, profile="generic")
        assert sum(rendition.durations) == pytest.approx(10.0, abs=0.1)
        late = [n for n, start in enumerate(rendition.starts) if start >= 6.0]
        assert late, rendition.starts
        init = client.get(rendition.init or "").content
        forwards = []
        for url in rendition.segments:
            answer = client.get(url)
            assert answer.status_code == 200, answer.text
            forwards.append(pictures_and_sound(init + answer.content))
        for walked in (forwards, walk_backwards(client, seeking)):
            for index, (pictures, sound, sound_end) in enumerate(walked):
                assert pictures > 0 and sound > 0, (index, walked)
                end = rendition.starts[index] + rendition.durations[index]
                assert sound_end < end + 0.2, (index, walked)
    finally:
        client.post(f"/api/v1/hls/sessions/{session}/stop")


def test_a_segment_that_cannot_be_made_fails_once_and_is_remembered(
    server: tuple[httpx.Client, dict[str, int]],
) -> None:
    """Past the data of a film cut short: a clear error in words, no Retry-After (players
    stop asking), and asking again answers at once without starting another ffmpeg."""
    client, items = server
    session = "corpuscut"
    path = client.get(f"/api/v1/items/{items[CUT_SHORT]}").json()["files"][0]["path"]
    try:
        rendition = variants(client, items[CUT_SHORT], session, profile="generic", vcodec="")[0]
        client.post(f"/api/v1/hls/sessions/{session}/stop")  # the master's job from 0
        last = rendition.segments[-1]
        first = client.get(last)
        assert first.status_code == 500, first.text
        detail = first.json()["detail"]
        assert detail.startswith("the video could not be converted"), detail
        assert " @ 0x" not in detail and path not in detail, detail
        assert "retry-after" not in first.headers
        started = ffmpegs_reading(path)
        assert started >= 1
        for _ in range(5):
            again = client.get(last)
            assert (again.status_code, again.json()["detail"]) == (500, detail)
        assert ffmpegs_reading(path) == started  # no new ffmpeg for the same failure
    finally:
        client.post(f"/api/v1/hls/sessions/{session}/stop")
