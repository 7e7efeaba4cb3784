"""Real-world sources through the streaming engine: every one plays, in the shape it should.

Each clip is made with real encoders (MPEG-2, VP9, AV1, 10-bit HEVC, variable frame rate,
a rotated phone clip, an odd size, several audio tracks, timestamps that start an hour in:
Matroska, and MP4 with an edit list as phones write), scanned by a real server, and played
by ffmpeg as the HLS client through the variant a browser starts with and through a
transcoded rung; the transcoded picture is checked with PyAV (H.264, 8-bit, even size,
upright).
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from mediaserver.streaming.command import TS_OFFSET_S
from mediaserver.testing import make_clip
from tests.integration.conftest import auth_headers
from tests.integration.test_dlna import DIDL, browse, res, titles

pytestmark = pytest.mark.timeout(300)

SMALL = "320x180"
# 360p: big enough that a transcoded rung is offered beside the copied original.
HOUR_LATE = {"seconds": 12, "size": "640x360", "output": {"output_ts_offset": 3600}}
SOURCES: dict[str, tuple[str, dict[str, Any]]] = {
    "Old Broadcast": ("Old Broadcast (2001).mkv", {"vcodec": "mpeg2video"}),
    "Vp Nine": (
        "Vp Nine (2002).webm",
        {"vcodec": "libvpx-vp9", "output": {"deadline": "realtime", "cpu-used": 8}},
    ),
    "Av One": ("Av One (2003).mkv", {"vcodec": "libsvtav1", "output": {"preset": 12}}),
    "Ten Bit": (
        "Ten Bit (2004).mkv",
        {"vcodec": "libx265", "output": {"pix_fmt": "yuv420p10le"}},
    ),
    "Odd Size": ("Odd Size (2005).mp4", {"size": "321x181"}),
    "Many Voices": (
        "Many Voices (2006).mkv",
        {"audio_language": "eng", "extra_audio_languages": ["fre"]},
    ),
    "Late Start": ("Late Start (2007).mkv", HOUR_LATE),
    "Phone Hour": ("Phone Hour (2010).mp4", HOUR_LATE),
}
LATE = ["Late Start", "Phone Hour"]  # 12 s whose own clock starts at 1:00:00
LATE_SECONDS = 12.0


def make_vfr(path: Path, ffmpeg: str) -> Path:
    """3 s at 25 fps then 3 s at 10 fps in one H.264 stream: variable frame rate."""
    graph = (
        f"testsrc2=size={SMALL}:rate=25:duration=3[a];testsrc2=size={SMALL}:rate=10:duration=3[b];"
        "[a][b]concat=n=2:v=1:a=0[v]"
    )
    argv = [ffmpeg, "-v", "error", "-y", "-filter_complex", graph, "-map", "[v]"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-fps_mode", "vfr", str(path)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603
    return path


def make_rotated(path: Path, ffmpeg: str) -> Path:
    """A 320x180 clip whose display matrix says: turn it 90 degrees (a phone held upright)."""
    plain = make_clip(path.with_name("plain-rotated.mp4"), seconds=4, size=SMALL, ffmpeg=ffmpeg)
    with av.open(str(plain)) as source, av.open(str(path), "w") as target:
        mapping = {}
        for stream in source.streams:
            out = target.add_stream_from_template(stream)
            if isinstance(out, av.VideoStream):
                out.set_display_rotation(90)
            mapping[stream.index] = out
        for packet in source.demux():
            if packet.dts is None:
                continue
            packet.stream = mapping[packet.stream.index]
            target.mux(packet)
    plain.unlink()
    return path


def make_sources(movies: Path, ffmpeg: str) -> None:
    """Every source of :data:`ALL` into the folder ``movies``."""
    movies.mkdir(parents=True, exist_ok=True)

    def make(entry: tuple[str, dict[str, Any]]) -> Path:
        name, options = entry
        return make_clip(movies / name, **{"seconds": 4, "size": SMALL, **options}, ffmpeg=ffmpeg)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(make, SOURCES.values()))
    make_vfr(movies / "Vari Rate (2008).mp4", ffmpeg)
    make_rotated(movies / "Phone Clip (2009).mp4", ffmpeg)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> Path:
    root = tmp_path_factory.mktemp("sources") / "Sources"
    make_sources(root / "Movies", ffmpeg_binary)
    return root


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    library: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[tuple[httpx.Client, dict[str, int]]]:
    data_dir = tmp_path_factory.mktemp("sources-data")
    with (
        hearth_server(
            data_dir, [library], streaming={"trickplay": False, "max_transcodes": 2}
        ) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=120) as client,
    ):
        scan_waiter(client)
        body = client.get("/api/v1/items", params={"kind": "movie", "limit": 100}).json()
        found = {item["title"]: item["id"] for item in body["items"]}
        assert set(ALL) <= set(found), (found, client.get("/api/v1/libraries/1/problems").text)
        yield client, found


def variants(client: httpx.Client, item: int, **params: str) -> list[tuple[str, str]]:
    """(NAME, absolute URL) of each variant, in the order listed."""
    response = client.get(
        f"/api/v1/items/{item}/hls/master.m3u8", params={"profile": "chromium", **params}
    )
    assert response.status_code == 200, response.text
    lines = response.text.splitlines()
    found = []
    for info, uri in itertools.pairwise(lines):
        if info.startswith("#EXT-X-STREAM-INF:"):
            name = re.search(r'NAME="([^"]+)"', info)
            assert name is not None
            found.append((name[1], str(client.base_url.join(uri))))
    return found


def transcoded_rung(client: httpx.Client, item: int) -> str:
    """A transcoded rung's URL: asked as a client that decodes no video codec (beside a copied
    original, only rungs smaller than it are offered, and a small clip has none)."""
    return next(url for name, url in variants(client, item, vcodec="") if name != "Original")


def decode(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        ["ffmpeg", "-v", "error", "-xerror", "-i", url, "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def segment_starts(client: httpx.Client, variant_url: str) -> list[float]:
    """Where each segment of a variant starts, added up from its ``EXTINF`` lines."""
    lengths = [
        float(x.split(":", 1)[1].rstrip(","))
        for x in client.get(variant_url).text.splitlines()
        if x.startswith("#EXTINF:")
    ]
    return list(itertools.accumulate(lengths, initial=0.0))[:-1]


def first_picture(client: httpx.Client, variant_url: str, index: int = 0) -> av.VideoFrame:
    """The first picture of segment ``index`` (init segment + that segment, as a player
    that seeks there loads them), with its time on the stream's timeline."""
    playlist = client.get(variant_url).text
    base = variant_url.rsplit("/", 1)[0]
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
    assert init is not None
    segment = [x for x in playlist.splitlines() if x and not x.startswith("#")][index]
    data = client.get(f"{base}/{init[1]}").content + client.get(f"{base}/{segment}").content
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        return next(container.decode(stream))


