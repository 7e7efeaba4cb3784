"""Generate a small, real demo library so a fresh install has something to browse and play.

Everything is synthesised with ffmpeg's lavfi sources, so nothing is downloaded and no
copyrighted media ships with Hearth. Names mimic real releases on purpose: the demo doubles as
a smoke test of the scanner's naming, NFO, sidecar-subtitle and multi-track logic.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg

from mediaserver.ffmpeg_tools import run_ffmpeg

__all__ = ["DEMO_MARKER", "DemoLibraryError", "demo_library_path", "ensure_demo_library"]

DEMO_MARKER = ".hearth-demo-complete"

# A step writes one file at the given path: either directly (returns None) or by returning
# an ffmpeg-python output graph that the caller runs.
_Maker = Callable[[Path], Any]
ProgressCallback = Callable[[int, int, str], None]  # (files done, files total, relative name)

_SIZE = "640x360"
_PARTIAL_PREFIX = ".demo-library.partial-"
_STALE_AFTER_S = 600.0  # older partial dirs are leftovers of a killed run, not a live one
# Browser-playable without transcoding: H.264 yuv420p + AAC stereo, a keyframe every 2 s at
# 25 fps (cheap seeking, clean segment boundaries for HLS). The VBV cap keeps noise-like
# patterns (life, mandelbrot) from ballooning to tens of MB.
_AV: dict[str, Any] = {
    "c:v": "libx264",
    "preset": "ultrafast",
    "pix_fmt": "yuv420p",
    "x264-params": "keyint=50:min-keyint=50:scenecut=0",
    "maxrate": "1500k",
    "bufsize": "3000k",
    "c:a": "aac",
    "b:a": "96k",
    "ac": 2,
}
_MP4: dict[str, Any] = {**_AV, "movflags": "+faststart"}
_LABEL_STYLE = {"fontsize": 32, "fontcolor": "white", "box": 1, "boxcolor": "black@0.6"}
_SUBTITLES = [  # (English, French), one cue every 8 s
    ("Colour bars, tone, and patience.", "Mire, tonalité et patience."),
    ("This is the English subtitle track.", "Ceci est la piste de sous-titres française."),
    ("The pattern changes at twenty seconds.", "Le motif change à vingt secondes."),
    ("Thank you for watching Hearth.", "Merci d'avoir regardé Hearth."),
]
_MOVIE_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<movie>
  <title>Test Pattern Odyssey</title>
  <year>2019</year>
  <plot>A lone test card drifts through colour space, humming at 440 Hz.</plot>
  <genre>Science Fiction</genre>
  <genre>Documentary</genre>
  <mpaa>PG</mpaa>
  <director>Ada Lavfi</director>
  <actor><name>Tess Source</name><role>The Pattern</role></actor>
  <actor><name>Sine Wave</name><role>The Tone</role></actor>
  <runtime>1</runtime>
  <set><name>Test Card Classics</name></set>
</movie>
"""
_CODECS_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<movie>
  <title>Night of the Codecs</title>
  <year>2018</year>
  <plot>Something stirs in a Matroska container. Newer browsers play it directly; for the rest, the streaming engine will remux it.</plot>
  <genre>Horror</genre>
  <mpaa>PG-13</mpaa>
  <set>Test Card Classics</set>
</movie>
"""
_SHOW_NFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<tvshow>
  <title>Signal Tests</title>
  <year>2020</year>
  <premiered>2020-01-06</premiered>
  <plot>Every week a different test signal is put through its paces.</plot>
  <genre>Documentary</genre>
  <genre>Comedy</genre>
</tvshow>
"""
# (season, episode, title, lavfi pattern, small grid to upscale or None, tone Hz)
_EPISODES = [
    (1, 1, "Pilot", "testsrc", None, 523),
    (1, 2, "Bars and Tone", "pal100bars", None, 1000),
    (2, 1, "Game of Life", "life=ratio=0.2:seed=11:mold=20:life_color=#40ff80", "160x90", 330),
    (2, 2, "Deep Zoom", "mandelbrot=maxiter=2048", None, 880),
]


class DemoLibraryError(RuntimeError):
    """ffmpeg could not generate the demo library; the message carries ffmpeg's stderr tail."""


def demo_library_path(data_dir: Path) -> Path:
    """Where the demo library lives, so callers can register it as a library root."""
    return data_dir / "demo-library"


