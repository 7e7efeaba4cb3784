"""What one ffmpeg job runs: a stream's spec (whose hash is its key) and the argv that
makes segments ``start`` .. ``end - 1`` of it, as fragmented MP4 on a pipe or MPEG-TS files.
The job manager that runs these is ``transcoder.py``."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ffmpeg as ffmpeg_python
import msgspec

from mediaserver.ffmpeg_tools import INPUT_GUARD, input_url
from mediaserver.streaming.playlists import Segment

__all__ = ["TS_OFFSET_S", "Stream", "StreamSpec", "build_command", "pad_to_the_end", "seek_point"]

# Mux time offset of MPEG-TS output: timestamps never go negative (B-frames), and every job,
# whatever its start, lands on the same timeline.  WebVTT's X-TIMESTAMP-MAP uses it too.
TS_OFFSET_S = 10.0


class StreamSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything that determines a stream's bytes; its hash is the stream's key."""

    file_id: int
    path: str
    size: int
    mtime_ns: int
    duration_s: float
    video_index: int
    video_codec: str
    copy_video: bool
    width: int = 0  # transcode only: the rung
    height: int = 0
    video_kbps: int = 0
    max_video_kbps: int = 0
    level: int = 0
    max_frame_rate: float = 0.0  # 0: keep the source's
    deinterlace: bool = False
    burn_subtitle: int | None = None
    audio_index: int | None = None
    copy_audio: bool = False
    segment_format: Literal["fmp4", "ts"] = "fmp4"
    segment_s: float = 3.0
    preset: str = "veryfast"
    keyframes: tuple[float, ...] = ()  # remux only: where the copied video can be cut

    @property
    def mode(self) -> Literal["remux", "transcode"]:
        return "remux" if self.copy_video else "transcode"

    @property
    def extension(self) -> str:
        return "m4s" if self.segment_format == "fmp4" else "ts"

    def key(self, secret: bytes) -> str:
        """24 hex digits: unguessable without the server secret, stable across restarts."""
        digest = hmac.new(secret, msgspec.json.encode(self), hashlib.sha256).hexdigest()
        return digest[:24]


@dataclass(frozen=True, slots=True)
class Stream:
    key: str
    spec: StreamSpec
    segments: tuple[Segment, ...]

    @property
    def starts(self) -> list[float]:
        return [s.start_s for s in self.segments]


def seek_point(spec: StreamSpec, segments: Sequence[Segment], start: int) -> float:
    """Where a job for segment ``start`` seeks (``-ss``).

    A copy lands on the keyframe at the segment's start even if the file's start differs a
    little from the video stream's (the index counts from the video's first frame), so it
    seeks a little past it; re-encoded streams start exactly at the seek point.
    """
    begin = segments[start].start_s
    if begin <= 0:
        return 0.0
    if spec.copy_video:
        return begin + min(0.5 * segments[start].duration_s, 0.25)
    return begin


def pad_to_the_end(video: Any, seconds: float) -> Any:
    """Pictures for the whole ``seconds`` of a job whose file's picture stops before its sound.

    The playlist covers the file's length, its longest track: where the sound runs on after
    the last picture (a recording stopped early, music over a black end), segments would
    hold sound only, and no job could finish them ("ffmpeg exited with code 0" on every
    request).  The last picture stays on screen, as players show it; a job that starts
    after the last picture (a seek there) has none to hold and shows black.  ``tpad`` adds
    pictures only once the input has ended, timed on from the last picture (before this
    job's start, for a seek past it): ``trim`` keeps the job's own span.
    """
    return (
        video.filter("tpad", stop_mode="clone", stop=-1)
        .filter("tpad", stop_mode="add", stop=-1, color="black")
        .filter("trim", start=0, end=f"{seconds:.6f}")
    )


