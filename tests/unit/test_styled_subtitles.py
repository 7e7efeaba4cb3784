"""ASS/SSA tracks as they are and a file's font attachments, with the real ffmpeg: what the
browser's libass needs to draw styled subtitles (``streaming/styled.py``)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from mediaserver.streaming import styled
from mediaserver.streaming.styled import StyledSubtitleCache, font_format
from mediaserver.streaming.subtitles import SubtitleError
from tests.styled_media import FONT, STYLED_ASS, make_styled_film

ASS_TRACK = {"idx": 2, "type": "subtitle", "codec": "ssa"}  # PyAV names ASS's decoder "ssa"
FONT_INDEX, NOTES_INDEX = 3, 4  # the attachments make_styled_film adds, after the ASS track
_SSA_V4 = (
    "[Script Info]\nScriptType: v4.00\n\n[V4 Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, TertiaryColour, "
    "BackColour, Bold, Italic, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, "
    "MarginV, AlphaLevel, Encoding\n"
    "Style: Default,Arial,20,16777215,65535,65535,0,0,0,1,1,0,2,10,10,10,0,0\n\n"
    "[Events]\nFormat: Marked, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    "Dialogue: Marked=0,0:00:00.50,0:00:01.20,Default,,0000,0000,0000,,Café crème\n"
)


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> Path:
    folder = tmp_path_factory.mktemp("styled")
    notes = folder / "notes.txt"
    notes.write_text("Typeset by the household.\n", encoding="utf-8")
    attachments = ((FONT, "font/ttf"), (notes, "text/plain"))
    make_styled_film(folder / "film.mkv", ffmpeg_binary, attachments=attachments)
    # The same font under a file name that climbs out of any folder it is written to.
    argv = [ffmpeg_binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    argv += ["-i", str(folder / "film.mkv"), "-map", "0", "-c", "copy"]
    argv += ["-metadata:s:t:0", "filename=../../escape.ttf", str(folder / "hostile.mkv")]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)  # noqa: S603
    return folder


@pytest.fixture
def cache(tmp_path: Path, ffmpeg_binary: str) -> StyledSubtitleCache:
    return StyledSubtitleCache(ffmpeg_binary, tmp_path / "deep" / "cache")


def test_an_embedded_track_is_copied_with_its_styles_and_positions(
    films: Path, cache: StyledSubtitleCache
) -> None:
    text = cache.ass(films / "film.mkv", ASS_TRACK).read_text(encoding="utf-8")
    assert text.startswith("[Script Info]")
    assert "Style: Default,Hearth Blocks,24,&H00FFFFFF" in text
    # Times as the file has them (the clip's muxing starts its streams 21 ms in).
    top = (
        r"Dialogue: 0,0:00:00\.0\d,0:00:03\.0\d,Default,,0,0,0,,\{\\an8\}\{\\c&H0000FF&\}Top red\n"
    )
    assert re.search(top, text), text
    assert re.search(r"0:00:03\.0\d,0:00:06\.0\d,Default,,0,0,0,,\{\\c&HFF0000&\}Bottom blue", text)


@pytest.mark.parametrize(
    ("name", "content", "codec", "expected"),
    [
        ("film.fr.ass", STYLED_ASS.replace("Top red", "Café rouge"), "ass", "Café rouge"),
        ("film.ssa", _SSA_V4, "ssa", "Café crème"),
    ],
)
def test_a_sidecar_in_windows_1252_is_read_as_it_is_and_sent_as_utf8(
    films: Path,
    tmp_path: Path,
    cache: StyledSubtitleCache,
    runs: list[list[str]],
    name: str,
    content: str,
    codec: str,
    expected: str,
) -> None:
    sidecar = tmp_path / name
    sidecar.write_bytes(content.encode("cp1252"))
    stream = {"idx": 1000, "type": "subtitle", "codec": codec, "external_path": str(sidecar)}
    text = cache.ass(films / "film.mkv", stream).read_text(encoding="utf-8")
    assert expected in text and text.startswith("[Script Info]")
    assert runs == []  # read directly: ffmpeg would rewrite it


def test_only_ass_and_ssa_are_offered_as_they_are(
    films: Path, tmp_path: Path, cache: StyledSubtitleCache
) -> None:
    with pytest.raises(SubtitleError, match="subrip subtitles are not ASS or SSA"):
        cache.ass(films / "film.mkv", {"idx": 2, "codec": "subrip"})
    fake = tmp_path / "film.ass"
    fake.write_text("1\n00:00:00,000 --> 00:00:01,000\nReally SubRip\n", encoding="utf-8")
    stream = {"idx": 1000, "codec": "ass", "external_path": str(fake)}
    with pytest.raises(SubtitleError, match=r"film\.ass is not an ASS or SSA subtitle"):
        cache.ass(films / "film.mkv", stream)


def test_only_the_fonts_among_the_attachments_are_kept(
    films: Path, cache: StyledSubtitleCache
) -> None:
    fonts = cache.fonts(films / "film.mkv", [FONT_INDEX, NOTES_INDEX])
    assert [(f.index, f.size, f.content_type) for f in fonts] == [
        (FONT_INDEX, FONT.stat().st_size, "font/ttf")
    ]
    assert fonts[0].path.read_bytes() == FONT.read_bytes()
    assert not list(cache.cache_dir.rglob(f"{NOTES_INDEX}.font"))  # not a font: not kept
    assert cache.fonts(films / "film.mkv", []) == []


def test_an_attachment_named_to_climb_out_is_written_inside_the_cache(
    films: Path, cache: StyledSubtitleCache, tmp_path: Path
) -> None:
    fonts = cache.fonts(films / "hostile.mkv", [FONT_INDEX, NOTES_INDEX])
    assert [f.index for f in fonts] == [FONT_INDEX]
    assert fonts[0].path.is_relative_to(cache.cache_dir)
    assert not list(tmp_path.rglob("escape.ttf")) and not list(films.rglob("escape.ttf"))


def test_a_font_over_the_limit_is_left_out(
    films: Path, cache: StyledSubtitleCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(styled, "MAX_FONT_BYTES", FONT.stat().st_size - 1)
    assert cache.fonts(films / "film.mkv", [FONT_INDEX]) == []


def test_fonts_are_extracted_once_per_version_of_the_file(
    films: Path, tmp_path: Path, cache: StyledSubtitleCache, runs: list[list[str]]
) -> None:
    film = tmp_path / "copy.mkv"
    film.write_bytes((films / "film.mkv").read_bytes())
    first = cache.fonts(film, [FONT_INDEX])
    assert cache.fonts(film, [FONT_INDEX]) == first and len(runs) == 1
    later = film.stat().st_mtime_ns + 5_000_000_000
    os.utime(film, ns=(later, later))  # the file was replaced: extract again, drop the old
    again = cache.fonts(film, [FONT_INDEX])
    assert len(runs) == 2 and again[0].path != first[0].path
    assert not first[0].path.exists() and again[0].path.read_bytes() == FONT.read_bytes()


def test_a_broken_file_is_a_readable_error(tmp_path: Path, cache: StyledSubtitleCache) -> None:
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"\x1a\x45\xdf\xa3 not really Matroska")
    with pytest.raises(SubtitleError, match=r"could not convert the attachments of broken\.mkv"):
        cache.fonts(broken, [3])
    assert not [p for p in cache.cache_dir.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x01\x00\x00\x00\x0a", "font/ttf"),
        (b"true", "font/ttf"),
        (b"OTTO\x00", "font/otf"),
        (b"ttcf", "font/collection"),
        (b"wOFF", "font/woff"),
        (b"wOF2", "font/woff2"),
        (b"\x89PNG", None),
        (b"", None),
    ],
)
def test_font_format_from_the_first_bytes(head: bytes, expected: str | None) -> None:
    assert font_format(head) == expected