def hls_timeline(url: str) -> tuple[float, float]:
    """(start, length) of a stream (an HLS playlist, a file) as ffprobe, its client, sees them."""
    done = subprocess.run(  # noqa: S603
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=start_time,duration",
            "-of",
            "json",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    found = json.loads(done.stdout)["format"]
    return float(found["start_time"]), float(found["duration"])


ALL = [*SOURCES, "Vari Rate", "Phone Clip"]


@pytest.mark.parametrize("title", ALL)
def test_every_source_plays_first_variant_and_a_rung(
    server: tuple[httpx.Client, dict[str, int]], title: str
) -> None:
    client, items = server
    listed = variants(client, items[title])
    names = [name for name, _ in listed]
    assert names, f"{title}: no variants"
    first = decode(listed[0][1])
    assert first.returncode == 0, f"{title} {names[0]}: {first.stderr[-500:]}"
    rung = transcoded_rung(client, items[title])
    played = decode(rung)
    assert played.returncode == 0, f"{title} rung: {played.stderr[-500:]}"
    picture = first_picture(client, rung)
    assert picture.format.name == "yuv420p"  # 8-bit 4:2:0 whatever came in
    assert picture.width % 2 == 0 and picture.height % 2 == 0


def test_what_the_browser_cannot_decode_is_transcoded_and_the_rest_is_copied(
    server: tuple[httpx.Client, dict[str, int]],
) -> None:
    client, items = server

    def decision(title: str) -> str:
        answer = client.get(
            f"/api/v1/items/{items[title]}/playback", params={"profile": "chromium"}
        )
        return str(answer.json()["decision"]["mode"])

    assert decision("Old Broadcast") == "transcode"
    assert decision("Ten Bit") == "transcode"  # Chromium here decodes no HEVC
    assert decision("Vp Nine") == "direct"
    assert variants(client, items["Vp Nine"])[0][0] == "Original"  # VP9 copied into fMP4
    assert variants(client, items["Old Broadcast"])[0][0] != "Original"


def test_a_rotated_phone_clip_is_transcoded_upright(
    server: tuple[httpx.Client, dict[str, int]],
) -> None:
    client, items = server
    rung = transcoded_rung(client, items["Phone Clip"])
    picture = first_picture(client, rung)
    assert picture.height > picture.width, (picture.width, picture.height)


@pytest.mark.parametrize("title", LATE)
def test_an_hour_late_clip_streams_from_zero_to_its_length(
    server: tuple[httpx.Client, dict[str, int]], title: str
) -> None:
    """Copied or transcoded, the stream runs 0:00 to 0:12, and the segment a player loads
    to seek to the middle starts where its playlist says, not an hour later."""
    client, items = server
    answer = client.get(f"/api/v1/items/{items[title]}/playback", params={"profile": "chromium"})
    body = answer.json()
    assert body["duration_s"] == pytest.approx(LATE_SECONDS, abs=0.1)
    # Not direct play: Chromium would count that file from 1:00:00.
    assert body["decision"]["mode"] == "remux" and body["direct_url"] is None
    assert "the file's own clock starts at 1:00:00" in body["message"]
    listed = variants(client, items[title])
    assert listed[0][0] == "Original"
    for name, url in [listed[0], next(v for v in listed if v[0] != "Original")]:
        start, length = hls_timeline(url)
        assert start == pytest.approx(0.0, abs=0.2), name
        assert length == pytest.approx(LATE_SECONDS, abs=0.3), name
        # Within a few frames: PyAV shows re-encoded (B-frame) pictures two frames late.
        assert first_picture(client, url).time == pytest.approx(0.0, abs=0.12), name
        starts = segment_starts(client, url)
        middle = max(n for n, at in enumerate(starts) if at <= LATE_SECONDS / 2)
        assert starts[middle] > 0, f"{name}: {starts}"
        picture = first_picture(client, url, middle)
        assert picture.time == pytest.approx(starts[middle], abs=0.12), name


@pytest.mark.parametrize("title", LATE)
def test_progress_in_an_hour_late_clip_counts_from_zero(
    server: tuple[httpx.Client, dict[str, int]], title: str
) -> None:
    client, items = server
    url = f"/api/v1/items/{items[title]}/progress"
    middle = client.post(url, json={"position_s": 6.0, "state": "paused"})
    assert middle.status_code == 200, middle.text
    shown = client.get(f"/api/v1/items/{items[title]}").json()["user_data"]
    assert (shown["position_s"], shown["watched"]) == (6.0, False)  # "Resume from 0:06"
    near_end = client.post(url, json={"position_s": 11.5, "state": "playing"})
    assert near_end.status_code == 200, near_end.text
    assert near_end.json()["user_data"]["watched"] is True


def test_the_chosen_audio_track_is_the_one_streamed(
    server: tuple[httpx.Client, dict[str, int]],
) -> None:
    client, items = server
    item = items["Many Voices"]
    answer = client.get(f"/api/v1/items/{item}/playback", params={"profile": "chromium"}).json()
    tracks = answer["audio_tracks"]
    assert [t["language"] for t in tracks] == ["eng", "fra"]
    french = tracks[1]["index"]
    keys = set()
    for audio in (tracks[0]["index"], french):
        listed = variants(client, item, audio=str(audio))
        assert decode(listed[0][1]).returncode == 0
        keys.add(listed[0][1].split("/api/v1/hls/", 1)[1].split("/", 1)[0])
    assert len(keys) == 2  # another audio track is another stream, not the same bytes
    bad = client.get(f"/api/v1/items/{item}/hls/master.m3u8", params={"audio": "99"})
    assert bad.status_code == 400 and "audio" in bad.text


def test_the_variable_frame_rate_clip_keeps_its_length(
    server: tuple[httpx.Client, dict[str, int]],
) -> None:
    client, items = server
    rung = transcoded_rung(client, items["Vari Rate"])
    playlist = client.get(rung).text
    total = sum(
        Fraction(x.split(":", 1)[1].rstrip(","))
        for x in playlist.splitlines()
        if x.startswith("#EXTINF:")
    )
    assert abs(float(total) - 6.0) < 0.25


def test_a_tv_gets_an_hour_late_clip_as_a_stream_that_seeks_from_zero(
    server: tuple[httpx.Client, dict[str, int]], tmp_path: Path
) -> None:
    """A Samsung opens MP4 itself, but would count this one from 1:00:00: it is offered the
    stream, 12 s long, and a time seek to the middle starts there on the stream's clock."""
    client, _ = server
    movies, _ = browse(client, "movies", agent="DLNADOC/1.50 SEC_HHP_[TV] Samsung/1.0")
    (phone,) = [m for m in movies if titles([m]) == ["Phone Hour"]]
    url, info = res(phone)[0]
    assert "/stream.ts?profile=" in url and ":video/mpeg:" in info, (url, info)
    described = phone.find(f"{DIDL}res")
    assert described is not None and described.get("duration", "").startswith("0:00:12."), (
        described.attrib if described is not None else None
    )
    answer = client.get(url, headers={"TimeSeekRange.dlna.org": "npt=0:00:06.000-"})
    assert answer.status_code == 200, answer.text
    seek = re.fullmatch(
        r"npt=0:00:(\d\d\.\d{3})-0:00:12\.\d{3}/0:00:12\.\d{3}",
        answer.headers["TimeSeekRange.dlna.org"],
    )
    assert seek is not None and 3.0 <= float(seek[1]) <= 6.0, answer.headers
    saved = tmp_path / "from-the-middle.ts"
    saved.write_bytes(answer.content)
    start, length = hls_timeline(str(saved))
    assert start - TS_OFFSET_S == pytest.approx(float(seek[1]), abs=0.2)
    assert length == pytest.approx(LATE_SECONDS - float(seek[1]), abs=0.3)
