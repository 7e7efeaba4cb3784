"""Text subtitles to WebVTT with the real ffmpeg: embedded tracks, sidecars in odd charsets,
the cache, and the HLS playlist and EXT-X-MEDIA attributes that point at the result."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from mediaserver.streaming import subtitles
from mediaserver.streaming.subtitles import (
    SubtitleCache,
    SubtitleError,
    rendition_attrs,
    subtitle_playlist,
)
from mediaserver.testing import make_clip

_SRT = "1\n00:00:00,500 --> 00:00:01,250\nCafé <i>ouvert</i>\n\n2\n00:00:01,500 --> 00:00:02,000\n5 < 6 & co\n"
_ASS = r"""[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, Bold, Italic, Alignment
Style: Default,Arial,16,&Hffffff,0,0,2

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:00.50,0:00:01.20,Default,,0,0,0,,{\an8}{\i1}Hello{\i0} {\b1}there{\b0}\Nsecond line
Dialogue: 0,0:00:01.50,0:00:02.00,Default,,0,0,0,,{\pos(10,20)\c&H00FF00&}Green
"""
_VTT = """WEBVTT - from a downloader
Kind: captions

STYLE
::cue { color: yellow }

cue-1
00:00:00.250 --> 00:00:01.000 align:start line:0
<v Ann>Hi there

00:01.000 --> 00:02.000
Café fermé
"""


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, ffmpeg_binary: str) -> Path:
    folder = tmp_path_factory.mktemp("subclips")
    for name in ("sub.mkv", "sub.mp4"):  # SubRip and mov_text; no audio, so no priming
        make_clip(folder / name, seconds=1, audio=False, subtitle=True, ffmpeg=ffmpeg_binary)
    return folder


@pytest.fixture
def cache(tmp_path: Path, ffmpeg_binary: str) -> SubtitleCache:
    return SubtitleCache(ffmpeg_binary, tmp_path / "cache")


def _sidecar(clips: Path, folder: Path, name: str, data: bytes, codec: str) -> tuple[Path, dict]:
    path = folder / name
    path.write_bytes(data)
    stream = {"idx": 1000, "type": "subtitle", "codec": codec, "external_path": str(path)}
    return clips / "sub.mkv", stream


@pytest.mark.parametrize(("clip", "codec"), [("sub.mkv", "subrip"), ("sub.mp4", "mov_text")])
def test_embedded_track_becomes_webvtt_with_a_timestamp_map(
    clips: Path, cache: SubtitleCache, clip: str, codec: str
) -> None:
    stream = {"idx": 1, "type": "subtitle", "codec": codec, "language": "eng"}
    vtt = cache.webvtt(str(clips / clip), stream, mpegts_offset=126000).read_text()
    lines = vtt.splitlines()
    assert lines[:2] == ["WEBVTT", "X-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000"]
    assert "00:00.000 --> 00:01.000\nHello from Hearth." in vtt


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_srt_sidecar_in_any_charset_keeps_its_accents(
    clips: Path, tmp_path: Path, cache: SubtitleCache, runs: list[list[str]], charset: str
) -> None:
    video, stream = _sidecar(clips, tmp_path, "sub.fr.srt", _SRT.encode(charset), "subrip")
    vtt = cache.webvtt(video, stream).read_text(encoding="utf-8")
    assert "00:00.500 --> 00:01.250\nCafé <i>ouvert</i>" in vtt
    assert "00:01.500 --> 00:02.000\n5 &lt; 6 &amp; co" in vtt  # ffmpeg leaves these bare
    assert vtt.splitlines()[1] == "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"


@pytest.mark.parametrize("charset", ["utf-8", "latin-1"])
def test_ass_sidecar_in_any_charset_keeps_its_accents(
    clips: Path, tmp_path: Path, cache: SubtitleCache, runs: list[list[str]], charset: str
) -> None:
    text = _ASS.replace("second line", "deuxième ligne")
    video, stream = _sidecar(clips, tmp_path, "sub.ass", text.encode(charset), "ass")
    assert "\ndeuxième ligne\n" in cache.webvtt(video, stream).read_text(encoding="utf-8")
    assert ("-sub_charenc" in runs[0]) == (charset != "utf-8")


# Text in angle brackets that is not a tag is words: a speaker, an aside, a heart.
_BRACKETS = (
    "1\n00:00:00,000 --> 00:00:01,000\n<Bob> hello\n\n"
    "2\n00:00:01,000 --> 00:00:02,000\n<unknown tag> and <i>this</i>, <3 & "
    '<font color="#ff0000">red</font>\n\n'
    "3\n00:00:02,000 --> 00:00:03,000\n{\\an8}<v Ann>Top</v><br><c.loud>LOUD</c> <s>gone</s>\n"
)


def test_srt_text_in_angle_brackets_stays_visible(
    clips: Path, tmp_path: Path, cache: SubtitleCache
) -> None:
    video, stream = _sidecar(clips, tmp_path, "sub.en.srt", _BRACKETS.encode(), "subrip")
    vtt = cache.webvtt(video, stream).read_text(encoding="utf-8")
    assert "00:00.000 --> 00:01.000\n&lt;Bob&gt; hello\n" in vtt
    assert "00:01.000 --> 00:02.000\n&lt;unknown tag&gt; and <i>this</i>, &lt;3 &amp; red\n" in vtt
    # WebVTT's own tags stay tags; the ASS override and <s> go, their text stays.
    assert "00:02.000 --> 00:03.000\n<v Ann>Top</v>\n<c.loud>LOUD</c> gone\n" in vtt
    # What a DLNA TV is handed: the SubRip's own words again.
    assert subtitles.srt_from_webvtt(vtt) == (
        "1\n00:00:00,000 --> 00:00:01,000\n<Bob> hello\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\n<unknown tag> and <i>this</i>, <3 & red\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\nTop\nLOUD gone\n"
    )


def test_embedded_srt_text_in_angle_brackets_stays_visible(
    clips: Path, tmp_path: Path, cache: SubtitleCache, ffmpeg_binary: str
) -> None:
    sidecar = tmp_path / "brackets.srt"
    sidecar.write_text(_BRACKETS, encoding="utf-8")
    muxed = tmp_path / "brackets.mkv"
    argv = [ffmpeg_binary, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    argv += ["-i", str(clips / "sub.mkv"), "-i", str(sidecar), "-map", "0:v", "-map", "1"]
    subprocess.run([*argv, "-c", "copy", str(muxed)], check=True, timeout=60)  # noqa: S603
    vtt = cache.webvtt(str(muxed), {"idx": 1, "codec": "subrip"}).read_text(encoding="utf-8")
    assert "00:00.000 --> 00:01.000\n&lt;Bob&gt; hello\n" in vtt


def test_ass_sidecar_keeps_italics_and_drops_positioning(
    clips: Path, tmp_path: Path, cache: SubtitleCache
) -> None:
    video, stream = _sidecar(clips, tmp_path, "sub.ass", _ASS.encode(), "ass")
    vtt = cache.webvtt(video, stream).read_text()
    assert "00:00.500 --> 00:01.200\n<i>Hello</i> <b>there</b>\nsecond line" in vtt
    assert "00:01.500 --> 00:02.000\nGreen" in vtt
    assert "{" not in vtt and "\\" not in vtt


def test_vtt_sidecar_keeps_cue_settings_despite_a_style_block(
    clips: Path, tmp_path: Path, cache: SubtitleCache
) -> None:
    video, stream = _sidecar(clips, tmp_path, "sub.vtt", _VTT.encode("cp1252"), "webvtt")
    vtt = cache.webvtt(video, stream).read_text()
    assert "cue-1\n00:00.250 --> 00:01.000 align:start line:0\n<v Ann>Hi there" in vtt
    assert "00:01.000 --> 00:02.000\nCafé fermé" in vtt
    assert vtt.count("WEBVTT") == 1 and "STYLE" not in vtt


def test_a_second_request_is_served_from_the_cache(
    clips: Path, cache: SubtitleCache, runs: list[list[str]]
) -> None:
    stream = {"idx": 1, "codec": "subrip"}
    first = cache.webvtt(str(clips / "sub.mkv"), stream)
    again = cache.webvtt(str(clips / "sub.mkv"), stream)
    assert first == again and len(runs) == 1
    other_offset = cache.webvtt(str(clips / "sub.mkv"), stream, mpegts_offset=90000)
    assert other_offset != first and len(runs) == 2
    assert first.exists()  # a TS and an fMP4 client do not evict each other's file


def test_an_edited_sidecar_is_converted_again(
    clips: Path, tmp_path: Path, cache: SubtitleCache, runs: list[list[str]]
) -> None:
    video, stream = _sidecar(clips, tmp_path, "sub.srt", _SRT.encode(), "subrip")
    old = cache.webvtt(video, stream)
    sidecar = Path(stream["external_path"])
    sidecar.write_text(_SRT.replace("Café", "Bistro"), encoding="utf-8")
    os.utime(sidecar, ns=(sidecar.stat().st_atime_ns, sidecar.stat().st_mtime_ns + 10**9))
    new = cache.webvtt(video, stream)
    assert len(runs) == 2 and "Bistro" in new.read_text()
    assert not old.exists()  # the stale conversion is removed, not kept forever
    assert sorted(p.name for p in cache.cache_dir.iterdir()) == [new.name]


def test_concurrent_requests_convert_once(
    clips: Path, cache: SubtitleCache, runs: list[list[str]]
) -> None:
    stream = {"idx": 1, "codec": "subrip"}
    start = threading.Barrier(6)
    results: list[Path] = []

    def ask() -> None:
        start.wait()
        results.append(cache.webvtt(str(clips / "sub.mkv"), stream))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 1 and len(set(results)) == 1 and len(results) == 6


def test_garbage_sidecar_gives_a_readable_error(
    clips: Path, tmp_path: Path, cache: SubtitleCache
) -> None:
    video, stream = _sidecar(clips, tmp_path, "bad.srt", bytes(range(256)) * 8, "subrip")
    with pytest.raises(SubtitleError, match=r"could not convert bad\.srt: .*Invalid data") as exc:
        cache.webvtt(video, stream)
    assert str(tmp_path) not in str(exc.value)
    assert not any(cache.cache_dir.iterdir())  # no temporary file left behind


def test_image_subtitles_missing_files_and_timeouts_are_subtitle_errors(
    clips: Path, tmp_path: Path, ffmpeg_binary: str
) -> None:
    cache = SubtitleCache(ffmpeg_binary, tmp_path / "cache", timeout_s=0.001)
    with pytest.raises(SubtitleError, match="burned in"):
        cache.webvtt(str(clips / "sub.mkv"), {"idx": 1, "codec": "hdmv_pgs_subtitle"})
    with pytest.raises(SubtitleError, match=r"cannot read gone\.mkv"):
        cache.webvtt(str(tmp_path / "gone.mkv"), {"idx": 1, "codec": "subrip"})
    with pytest.raises(SubtitleError, match="took longer than"):
        cache.webvtt(str(clips / "sub.mkv"), {"idx": 1, "codec": "subrip"})


def test_subtitle_playlist_is_one_vod_segment() -> None:
    text = subtitle_playlist(83.52, "subs/2.vtt?token=abc")
    lines = text.splitlines()
    assert text.endswith("\n") and lines[0] == "#EXTM3U"
    tags = dict(ln[1:].split(":", 1) for ln in lines if ln.startswith("#EXT-X-") and ":" in ln)
    assert tags == {
        "EXT-X-VERSION": "3",
        "EXT-X-TARGETDURATION": "84",
        "EXT-X-MEDIA-SEQUENCE": "0",
        "EXT-X-PLAYLIST-TYPE": "VOD",
    }
    extinf = lines.index("#EXTINF:83.520,")
    assert lines[extinf + 1] == "subs/2.vtt?token=abc" and lines[-1] == "#EXT-X-ENDLIST"
    with pytest.raises(ValueError):
        subtitle_playlist(0, "x.vtt")


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ({"language": "eng", "is_default": 1}, ("English", "en", "YES", "YES", "NO")),
        ({"language": "eng", "title": "SDH"}, ("English (SDH)", "en", "NO", "YES", "NO")),
        ({"language": "fre", "is_forced": 1}, ("French (Forced)", "fr", "NO", "YES", "YES")),
        ({"language": "de", "title": "German"}, ("German", "de", "NO", "YES", "NO")),
        ({"language": "pt-BR"}, ("Portuguese (Brazil)", "pt-BR", "NO", "YES", "NO")),
        ({"language": "und", "is_forced": 1}, ("Forced", None, "NO", "YES", "YES")),
        (
            {"language": "qqx", "title": 'Fan "subs"'},
            ("qqx (Fan 'subs')", "qqx", "NO", "YES", "NO"),
        ),
        ({}, ("Unknown", None, "NO", "NO", "NO")),
    ],
)
def test_rendition_attrs(stream: dict, expected: tuple) -> None:
    attrs = rendition_attrs(stream)
    got = tuple(attrs.get(k) for k in ("NAME", "LANGUAGE", "DEFAULT", "AUTOSELECT", "FORCED"))
    assert got == expected
