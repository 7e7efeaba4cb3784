"""The playback decision for a matrix of sources and clients, and capability parsing."""

from __future__ import annotations

from typing import Any

import pytest

from mediaserver.streaming.decision import decide
from mediaserver.streaming.profiles import PROFILES, CapabilityError, profile_from_query


def _video(
    codec: str, *, height: int = 1080, bit_depth: int = 8, profile: str = "High"
) -> dict[str, Any]:
    return {
        "idx": 0,
        "type": "video",
        "codec": codec,
        "height": height,
        "width": height * 16 // 9,
        "bit_depth": bit_depth,
        "profile": profile,
    }


def _audio(codec: str, idx: int = 1, *, channels: int = 2, default: bool = False) -> dict[str, Any]:
    return {
        "idx": idx,
        "type": "audio",
        "codec": codec,
        "channels": channels,
        "is_default": default,
    }


H264_AAC = [_video("h264"), _audio("aac")]
HEVC10_AAC = [_video("hevc", bit_depth=10, profile="Main 10"), _audio("aac")]
H264_AC3_51 = [_video("h264"), _audio("ac3", channels=6)]
VP9_OPUS = [_video("vp9", profile="Profile 0"), _audio("opus")]
MPEG2_AC3 = [_video("mpeg2video", height=576, profile="Main"), _audio("ac3")]


@pytest.mark.parametrize(
    ("container", "streams", "client", "mode", "video", "audio"),
    [
        ("mp4", H264_AAC, "chromium", "direct", "copy", "copy"),
        ("mkv", H264_AAC, "chromium", "direct", "copy", "copy"),  # Chromium 156 opens Matroska
        ("mkv", H264_AAC, "firefox", "remux", "copy", "copy"),
        ("mkv", HEVC10_AAC, "chromium", "transcode", "transcode", "copy"),
        ("mkv", HEVC10_AAC, "safari", "remux", "copy", "copy"),
        ("mp4", HEVC10_AAC, "safari", "direct", "copy", "copy"),
        ("mp4", H264_AC3_51, "chromium", "remux", "copy", "transcode"),
        ("mp4", H264_AC3_51, "safari", "direct", "copy", "copy"),
        ("webm", VP9_OPUS, "chromium", "direct", "copy", "copy"),
        ("webm", VP9_OPUS, "safari", "transcode", "transcode", "transcode"),
        ("ts", MPEG2_AC3, "tv-samsung", "direct", "copy", "copy"),
        ("ts", MPEG2_AC3, "chromium", "transcode", "transcode", "transcode"),
        ("mp4", H264_AAC, "tv-legacy", "remux", "copy", "copy"),  # MP4 in, MPEG-TS out
        ("mkv", VP9_OPUS, "tv-lg", "remux", "copy", "transcode"),  # VP9 plays, Opus does not
        (
            "avi",
            [_video("mpeg4", height=480, profile="Simple"), _audio("mp3")],
            "generic",
            "transcode",
            "transcode",
            "transcode",
        ),
    ],
)
def test_decision_matrix(
    container: str, streams: list[dict[str, Any]], client: str, mode: str, video: str, audio: str
) -> None:
    decision = decide(container, streams, PROFILES[client])
    assert (decision.mode, decision.video, decision.audio) == (mode, video, audio), decision.summary
    assert decision.reasons and all(r and r[0].islower() for r in decision.reasons)


def test_the_reason_names_what_the_client_cannot_do() -> None:
    assert decide("mkv", HEVC10_AAC, PROFILES["chromium"]).summary == (
        "Transcoding: this browser cannot play HEVC 10-bit."
    )
    remux = decide("mkv", H264_AAC, PROFILES["firefox"])
    assert (
        remux.summary
        == "Remuxing: this browser cannot open Matroska files; the video is copied, not re-encoded."
    )
    surround = decide("mp4", H264_AC3_51, PROFILES["chromium"])
    assert "this browser cannot play Dolby Digital (AC-3) audio" in surround.reasons
    assert decide("mp4", H264_AAC, PROFILES["chromium"]).summary == (
        "Direct play: this browser plays MP4 with H.264 and AAC."
    )