def build_command(
    ffmpeg: str,
    spec: StreamSpec,
    segments: Sequence[Segment],
    start: int,
    end: int,
    out: Path,
    *,
    pad: bool = False,
) -> list[str]:
    """The ffmpeg argv for segments ``start`` .. ``end - 1`` of ``spec`` (a list, no shell);
    ``pad``: the file's picture stops before its sound (:func:`pad_to_the_end`)."""
    first = segments[start]
    begin = first.start_s
    stop = segments[end - 1].start_s + segments[end - 1].duration_s
    source_opts: dict[str, Any] = dict(INPUT_GUARD)
    if begin > 0:
        source_opts["ss"] = f"{seek_point(spec, segments, start):.6f}"
    source = ffmpeg_python.input(input_url(Path(spec.path)), **source_opts)
    video = source[str(spec.video_index)]
    opts: dict[str, Any] = {"t": f"{stop - begin:.6f}", "map_metadata": -1, "map_chapters": -1}
    if spec.copy_video:
        opts["c:v"] = "copy"
    else:
        if spec.burn_subtitle is not None:
            video = ffmpeg_python.overlay(video, source[str(spec.burn_subtitle)], eof_action="pass")
        if spec.deinterlace:
            video = video.filter("yadif", mode=0, deint=1)
        if spec.max_frame_rate:
            video = video.filter("fps", fps=spec.max_frame_rate)
        # The rung's short side, whatever the orientation: ffmpeg turns rotated phone video
        # upright before the filters run, so a 640x360 rung of it comes out 360x640.
        short = min(spec.width, spec.height)
        video = video.filter(
            "scale", f"if(gt(iw,ih),-2,{short})", f"if(gt(iw,ih),{short},-2)"
        ).filter("format", "yuv420p")
        if pad:
            video = pad_to_the_end(video, stop - begin)
        # Keyframes exactly at our boundaries and nowhere else: every segment starts on one,
        # and all rungs switch at the same places.
        cuts = [f"{s.start_s - begin:.3f}" for s in segments[start + 1 : end]]
        opts.update(
            {
                "c:v": "libx264",
                "preset": spec.preset,
                "profile:v": "high",
                "level:v": f"{spec.level / 10:.1f}",
                "b:v": f"{spec.video_kbps}k",
                "maxrate": f"{spec.max_video_kbps}k",
                "bufsize": f"{2 * spec.max_video_kbps}k",
                "force_key_frames": ",".join(cuts) or "0",
                "sc_threshold": 0,
                "g": 100_000,
            }
        )
    streams = [video]
    if spec.audio_index is not None:
        streams.append(source[str(spec.audio_index)])
        opts.update({"c:a": "copy"} if spec.copy_audio else {"c:a": "aac", "ac": 2, "b:a": "128k"})
    if spec.segment_format == "fmp4":
        opts.update(
            {
                "avoid_negative_ts": "disabled",
                "f": "mp4",
                "movflags": "+frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets",
            }
        )
        if spec.copy_video and spec.video_codec == "hevc":
            opts["tag:v"] = "hvc1"  # what Apple's players and MSE expect for HEVC in fMP4
        target = "pipe:1"
    else:
        # Output time 0 is the -ss point (a copy seeks a little past ``begin``): offset from
        # there, so every job lands on the timeline of one that ran from the start.  The
        # segment muxer compares its times with the offset timestamps: they are absolute.
        seek = float(source_opts.get("ss", 0.0))
        times = [f"{s.start_s + TS_OFFSET_S:.3f}" for s in segments[start + 1 : end]]
        opts.update(
            {
                "output_ts_offset": f"{seek + TS_OFFSET_S:.6f}",
                "muxdelay": 0,
                "muxpreload": 0,
                "f": "segment",
                "segment_format": "mpegts",
                "segment_times": ",".join(times) or f"{stop + TS_OFFSET_S + 1:.3f}",
                "segment_start_number": start,
                "segment_format_options": "mpegts_flags=+initial_discontinuity",
                "segment_list": "pipe:1",
                "segment_list_type": "csv",
            }
        )
        target = str(out / "%d.ts")
    command = ffmpeg_python.output(*streams, target, **opts).global_args(
        "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"
    )
    return list(command.compile(cmd=ffmpeg))
