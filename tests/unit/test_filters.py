"""The Jinja filters that turn numbers into what people read."""

from __future__ import annotations

import pytest

from mediaserver.ui.filters import stream_details, timestamp


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0:00"),
        (0.0, "0:00"),
        (0.5, "0:00"),  # rounded down, as a player's clock is
        (0.999, "0:00"),
        (1, "0:01"),
        (59.9, "0:59"),
        (60, "1:00"),
        (65, "1:05"),
        (599, "9:59"),
        (600, "10:00"),
        (3599.5, "59:59"),
        (3600, "1:00:00"),
        (3723, "1:02:03"),
        (36000 + 59 * 60 + 59, "10:59:59"),
        (100 * 3600, "100:00:00"),
    ],
)
def test_timestamp(seconds: float, shown: str) -> None:
    assert timestamp(seconds) == shown


@pytest.mark.parametrize("seconds", [None, float("nan"), float("inf"), float("-inf")])
def test_timestamp_of_an_unknown_position_is_empty(seconds: float | None) -> None:
    assert timestamp(seconds) == ""


def test_timestamp_before_the_start_is_the_start() -> None:
    assert timestamp(-0.02) == "0:00"  # containers with an edit list can start slightly negative


@pytest.mark.parametrize(
    ("stream", "shown"),
    [
        (
            {
                "type": "video",
                "width": 1920,
                "height": 1080,
                "frame_rate": 23.976,
                "bit_depth": 10,
                "pix_fmt": "yuv420p10le",
                "bit_rate": 8_100_000,
            },
            "1920×1080, 23.976 fps, 10-bit, yuv420p10le, 8.1 Mb/s",
        ),
        (
            {"type": "audio", "channel_layout": "5.1(side)", "sample_rate": 48000},
            "5.1(side), 48000 Hz",
        ),
        ({"type": "audio", "channels": 2, "bit_rate": 96_000}, "2 ch, 96 kb/s"),
        ({"type": "subtitle", "bit_rate": 40}, ""),  # no ", 0 kb/s" for a text track
        (
            {"type": "video", "width": 720, "height": 576, "field_order": "tt"},
            "720×576, interlaced (tt)",
        ),
        ({"type": "video", "width": 720, "height": 576, "field_order": "progressive"}, "720×576"),
        ({"type": "video", "width": 640, "height": 360, "bit_rate": 12}, "640×360"),
        (
            {"type": "video", "width": 3840, "height": 2160, "color_transfer": "smpte2084"},
            "3840×2160, HDR (PQ)",
        ),
        ({"type": "video", "width": 1920, "height": 1080, "color_transfer": "bt709"}, "1920×1080"),
    ],
)
def test_stream_details(stream: dict[str, object], shown: str) -> None:
    assert stream_details(stream) == shown
