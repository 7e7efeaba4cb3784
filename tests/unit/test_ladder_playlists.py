"""The bitrate ladder and the HLS playlists, checked by value and by a real HLS client (ffmpeg)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import ffmpeg
import pytest

from mediaserver.streaming.ladder import build_ladder
from mediaserver.streaming.playlists import (
    Rendition,
    Variant,
    master_playlist,
    remux_segments,
    timed_segments,
    variant_playlist,
)
from mediaserver.streaming.service import smaller_than_original


def test_beside_the_original_only_smaller_rungs_are_offered() -> None:
    """Auto (hls.js takes the richest level that fits) once chose a 360p transcode of a
    360p file over the file itself: a rung beside the original must be smaller."""
    video = {"width": 640, "height": 360, "frame_rate": 25}
    rungs = build_ladder(video)
    assert [r.name for r in rungs] == ["360p", "240p"]
    # A low-bitrate 360p file (500 kb/s): both rungs would cost as many bits or more.
    assert smaller_than_original(rungs, video, 500_000) == []
    # At 1.2 Mb/s the 240p rung (528 kb/s) is smaller; 360p (928 kb/s) is not half.
    assert [r.name for r in smaller_than_original(rungs, video, 1_200_000)] == ["240p"]
    # A 1080p disc copy at 30 Mb/s: the same height at 6 Mb/s is worth offering.
    big = {"width": 1920, "height": 1080, "frame_rate": 24}
    kept = smaller_than_original(build_ladder(big), big, 30_000_000)
    assert [r.name for r in kept] == ["1080p", "720p", "480p", "360p", "240p"]
    offered = smaller_than_original(build_ladder(big), big, 8_000_000)
    assert [r.name for r in offered] == ["720p", "480p", "360p", "240p"]


def test_ladder_stays_at_or_below_the_source_and_keeps_its_shape() -> None:
    rungs = build_ladder({"width": 1920, "height": 1080, "frame_rate": 23.976})
    assert [r.name for r in rungs] == ["1080p", "720p", "480p", "360p", "240p"]
    assert [(r.width, r.height) for r in rungs] == [
        (1920, 1080),
        (1280, 720),
        (854, 480),
        (640, 360),
        (426, 240),
    ]
    top = rungs[0]
    assert (top.video_kbps, top.max_video_kbps, top.frame_rate) == (6000, 9000, 23.976)
    assert top.bandwidth == (9000 + 128) * 1000 and top.average_bandwidth == (6000 + 128) * 1000
    assert top.codecs == "avc1.640028,mp4a.40.2"  # High, level 4.0


def test_ladder_odd_sizes_high_frame_rates_and_client_limits() -> None:
    odd = build_ladder({"width": 1437, "height": 799, "frame_rate": 60})
    assert odd[0].name == "720p" and odd[0].width % 2 == 0 and odd[0].height == 720
    assert odd[0].video_kbps == 4500 and odd[0].codecs.startswith(
        "avc1.640020"
    )  # 60 fps: level 3.2
    capped = build_ladder({"width": 3840, "height": 2160}, max_height=720)
    assert [r.name for r in capped] == ["720p", "480p", "360p", "240p"]
    tiny = build_ladder({"width": 175, "height": 143})
    assert [(r.width, r.height) for r in tiny] == [(176, 144)]
    portrait = build_ladder({"width": 1080, "height": 1920})  # a phone video, upright
    assert [(r.name, r.width, r.height) for r in portrait[:2]] == [
        ("1080p", 1080, 1920),
        ("720p", 720, 1280),
    ]
    assert build_ladder({"width": 0, "height": 0}) == []


def test_timed_segments_cover_the_duration_exactly() -> None:
    segments = timed_segments(10.5, 4.0)
    assert [(s.index, s.start_s, s.duration_s) for s in segments] == [
        (0, 0.0, 4.0),
        (1, 4.0, 4.0),
        (2, 8.0, 2.5),
    ]
    assert len(timed_segments(8.0, 4.0)) == 2  # no empty third segment
    assert timed_segments(0, 4.0) == []


def test_remux_segments_start_on_keyframes() -> None:
    keyframes = [0.0, 2.0, 4.0, 8.3, 16.6, 17.0, 24.9]
    segments = remux_segments(keyframes, 30.0, 6.0)
    assert [(s.start_s, round(s.duration_s, 6)) for s in segments] == [
        (0.0, 8.3),  # 2.0 and 4.0 are too close: the first cut at or after 6 s is 8.3
        (8.3, 8.3),
        (16.6, 8.3),
        (24.9, 5.1),
    ]
    assert sum(s.duration_s for s in segments) == pytest.approx(30.0)
    late = remux_segments([1.5, 9.0], 12.0, 4.0)  # no keyframe at 0 in the index
    assert [s.start_s for s in late] == [0.0, 9.0]


def test_playlists_text() -> None:
    media = variant_playlist(
        timed_segments(9.0, 4.0), lambda n: f"seg/{n}.m4s?t=x", init_uri="init.mp4"
    )
    assert media.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:4",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MAP:URI="init.mp4"',
        "#EXTINF:4.000000,",
        "seg/0.m4s?t=x",
        "#EXTINF:4.000000,",
        "seg/1.m4s?t=x",
        "#EXTINF:1.000000,",
        "seg/2.m4s?t=x",
        "#EXT-X-ENDLIST",
    ]
    rung = build_ladder({"width": 1280, "height": 720, "frame_rate": 25})[0]
    master = master_playlist(
        [
            Variant(
                "480p.m3u8", 2_000_000, 1_500_000, "avc1.64001e,mp4a.40.2", (854, 480), 25.0, "480p"
            ),
            Variant(
                "720p.m3u8",
                rung.bandwidth,
                rung.average_bandwidth,
                rung.codecs,
                (rung.width, rung.height),
                rung.frame_rate,
                rung.name,
            ),
        ],
        [Rendition("subs/2.m3u8", {"NAME": "English", "LANGUAGE": "en", "DEFAULT": "NO"})],
    )
    lines = master.splitlines()
    assert lines[3] == (
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,'
        'URI="subs/2.m3u8"'
    )
    assert lines[6] == (
        f"#EXT-X-STREAM-INF:BANDWIDTH={rung.bandwidth},AVERAGE-BANDWIDTH={rung.average_bandwidth},"
        f'CODECS="{rung.codecs}",RESOLUTION=1280x720,FRAME-RATE=25.000,NAME="720p",SUBTITLES="subs"'
    )
    # The order given is kept: players start with the first variant, the one being prepared.
    assert lines[5] == "480p.m3u8" and lines[7] == "720p.m3u8"


def test_a_real_hls_client_plays_our_variant_playlist(tmp_path: Path, ffmpeg_binary: str) -> None:
    """ffmpeg as the HLS client: our playlist over MPEG-TS segments cut at forced keyframes."""
    source = ffmpeg.input("testsrc2=size=320x180:rate=25", f="lavfi", t=9)
    segment_args = {
        "vcodec": "libx264",
        "preset": "ultrafast",
        "force_key_frames": "expr:gte(t,n_forced*4)",
        "f": "hls",
        "hls_time": 4,
        "hls_playlist_type": "vod",
        "hls_segment_filename": str(tmp_path / "%d.ts"),
    }
    cut = ffmpeg.output(source, str(tmp_path / "theirs.m3u8"), **segment_args).global_args(
        "-hide_banner", "-loglevel", "error", "-nostdin"
    )
    subprocess.run(cut.compile(cmd=ffmpeg_binary), check=True, capture_output=True, timeout=60)  # noqa: S603
    assert sorted(p.name for p in tmp_path.glob("*.ts")) == ["0.ts", "1.ts", "2.ts"]
    playlist = tmp_path / "media.m3u8"
    playlist.write_text(
        variant_playlist(timed_segments(9.0, 4.0), lambda n: f"{n}.ts", init_uri=None)
    )
    read = (
        ffmpeg.input(str(playlist), protocol_whitelist="file", allowed_extensions="ALL")
        .output("-", f="null")
        .global_args("-hide_banner", "-v", "error", "-nostdin", "-xerror")
        .compile(cmd=ffmpeg_binary)
    )
    done = subprocess.run(read, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert done.returncode == 0 and done.stderr == "", done.stderr
    frames = subprocess.run(  # noqa: S603
        [
            ffmpeg_binary,
            "-hide_banner",
            "-nostdin",
            "-protocol_whitelist",
            "file",
            "-allowed_extensions",
            "ALL",
            "-i",
            str(playlist),
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stderr
    assert "frame=  225" in frames or "frame=225" in frames.replace(" ", ""), frames[-300:]
