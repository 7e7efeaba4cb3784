"""The HLS engine's small parts: stream tokens, the segment cache, and the fMP4 box helpers
(on a fragmented MP4 that the real ffmpeg writes the way the transcoder asks it to)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
from pathlib import Path

import av
import pytest

from mediaserver.streaming import fmp4, tokens
from mediaserver.streaming.segment_cache import SegmentCache

KEY_A = "a" * 24
KEY_B = "b" * 24
SECRET = b"s" * 32

# -- tokens -------------------------------------------------------------------------------------


def test_a_signed_token_verifies_for_its_scope_until_it_expires() -> None:
    token = tokens.sign(SECRET, KEY_A, 60, now=1_000_000)
    tokens.verify(SECRET, KEY_A, token, now=1_000_000)
    tokens.verify(SECRET, KEY_A, token, now=1_000_060)  # the last second still counts
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(SECRET, KEY_A, token, now=1_000_061)


def test_a_negative_ttl_makes_an_expired_token() -> None:
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(SECRET, KEY_A, tokens.sign(SECRET, KEY_A, -1))


def test_a_token_is_useless_for_another_stream_or_secret() -> None:
    token = tokens.sign(SECRET, KEY_A, 60)
    with pytest.raises(tokens.TokenError, match="not valid"):
        tokens.verify(SECRET, KEY_B, token)
    with pytest.raises(tokens.TokenError, match="not valid"):
        tokens.verify(b"t" * 32, KEY_A, token)


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "abc",
        "123",
        "123.",
        ".abc",
        "-5.abc",
        "1e9.abc",
        "9" * 13 + ".abc",
        "12 .abc",
        "9999999999.é",
        "9999999999.\udc80",
        "١٢٣.abc",
    ],  # other scripts: refused, never a 500
)
def test_missing_and_malformed_tokens_are_refused(token: str | None) -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify(SECRET, KEY_A, token)


def test_a_tampered_token_is_refused() -> None:
    token = tokens.sign(SECRET, KEY_A, 60, now=1_000_000)
    expiry, signature = token.split(".")
    later = f"{int(expiry) + 3600}.{signature}"  # a longer life, same signature
    flipped = f"{expiry}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    for forged in (later, flipped, token + "x", token[:-1]):
        with pytest.raises(tokens.TokenError, match="not valid"):
            tokens.verify(SECRET, KEY_A, forged, now=1_000_000)


def test_the_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = tokens.load_secret(tmp_path / "data")
    assert len(first) == 32
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o777 == 0o600
    assert tokens.load_secret(tmp_path / "data") == first
    (tmp_path / "data" / "secret.key").write_bytes(b"short")  # damaged: made again
    assert tokens.load_secret(tmp_path / "data") != first


# -- the segment cache ----------------------------------------------------------------------------


def make_cache(root: Path, max_bytes: int) -> SegmentCache:
    cache = SegmentCache(root, max_bytes)
    cache.open()
    for key in (KEY_A, KEY_B):
        cache.stream_dir(key).mkdir(exist_ok=True)
    return cache


def on_disk(cache: SegmentCache, key: str) -> list[str]:
    folder = cache.stream_dir(key)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_put_then_lookup_finds_the_segment(tmp_path: Path) -> None:
    cache = make_cache(tmp_path / "hls", 1000)
    assert cache.lookup(KEY_A, 0) is None
    path = cache.put(KEY_A, 0, "m4s", b"x" * 10)
    assert cache.lookup(KEY_A, 0) == path == cache.stream_dir(KEY_A) / "0.m4s"
    assert path.read_bytes() == b"x" * 10
    assert cache.total_bytes == 10
    assert (cache.hits, cache.misses) == (1, 1)
    assert not list(cache.stream_dir(KEY_A).glob("*.tmp"))
    cache.put(KEY_A, 0, "m4s", b"y" * 4)  # made again: counted once
    assert cache.total_bytes == 4


def test_eviction_takes_the_least_recently_used_first(tmp_path: Path) -> None:
    cache = make_cache(tmp_path / "hls", 300)
    for index in range(3):
        cache.put(KEY_A, index, "m4s", b"x" * 100)
    assert cache.lookup(KEY_A, 0) is not None  # 0 is now the most recently used
    cache.put(KEY_B, 0, "ts", b"y" * 100)
    assert on_disk(cache, KEY_A) == ["0.m4s", "2.m4s"]  # 1 was the least recently used
    cache.put(KEY_B, 1, "ts", b"y" * 100)
    assert on_disk(cache, KEY_A) == ["0.m4s"]
    assert cache.total_bytes == 300
    assert cache.lookup(KEY_A, 1) is None and cache.lookup(KEY_A, 2) is None


def test_eviction_skips_protected_segments(tmp_path: Path) -> None:
    cache = make_cache(tmp_path / "hls", 200)
    cache.protected = lambda key, index: key == KEY_A and index in (0, 1)
    for index in range(3):
        cache.put(KEY_A, index, "m4s", b"x" * 100)
    assert on_disk(cache, KEY_A) == ["0.m4s", "1.m4s"]  # 2 went though it is newer
    cache.put(KEY_A, 3, "m4s", b"x" * 100)
    assert on_disk(cache, KEY_A) == ["0.m4s", "1.m4s"]
    cache.protected = lambda key, index: False
    assert cache.evict() == 0  # within quota once 3 went
    assert cache.total_bytes == 200


def test_only_protected_segments_may_go_over_the_quota(tmp_path: Path) -> None:
    cache = make_cache(tmp_path / "hls", 100)
    cache.protected = lambda key, index: True
    for index in range(3):
        cache.put(KEY_A, index, "m4s", b"x" * 100)
    assert cache.total_bytes == 300  # nothing may go: a live viewer needs all of them
    cache.protected = lambda key, index: False
    assert cache.evict() == 200
    assert on_disk(cache, KEY_A) == ["2.m4s"]


def test_a_stream_whose_last_segment_goes_is_removed_unless_in_use(tmp_path: Path) -> None:
    cache = make_cache(tmp_path / "hls", 100)
    for key in (KEY_A, KEY_B):
        (cache.stream_dir(key) / "init.mp4").write_bytes(b"init")
        (cache.stream_dir(key) / "stream.json").write_text("{}")
    cache.in_use = lambda key: key == KEY_B
    cache.put(KEY_A, 0, "m4s", b"x" * 100)
    cache.put(KEY_B, 0, "m4s", b"x" * 100)  # evicts A's only segment: A's folder goes
    assert not cache.stream_dir(KEY_A).exists()
    cache.put(KEY_B, 1, "m4s", b"x" * 100)  # evicts B's segment 0, but B's job still writes
    assert on_disk(cache, KEY_B) == ["1.m4s", "init.mp4", "stream.json"]
    cache.in_use = lambda key: False
    cache.stream_dir(KEY_A).mkdir()
    cache.put(KEY_A, 0, "m4s", b"x" * 100)  # B's last segment goes, and B with it
    assert not cache.stream_dir(KEY_B).exists()
    assert cache.total_bytes == 100


def test_open_adopts_finished_segments_and_clears_half_written_ones(tmp_path: Path) -> None:
    root = tmp_path / "hls"
    a, b = root / KEY_A, root / KEY_B
    for folder in (a, b):
        folder.mkdir(parents=True)
    (a / "0.m4s").write_bytes(b"x" * 10)
    (a / "1.m4s").write_bytes(b"x" * 20)
    (a / "init.mp4").write_bytes(b"init")
    (a / "stream.json").write_text("{}")
    (a / "2.m4s.tmp").write_bytes(b"half")
    (a / "job-7").mkdir()
    (a / "job-7" / "3.ts").write_bytes(b"ts")
    (b / "0.ts").write_bytes(b"y" * 30)
    (root / "job-3").mkdir()  # strays of a crashed run at the top
    (root / "not-a-key").mkdir()
    (root / "stray.tmp").write_bytes(b"?")
    # The oldest segment is the least recently used after a restart.
    os.utime(b / "0.ts", (1_000, 1_000))
    os.utime(a / "0.m4s", (2_000, 2_000))
    os.utime(a / "1.m4s", (3_000, 3_000))
    cache = SegmentCache(root, 1000)
    cache.open()
    assert sorted(p.name for p in root.iterdir()) == [KEY_A, KEY_B]
    assert sorted(p.name for p in a.iterdir()) == ["0.m4s", "1.m4s", "init.mp4", "stream.json"]
    assert cache.total_bytes == 60
    assert cache.lookup(KEY_A, 1) == a / "1.m4s"
    assert cache.lookup(KEY_B, 0) == b / "0.ts"
    assert cache.lookup(KEY_A, 2) is None
    cache.max_bytes = 50
    cache.evict()  # LRU: B/0 was touched last, A/0 (older than A/1) goes
    assert cache.lookup(KEY_A, 0) is None and cache.lookup(KEY_A, 1) is not None


def test_open_evicts_down_to_a_smaller_quota(tmp_path: Path) -> None:
    root = tmp_path / "hls" / KEY_A
    root.mkdir(parents=True)
    for index in range(5):
        (root / f"{index}.m4s").write_bytes(b"x" * 100)
        os.utime(root / f"{index}.m4s", (1_000 + index, 1_000 + index))
    cache = SegmentCache(tmp_path / "hls", 250)
    cache.open()
    assert sorted(p.name for p in root.iterdir()) == ["3.m4s", "4.m4s"]
    assert cache.total_bytes == 200


@pytest.mark.parametrize("key", ["../etc", "A" * 24, "a" * 23, "a" * 25, "g" * 24])
def test_stream_dir_refuses_anything_but_a_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(AssertionError):
        SegmentCache(tmp_path, 10).stream_dir(key)


# -- fMP4 ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fragmented(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> bytes:
    """Two seconds of H.264 + AAC as the transcoder has ffmpeg write them (a keyframe a second)."""
    out = tmp_path_factory.mktemp("fmp4") / "out.mp4"
    argv = [
        ffmpeg_binary,
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x180:rate=25:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "25",
        "-c:a",
        "aac",
        "-avoid_negative_ts",
        "disabled",
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets",
        "-f",
        "mp4",
        "-y",
        str(out),
    ]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603
    return out.read_bytes()


def split(data: bytes) -> tuple[bytes, list[fmp4.Box]]:
    boxes = list(fmp4.iter_boxes(data))
    init = b"".join(data[b.start : b.end] for b in boxes if b.kind in ("ftyp", "moov"))
    return init, [b for b in boxes if b.kind == "moof"]


def tfdts(data: bytes | bytearray, moof: fmp4.Box) -> dict[int, int]:
    """Track id -> tfdt of each traf in ``moof`` (parsed here, independently of fmp4.py)."""
    found = {}
    for traf in fmp4.iter_boxes(data, moof.body, moof.end):
        if traf.kind != "traf":
            continue
        children = {b.kind: b for b in fmp4.iter_boxes(data, traf.body, traf.end)}
        (track_id,) = struct.unpack_from(">I", data, children["tfhd"].body + 4)
        tfdt = children["tfdt"]
        wide = data[tfdt.body] == 1
        (value,) = struct.unpack_from(">Q" if wide else ">I", data, tfdt.body + 4)
        found[track_id] = value
    return found


def test_iter_boxes_walks_the_top_level_and_stops_at_a_partial_box(fragmented: bytes) -> None:
    kinds = [b.kind for b in fmp4.iter_boxes(fragmented)]
    assert kinds[:2] == ["ftyp", "moov"]
    assert kinds.count("moof") == kinds.count("mdat") >= 2
    whole = list(fmp4.iter_boxes(fragmented))
    assert whole[-1].end == len(fragmented)
    cut = list(fmp4.iter_boxes(fragmented[: whole[-1].start + 20]))
    assert cut == whole[:-1]  # the incomplete last box is not yielded


def test_read_tracks_gives_timescales_and_handlers(fragmented: bytes) -> None:
    init, _ = split(fragmented)
    tracks = fmp4.read_tracks(init)
    with av.open(io.BytesIO(fragmented), mode="r") as container:
        expected = {
            s.index + 1: (s.time_base.denominator if s.time_base else 0, s.type)
            for s in container.streams
        }
    handlers = {"video": "vide", "audio": "soun"}
    assert {t.track_id: (t.timescale, t.handler) for t in tracks.values()} == {
        track: (scale, handlers[kind]) for track, (scale, kind) in expected.items()
    }
    assert tracks[2].timescale == 48_000


def first_pts(data: bytes) -> float:
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        first = next(p for p in container.demux(stream) if p.pts is not None)
        assert first.pts is not None
        return float(first.pts * stream.time_base)


def test_fragment_time_is_the_first_presentation_time(fragmented: bytes) -> None:
    init, moofs = split(fragmented)
    tracks = fmp4.read_tracks(init)
    video = next(t for t in tracks.values() if t.handler == "vide")
    audio = next(t for t in tracks.values() if t.handler == "soun")
    # One fragment per keyframe, one a second.  With negative composition offsets the first
    # picture's offset is 0: its time is its decode time (libavformat's demuxer would add
    # the B-frame delay, which is why this is not compared with PyAV's pts).
    times = [fmp4.fragment_time(fragmented, m, video) for m in moofs]
    assert times == [0.0, 1.0]
    assert [tfdts(fragmented, m)[video.track_id] / video.timescale for m in moofs] == times
    assert fmp4.fragment_time(fragmented, moofs[0], audio) == 0.0
    assert fmp4.fragment_time(fragmented, moofs[0], fmp4.Track(99, 1000, "vide")) is None


def test_fragment_end_is_where_the_next_fragment_starts(fragmented: bytes) -> None:
    init, moofs = split(fragmented)
    video = next(t for t in fmp4.read_tracks(init).values() if t.handler == "vide")
    ends = [fmp4.fragment_end(fragmented, m, video) for m in moofs]
    # 25 frames of 1/25 s each: the first ends where the second begins, the last at 2 s.
    assert ends == [1.0, 2.0]
    assert fmp4.fragment_end(fragmented, moofs[0], fmp4.Track(99, 1000, "vide")) is None


@pytest.mark.parametrize("seconds", [0.0, 2.5, 3601.37, 1 / 3])
def test_shift_fragment_moves_every_tfdt_by_the_exact_ticks(
    fragmented: bytes, seconds: float
) -> None:
    init, moofs = split(fragmented)
    tracks = fmp4.read_tracks(init)
    for moof in moofs:
        data = bytearray(fragmented[moof.start : moof.end])
        local = fmp4.Box("moof", 0, moof.header, moof.size)
        before = tfdts(data, local)
        fmp4.shift_fragment(data, local, tracks, seconds)
        after = tfdts(data, local)
        assert set(after) == set(before) == set(tracks)
        for track_id, value in after.items():
            assert value - before[track_id] == round(seconds * tracks[track_id].timescale)
        assert len(data) == moof.size  # in place: nothing else moved


def test_a_shifted_stream_still_plays_at_the_new_time(fragmented: bytes) -> None:
    init, moofs = split(fragmented)
    tracks = fmp4.read_tracks(init)
    shifted = bytearray(fragmented)
    for moof in moofs:
        fmp4.shift_fragment(shifted, moof, tracks, 10.0)
    assert first_pts(bytes(shifted)) == pytest.approx(first_pts(fragmented) + 10.0)


def version0_moof(tfdt: int) -> bytearray:
    """A minimal moof with one traf whose tfdt is 32 bits (version 0)."""
    tfhd = struct.pack(">I4sII", 16, b"tfhd", 0, 1)
    tfdt_box = struct.pack(">I4sII", 16, b"tfdt", 0, tfdt)
    traf = struct.pack(">I4s", 8 + len(tfhd) + len(tfdt_box), b"traf") + tfhd + tfdt_box
    return bytearray(struct.pack(">I4s", 8 + len(traf), b"moof") + traf)


def test_a_32_bit_tfdt_is_shifted_in_place_or_refused_when_it_overflows() -> None:
    tracks = {1: fmp4.Track(1, 90_000, "vide")}
    data = version0_moof(1000)
    box = next(fmp4.iter_boxes(data))
    fmp4.shift_fragment(data, box, tracks, 1.0)
    assert tfdts(data, box) == {1: 91_000}
    with pytest.raises(ValueError, match="32-bit"):
        fmp4.shift_fragment(data, box, tracks, 2**32 / 90_000)