def test_too_tall_or_too_many_channels_for_the_client() -> None:
    uhd = [_video("h264", height=2160), _audio("aac")]
    legacy = decide("ts", uhd, PROFILES["tv-legacy"])
    assert legacy.mode == "transcode" and "at most 1080p" in legacy.reasons[0]
    six = decide("ts", [_video("h264"), _audio("aac", channels=6)], PROFILES["tv-legacy"])
    assert (six.mode, six.audio) == ("remux", "transcode")
    assert "at most 2 audio channels" in six.reasons[0]


def test_audio_track_choice_and_image_subtitles() -> None:
    streams = [
        _video("h264"),
        _audio("aac", 1),
        _audio("ac3", 2, default=True),
        {"idx": 3, "type": "subtitle", "codec": "subrip"},
        {"idx": 4, "type": "subtitle", "codec": "hdmv_pgs_subtitle"},
    ]
    chromium = PROFILES["chromium"]
    assert decide("mp4", streams, chromium).audio_index == 2  # the default track
    picked = decide("mp4", streams, chromium, audio_index=1)
    assert (picked.mode, picked.audio_index) == ("direct", 1)
    text = decide("mp4", streams, chromium, audio_index=1, subtitle_index=3)
    assert (text.mode, text.subtitles) == ("direct", "external")
    pictures = decide("mp4", streams, chromium, audio_index=1, subtitle_index=4)
    assert (pictures.mode, pictures.subtitles) == ("transcode", "burn")
    assert "burned into the video" in pictures.summary
    with pytest.raises(LookupError, match="no audio stream 9"):
        decide("mp4", streams, chromium, audio_index=9)


def test_capabilities_from_query_parameters() -> None:
    assert profile_from_query({}) is PROFILES["generic"]
    custom = profile_from_query(
        {"profile": "chromium", "vcodec": "h264,hevc", "acodec": "AAC", "max_height": "720"}
    )
    assert custom.name == "chromium+custom"
    assert custom.video_codecs == {"h264", "hevc"} and custom.audio_codecs == {"aac"}
    assert custom.max_height == 720 and custom.containers == PROFILES["chromium"].containers
    assert profile_from_query({"segments": "ts"}).segments == "ts"


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"profile": "toaster"}, "profile"),
        ({"vcodec": "h264,realvideo"}, "vcodec"),
        ({"acodec": "aac;rm -rf /"}, "acodec"),
        ({"container": "../../etc"}, "container"),
        ({"max_height": "-1"}, "max_height"),
        ({"max_height": "1e9"}, "max_height"),
        ({"max_channels": "0"}, "max_channels"),
        ({"segments": "dash"}, "segments"),
    ],
)
def test_unknown_capability_values_are_refused(query: dict[str, str], param: str) -> None:
    with pytest.raises(CapabilityError) as error:
        profile_from_query(query)
    assert error.value.param == param and str(error.value).startswith(f"{param}: ")


def test_interlaced_video_is_deinterlaced_for_browsers_only() -> None:
    streams = [
        {
            "idx": 0,
            "type": "video",
            "codec": "h264",
            "width": 1920,
            "height": 1080,
            "field_order": "tt",
        },
        {"idx": 1, "type": "audio", "codec": "aac", "channels": 2},
    ]
    browser = decide("mp4", streams, PROFILES["chromium"])
    assert browser.mode == "transcode"
    assert browser.reasons == ("this browser cannot deinterlace H.264 video",)
    assert decide("mp4", streams, PROFILES["tv-samsung"]).mode == "direct"  # TVs deinterlace
    progressive = [{**streams[0], "field_order": "progressive"}, streams[1]]
    assert decide("mp4", progressive, PROFILES["chromium"]).mode == "direct"
