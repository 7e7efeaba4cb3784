"""Bad-input case 4, second half: the ffmpeg argv a valid playback request produces is pinned.

Each case goes the way a request does: query parameters -> ``profile_from_query`` ->
``decide`` -> ``StreamingService.plan`` -> ``build_command``, over the probe data of a file
(the transcoder and keyframe index are the only fakes).  The argv is compared, argument by
argument, with ``golden/stream_argv.json``: any added, dropped or changed argument fails,
so a change to what Hearth asks ffmpeg to do is always a reviewed change.  After a
deliberate change, rewrite the golden file with ``HEARTH_UPDATE_GOLDEN=1`` and review the
diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mediaserver.config import StreamingSettings
from mediaserver.ffmpeg_tools import INPUT_GUARD
from mediaserver.streaming.command import Stream, StreamSpec, build_command
from mediaserver.streaming.decision import decide
from mediaserver.streaming.playlists import Segment
from mediaserver.streaming.profiles import profile_from_query
from mediaserver.streaming.service import StreamingService

GOLDEN = Path(__file__).parent / "golden" / "stream_argv.json"
SECRET = b"0" * 32
MEDIA = "/media/Movies/-Odd; Name $(x) (2010)/-Odd; Name $(x) (2010).mkv"


class FakeTranscoder:
    """``register`` as the real one answers it, without a segment cache on disk."""

    def register(self, spec: StreamSpec, segments: Sequence[Segment]) -> Stream:
        return Stream(spec.key(SECRET), spec, tuple(segments))


class FakeKeyframes:
    def __init__(self, times: Sequence[float]) -> None:
        self.times = list(times)

    def get(self, file_id: int) -> list[float]:
        return self.times


def _file(streams: list[dict[str, Any]], *, container: str, duration_s: float) -> dict[str, Any]:
    return {
        "id": 7,
        "path": MEDIA,
        "size": 123_456_789,
        "mtime_ns": 1_700_000_000_000_000_000,
        "duration_s": duration_s,
        "container": container,
        "bit_rate": 8_000_000,
        "streams": streams,
    }


def _video(codec: str, width: int, height: int, **extra: Any) -> dict[str, Any]:
    return {
        "idx": 0,
        "type": "video",
        "codec": codec,
        "width": width,
        "height": height,
        "frame_rate": 23.976,
        "bit_depth": 8,
        "profile": "High",
        "level": 40,
        "field_order": "progressive",
        **extra,
    }


def _audio(idx: int, codec: str, channels: int, **extra: Any) -> dict[str, Any]:
    return {"idx": idx, "type": "audio", "codec": codec, "channels": channels, **extra}


@dataclass(frozen=True)
class Case:
    query: dict[str, str]
    file: dict[str, Any]
    rendition: str  # which planned stream: "Original" or a rung's name ("720p")
    start: int  # the job's first segment (a seek when > 0)
    end: int | None  # exclusive; None: to the end
    mode: str  # the decision it must be


CASES: dict[str, Case] = {
    # A browser that opens H.264 but not Matroska: the video is copied into fMP4.
    "remux_fmp4": Case(
        {"profile": "firefox"},
        _file(
            [
                _video("h264", 1920, 1080),
                _audio(1, "aac", 2, is_default=True),
                _audio(2, "ac3", 6),
            ],
            container="mkv",
            duration_s=30.0,
        ),
        "Original",
        0,
        None,
        "remux",
    ),
    # HEVC 10-bit 4K with 5.1 AC-3 for a client that decodes H.264 only, at most 720p,
    # started by a seek to the fourth segment: the 720p rung, stereo AAC.
    "transcode_720p_h264": Case(
        {"profile": "generic", "vcodec": "h264", "acodec": "aac", "max_height": "720"},
        _file(
            [
                _video("hevc", 3840, 2160, bit_depth=10, profile="Main 10", level=153),
                _audio(1, "ac3", 6),
            ],
            container="mkv",
            duration_s=30.0,
        ),
        "720p",
        3,
        None,
        "transcode",
    ),
    # An old TV (MPEG-TS, 1080p) asking for a picture subtitle on interlaced video: burned
    # in, deinterlaced, cut by the segment muxer into the job folder.
    "ts_subtitle_burn_in": Case(
        {"profile": "tv-legacy", "subtitle": "3"},
        _file(
            [
                _video("h264", 1920, 1080, field_order="tt", frame_rate=25.0),
                _audio(1, "aac", 2),
                _audio(2, "aac", 6),
                {"idx": 3, "type": "subtitle", "codec": "hdmv_pgs_subtitle", "language": "eng"},
            ],
            container="ts",
            duration_s=30.0,
        ),
        "1080p",
        0,
        5,
        "transcode",
    ),
}


def argv_for(case: Case, job_dir: Path) -> list[str]:
    """The argv of the job ``case`` starts, with the job folder written as ``<job>``."""
    query = dict(case.query)
    subtitle = query.pop("subtitle", None)
    client = profile_from_query(query)
    file = case.file
    decision = decide(
        file["container"],
        file["streams"],
        client,
        subtitle_index=int(subtitle) if subtitle is not None else None,
    )
    assert decision.mode == case.mode, decision.reasons
    service = StreamingService(
        StreamingSettings(segment_seconds=4.0, preset="veryfast"),
        FakeTranscoder(),  # type: ignore[arg-type]
        FakeKeyframes([0.0, 4.004, 8.008, 12.012, 16.016, 20.02, 24.024, 28.028]),  # type: ignore[arg-type]
        SECRET,
    )
    plan = service.plan(file, decision, client)
    by_name = {variant.name: stream for stream, variant in plan.streams}
    stream = by_name[case.rendition]
    end = len(stream.segments) if case.end is None else case.end
    argv = build_command(
        "ffmpeg", stream.spec, stream.segments, case.start, end, job_dir / "stream" / "job-1"
    )
    prefix = str(job_dir / "stream" / "job-1")
    return [arg.replace(prefix, "<job>") for arg in argv]


def _golden() -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Mapping[str, list[str]]:
    job_dir = tmp_path_factory.mktemp("jobs")
    made = {name: argv_for(case, job_dir) for name, case in CASES.items()}
    if os.environ.get("HEARTH_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(made, indent=2) + "\n", encoding="utf-8")
    return made


def test_the_golden_file_has_exactly_the_cases() -> None:
    assert sorted(_golden()) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_argv_matches_the_golden_list(name: str, produced: Mapping[str, list[str]]) -> None:
    expected = _golden()[name]
    argv = produced[name]
    # Argument by argument first: the failure names the first one that moved.
    for n, (got, want) in enumerate(zip(argv, expected, strict=False)):
        assert got == want, f"{name}: argument {n} is {got!r}, the golden list has {want!r}"
    assert argv == expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_input_is_one_guarded_file_url(name: str, produced: Mapping[str, list[str]]) -> None:
    """Independent of the golden file: guards before the only ``-i``, the path one argument."""
    argv = produced[name]
    assert argv.count("-i") == 1
    i = argv.index("-i")
    assert argv[i + 1] == "file:" + MEDIA
    for option, value in INPUT_GUARD.items():
        at = argv.index(f"-{option}")
        assert at < i and argv[at + 1] == value
    assert "hls" not in argv[argv.index("-format_whitelist") + 1].split(",")
    assert "concat" not in argv[argv.index("-format_whitelist") + 1].split(",")
    # The media path appears once, as the input, never split or as an option of its own.
    assert [a for a in argv if MEDIA in a] == ["file:" + MEDIA]


def test_a_different_request_gives_a_different_argv(tmp_path: Path) -> None:
    """The comparison can fail: another rung of the same request is not the golden 720p."""
    case = CASES["transcode_720p_h264"]
    other = Case({**case.query, "max_height": "480"}, case.file, "480p", 3, None, "transcode")
    assert argv_for(other, tmp_path) != _golden()["transcode_720p_h264"]