def ensure_demo_library(
    data_dir: Path, ffmpeg_binary: str, *, on_progress: ProgressCallback | None = None
) -> Path:
    """Generate the demo library once; later calls return at once.

    Files go into a hidden sibling directory that receives the marker last and is then
    renamed into place in one step. The marker lives inside the library, so the rename is
    the commit: an interrupted run can never leave a half library that looks complete.
    """
    final = demo_library_path(data_dir)
    if (final / DEMO_MARKER).exists():
        return final
    data_dir.mkdir(parents=True, exist_ok=True)
    _sweep_stale_partials(data_dir)
    partial = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=data_dir))
    try:
        steps = _plan(_drawtext_works(ffmpeg_binary))
        for done, (name, make) in enumerate(steps, start=1):
            target = partial / name
            target.parent.mkdir(parents=True, exist_ok=True)
            graph = make(target)
            if graph is not None:
                _run(graph, ffmpeg_binary)
            if on_progress is not None:
                on_progress(done, len(steps), name)
        (partial / DEMO_MARKER).write_text("1\n", encoding="utf-8")
        _commit(partial, final)
    finally:
        shutil.rmtree(partial, ignore_errors=True)  # nothing left to remove once renamed
    return final


def _commit(partial: Path, final: Path) -> None:
    """Rename ``partial`` to ``final``; a marker-less ``final`` is junk from an older crash."""
    if (final / DEMO_MARKER).exists():
        return  # a concurrent run won the race; the caller discards ours
    if final.exists():
        trash = Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, dir=final.parent))
        final.rename(trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    partial.rename(final)


def _sweep_stale_partials(data_dir: Path) -> None:
    """Remove partial dirs left by a killed run; recent ones may belong to a live process."""
    cutoff = time.time() - _STALE_AFTER_S
    for leftover in data_dir.glob(_PARTIAL_PREFIX + "*"):
        if leftover.is_dir() and leftover.stat().st_mtime < cutoff:
            shutil.rmtree(leftover, ignore_errors=True)


def _run(graph: Any, ffmpeg_binary: str) -> None:
    """Run one ffmpeg-python graph as an argv (never a shell), surfacing stderr on failure."""
    argv: list[str] = (
        graph.global_args("-hide_banner", "-loglevel", "error", "-nostdin")
        .overwrite_output()
        .compile(cmd=ffmpeg_binary)
    )
    try:
        run_ffmpeg(argv, timeout_s=120)
    except subprocess.CalledProcessError as exc:
        tail = exc.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise DemoLibraryError(f"ffmpeg exited with status {exc.returncode}: {tail}") from exc
    except (subprocess.TimeoutExpired, OSError) as exc:
        raise DemoLibraryError(f"cannot run ffmpeg {ffmpeg_binary!r}: {exc}") from exc


@functools.cache
def _drawtext_works(ffmpeg_binary: str) -> bool:
    """Whether labels can be burnt in: builds without libfreetype lack drawtext."""
    try:
        listed = subprocess.run(  # noqa: S603
            [ffmpeg_binary, "-hide_banner", "-filters"], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    if b" drawtext " not in listed.stdout:
        return False
    # Listed is not enough: with no usable font the filter only fails when it initialises.
    probe = _lavfi("color=c=black:s=160x90", 0.04).drawtext(text="Hearth")
    try:
        _run(probe.output("-", f="null"), ffmpeg_binary)
    except DemoLibraryError:
        return False
    return True


def _lavfi(source: str, seconds: float | None = None, **options: Any) -> Any:
    """A lavfi source as an input node; ``options`` are appended to the source's own."""
    extra = ":".join(f"{key}={value}" for key, value in options.items())
    if extra:
        source += (":" if "=" in source else "=") + extra
    return ffmpeg.input(source, f="lavfi", **({} if seconds is None else {"t": seconds}))


def _tone(hz: int, seconds: float) -> Any:
    """A sine tone: audible, nearly free to encode, and distinguishable per audio track."""
    return _lavfi(f"sine=frequency={hz}:sample_rate=48000", seconds)


def _picture(pattern: str, seconds: float, grid: str | None = None) -> Any:
    """A 25 fps picture source; ``grid`` renders small and upscales to keep cells visible.

    One-pixel cellular automata look like (and compress like) noise at full size.
    """
    if grid is None:
        return _lavfi(pattern, seconds, size=_SIZE, rate=25)
    width, height = _SIZE.split("x")
    small = _lavfi(pattern, seconds, size=grid, rate=25)
    return small.filter("scale", width, height, flags="neighbor").filter("format", "yuv420p")


def _clip(
    pattern: str, seconds: float, hz: int, label: str | None, grid: str | None = None, **opts: Any
) -> _Maker:
    """A one-video, one-audio clip from a lavfi pattern, optionally with a burnt-in label."""

    def make(target: Path) -> Any:
        video = _picture(pattern, seconds, grid)
        if label:
            video = video.drawtext(text=label, x="(w-text_w)/2", y="h-text_h-24", **_LABEL_STYLE)
        return ffmpeg.output(video, _tone(hz, seconds), str(target), **opts)

    return make


def _still(pattern: str, size: str) -> _Maker:
    """A single-frame JPEG (poster, fanart) from a lavfi source."""
    return lambda target: _lavfi(pattern, size=size).output(
        str(target), **{"frames:v": 1, "q:v": 3}
    )


def _colour_bars(target: Path) -> Any:
    """Bars then a cellular automaton, two audio languages and an embedded subtitle track."""
    bars = _picture("smptehdbars", 20).filter("format", "yuv420p")
    video = ffmpeg.concat(bars, _picture("cellauto=rule=110:seed=7", 20, "160x90"), v=1, a=0)
    subs = ffmpeg.input(str(target.with_suffix(".en.srt")))  # the sidecar written just before
    # ffmpeg-python cannot repeat an option, so the tags of one stream use two equivalent
    # specifiers: s:a:N by type and s:N by absolute index (video 0, audio 1-2, subtitle 3).
    # MP4 has no per-track "title"; ffmpeg stores and reads it back as handler_name.
    tags = {
        "metadata": "title=The Colour Bars",
        "metadata:s:a:0": "language=eng",
        "metadata:s:1": "handler_name=Stereo",
        "metadata:s:a:1": "language=fre",
        "metadata:s:2": "handler_name=Français",
        "metadata:s:s:0": "language=eng",
        "disposition:a:1": 0,
    }
    audio = (_tone(440, 40), _tone(660, 40))
    return ffmpeg.output(video, *audio, subs, str(target), **_MP4, **tags, **{"c:s": "mov_text"})


def _text(content: str) -> _Maker:
    """A step that writes a small text file (NFO, SRT) itself, with no ffmpeg run."""

    def make(target: Path) -> None:
        target.write_text(content, encoding="utf-8")

    return make


def _srt(lines: list[str]) -> str:
    """An SRT with one 6 s cue every 8 s, enough to see subtitle switching work."""
    return "\n".join(
        f"{i}\n00:00:{8 * i - 7:02d},000 --> 00:00:{8 * i - 1:02d},000\n{line}\n"
        for i, line in enumerate(lines, start=1)
    )


def _plan(text: bool) -> list[tuple[str, _Maker]]:
    """The demo content in generation order; ``text`` says whether drawtext labels work."""
    odyssey = "Movies/Test Pattern Odyssey (2019)/Test.Pattern.Odyssey.2019.720p.WEB-DL.x264-HEARTH"
    bars = "Movies/The.Colour.Bars.2021.1080p.BluRay.x264-HEARTH"
    show = "Shows/Signal Tests"
    odyssey_tags = {"metadata": "title=Test Pattern Odyssey"}
    plan: list[tuple[str, _Maker]] = [
        (f"{odyssey}.nfo", _text(_MOVIE_NFO)),
        (f"{Path(odyssey).parent}/poster.jpg", _still("gradients=seed=42:n=4", "400x600")),
        (f"{odyssey}.mp4", _clip("testsrc2", 30, 440, None, None, **_MP4, **odyssey_tags)),
        (f"{bars}.en.srt", _text(_srt([en for en, _ in _SUBTITLES]))),
        (f"{bars}.fr.srt", _text(_srt([fr for _, fr in _SUBTITLES]))),
        (f"{bars}.mp4", _colour_bars),
        ("Movies/Night.Of.The.Codecs.2018.480p.nfo", _text(_CODECS_NFO)),
        ("Movies/Night.Of.The.Codecs.2018.480p.mkv", _clip("yuvtestsrc", 20, 220, None, **_AV)),
        (f"{show}/tvshow.nfo", _text(_SHOW_NFO)),
        (f"{show}/poster.jpg", _still("mandelbrot=maxiter=512", "400x600")),
        (f"{show}/fanart.jpg", _still("gradients=seed=7:n=6", "1280x720")),
    ]
    for season, number, title, pattern, grid, hz in _EPISODES:
        code = f"S{season:02d}E{number:02d}"
        name = f"Signal.Tests.{code}.{title.replace(' ', '.')}.720p.WEB-DL.x264-HEARTH.mp4"
        tags = {"metadata": f"title={title}", "metadata:g": "show=Signal Tests"}
        label = f"{code} {title}" if text else None
        clip = _clip(pattern, 20, hz, label, grid, **_MP4, **tags)
        plan.append((f"{show}/Season {season:02d}/{name}", clip))
    return plan
