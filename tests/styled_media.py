"""Styled-subtitle media for the integration and browser tests.

``STYLED_ASS`` puts red text at the top of the picture for three seconds, then blue text at
the bottom (what WebVTT cannot show: it keeps the words, not the colour or the place), in
the "Hearth Blocks" font of ``tests/fixtures/HearthBlocks.ttf``, whose every letter is a
solid block.  ``make_styled_film`` attaches that font to the video as Matroska releases do.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mediaserver.testing import add_styled_subtitles, make_clip

FONT = Path(__file__).parent / "fixtures" / "HearthBlocks.ttf"
FONT_FAMILY = "Hearth Blocks"
SECONDS = 6.0
BACKGROUND = "color=c=0x203040"  # a plain picture, so a screenshot shows the subtitles clearly
STYLES = (
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, "
    "BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, "
    "BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    f"Style: Default,{FONT_FAMILY},24,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,"
    "0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1\n"
)
STYLED_ASS = (
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 320\nPlayResY: 180\n\n"
    f"[V4+ Styles]\n{STYLES}\n"
    "[Events]\n"
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    "Dialogue: 0,0:00:00.00,0:00:03.00,Default,,0,0,0,,{\\an8}{\\c&H0000FF&}Top red\n"
    "Dialogue: 0,0:00:03.00,0:00:06.00,Default,,0,0,0,,{\\c&HFF0000&}Bottom blue\n"
)


def make_styled_film(
    path: Path,
    ffmpeg: str,
    *,
    attachments: tuple[tuple[Path, str], ...] = ((FONT, "font/ttf"),),
    audio_codec: str = "aac",
) -> Path:
    """An H.264 Matroska film with ``STYLED_ASS`` embedded and ``attachments`` (AC-3 audio
    makes Chromium play it remuxed, through hls.js)."""
    with tempfile.TemporaryDirectory(prefix="hearth-styled-") as scratch:
        plain = make_clip(
            Path(scratch) / "plain.mkv",
            seconds=SECONDS,
            video=BACKGROUND,
            output={"c:a": audio_codec},
            ffmpeg=ffmpeg,
        )
        return add_styled_subtitles(plain, path, STYLED_ASS, attachments=attachments, ffmpeg=ffmpeg)
