"""The ffmpeg argv the job manager builds: what each kind of stream asks ffmpeg to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mediaserver.streaming.command import TS_OFFSET_S, StreamSpec, build_command, seek_point
from mediaserver.streaming.playlists import lead_in_segments, remux_segments

BASE: dict[str, Any] = {
    "file_id": 1,
    "path": "/media/-odd name; $(x).mkv",
    "size": 1,
    "mtime_ns": 1,
    "duration_s": 60.0,
    "video_index": 0,
    "video_codec": "h264",
    "audio_index": 1,
}
RUNG: dict[str, Any] = {
    "width": 1280,
    "height": 720,
    "video_kbps": 3000,
    "max_video_kbps": 4500,
    "level": 31,
}


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_a_transcode_forces_keyframes_at_the_boundaries_after_its_start() -> None:
    spec = StreamSpec(copy_video=False, **BASE, **RUNG)
    segments = lead_in_segments(60.0, 3.0)
    argv = build_command("ffmpeg", spec, segments, 4, len(segments), Path("/tmp"))
    start = segments[4].start_s
    assert option(argv, "-ss") == f"{start:.6f}"
    cuts = [float(x) for x in option(argv, "-force_key_frames").split(",")]
    assert cuts == [round(s.start_s - start, 3) for s in segments[5:]]
    assert option(argv, "-sc_threshold") == "0"
    # The file is an argument of its own, as a file: URL: no shell, no option injection.
    assert option(argv, "-i") == "file:/media/-odd name; $(x).mkv"
    assert option(argv, "-f") == "mp4" and "pipe:1" in argv


def test_picture_subtitles_are_overlaid_and_interlaced_video_deinterlaced() -> None:
    spec = StreamSpec(copy_video=False, burn_subtitle=3, deinterlace=True, **BASE, **RUNG)
    segments = lead_in_segments(60.0, 3.0)
    graph = option(build_command("ffmpeg", spec, segments, 0, 5, Path("/tmp")), "-filter_complex")
    assert "[0:0][0:3]overlay=eof_action=pass" in graph
    assert graph.index("overlay") < graph.index("yadif") < graph.index("scale")
    assert "-ss" not in build_command("ffmpeg", spec, segments, 0, 5, Path("/tmp"))


def test_a_remux_copies_and_seeks_a_little_past_its_keyframe() -> None:
    keyframes = [0.0, 4.0, 8.0, 12.0, 16.0]
    segments = remux_segments(keyframes, 20.0, 3.0)
    spec = StreamSpec(copy_video=True, **{**BASE, "video_codec": "hevc"})
    argv = build_command("ffmpeg", spec, segments, 2, len(segments), Path("/tmp"))
    assert option(argv, "-c:v") == "copy" and option(argv, "-tag:v") == "hvc1"
    assert "-force_key_frames" not in argv
    point = seek_point(spec, segments, 2)
    assert 8.0 < point <= 8.25 and option(argv, "-ss") == f"{point:.6f}"


def test_mpeg_ts_cuts_at_absolute_times_on_the_shared_timeline() -> None:
    spec = StreamSpec(copy_video=False, segment_format="ts", **BASE, **RUNG)
    segments = lead_in_segments(60.0, 3.0)
    argv = build_command("ffmpeg", spec, segments, 3, 8, Path("/work"))
    times = [float(x) for x in option(argv, "-segment_times").split(",")]
    assert times == [round(s.start_s + TS_OFFSET_S, 3) for s in segments[4:8]]
    assert option(argv, "-segment_start_number") == "3"
    assert float(option(argv, "-output_ts_offset")) == segments[3].start_s + TS_OFFSET_S
    assert "/work/%d.ts" in argv
