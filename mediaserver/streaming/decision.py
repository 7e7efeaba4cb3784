"""Direct play, remux or transcode: the decision for one file and one client, with reasons.

Cheapest first, as Jellyfin and Plex do: the original file over HTTP Range when the client
opens the container and decodes every stream; HLS with the video copied when only the
container (or the audio, or a clock that starts late) is the problem; a transcode otherwise.  The reasons are sentences
a person understands ("this browser cannot play HEVC 10-bit"), shown in the player and
returned by the API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mediaserver.streaming.profiles import ClientProfile
from mediaserver.words import plural

__all__ = [
    "IMAGE_SUBTITLES",
    "LATE_START_S",
    "Decision",
    "decide",
    "default_stream",
    "describe_video",
]

IMAGE_SUBTITLES = frozenset({"hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "xsub"})
# What each HLS segment format can carry without re-encoding.
_HLS_VIDEO = {"fmp4": frozenset({"h264", "hevc", "av1", "vp9"}), "ts": frozenset({"h264", "hevc"})}
_HLS_AUDIO = {
    "fmp4": frozenset({"aac", "mp3", "ac3", "eac3", "opus", "flac"}),
    "ts": frozenset({"aac", "mp3", "ac3", "eac3"}),
}
_UNPLAYABLE_PROFILES = {"high 4:2:2", "high 4:4:4 predictive", "high 4:4:4 intra", "rext"}
_VIDEO_NAMES = {
    "h264": "H.264",
    "hevc": "HEVC",
    "av1": "AV1",
    "vp9": "VP9",
    "vp8": "VP8",
    "mpeg2video": "MPEG-2",
    "mpeg4": "MPEG-4 Part 2",
}
_AUDIO_NAMES = {
    "aac": "AAC",
    "ac3": "Dolby Digital (AC-3)",
    "eac3": "Dolby Digital Plus (E-AC-3)",
    "dts": "DTS",
    "truehd": "Dolby TrueHD",
    "mp3": "MP3",
    "opus": "Opus",
    "flac": "FLAC",
    "vorbis": "Vorbis",
}
_CONTAINER_NAMES = {
    "mp4": "MP4",
    "m4v": "MP4",
    "mov": "QuickTime",
    "mkv": "Matroska",
    "webm": "WebM",
    "ts": "MPEG-TS",
    "avi": "AVI",
}

Mode = Literal["direct", "remux", "transcode"]

# A file whose own clock starts this late is not played as it is: players disagree on such
# a file (Chromium counts from its first timestamp, 1:00:00 for many phone clips, others
# play an empty hour or from 0), so the stream, which always starts at 0, plays it instead.
# Below a second it is B-frame delay or audio priming, and positions are off by that little.
# MPEG-TS starts anywhere by nature, and the players that open it count from its start.
LATE_START_S = 1.0
_OWN_CLOCK_CONTAINERS = frozenset({"ts"})


@dataclass(frozen=True, slots=True)
class Decision:
    mode: Mode
    video: Literal["copy", "transcode"]
    audio: Literal["copy", "transcode", "none"]
    audio_index: int | None
    subtitles: Literal["none", "external", "burn"]
    subtitle_index: int | None
    reasons: tuple[str, ...]

    @property
    def summary(self) -> str:
        """One line for the player: ``Transcoding: this browser cannot play HEVC 10-bit.``"""
        verb = {"direct": "Direct play", "remux": "Remuxing", "transcode": "Transcoding"}[self.mode]
        return f"{verb}: {'; '.join(self.reasons)}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "video": self.video,
            "audio": self.audio,
            "audio_index": self.audio_index,
            "subtitles": self.subtitles,
            "subtitle_index": self.subtitle_index,
            "reasons": list(self.reasons),
            "summary": self.summary,
        }


def describe_video(stream: Mapping[str, Any]) -> str:
    """``HEVC 10-bit``, ``H.264 at 2160p``: how a person names a video stream."""
    name = _VIDEO_NAMES.get(
        str(stream.get("codec")), str(stream.get("codec") or "unknown video").upper()
    )
    if (stream.get("bit_depth") or 8) > 8:
        name += f" {stream['bit_depth']}-bit"
    return name


def _device(profile: ClientProfile) -> str:
    base = profile.name.split("+")[0]
    if base in ("browser", "chromium", "firefox", "safari"):
        return "browser"
    return "TV" if base.startswith("tv-") else "player"


def _pick(
    streams: Sequence[Mapping[str, Any]], kind: str, index: int | None
) -> Mapping[str, Any] | None:
    candidates = [s for s in streams if s.get("type") == kind]
    if index is not None:
        chosen = next((s for s in candidates if s.get("idx") == index), None)
        if chosen is None:
            raise LookupError(f"this file has no {kind} stream {index}")
        return chosen
    if kind == "subtitle":
        return None  # subtitles only when asked for
    return next(
        (s for s in candidates if s.get("is_default")), candidates[0] if candidates else None
    )


def default_stream(streams: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    """The video or audio a player starts with when nobody chose: the file's default track,
    else its first (what :func:`decide` looks at)."""
    return _pick(streams, kind, None)


def _video_problem(video: Mapping[str, Any], profile: ClientProfile, device: str) -> str | None:
    codec = str(video.get("codec"))
    if codec not in profile.video_codecs:
        return f"this {device} cannot play {describe_video(video)}"
    if (video.get("bit_depth") or 8) > 8 and codec not in profile.ten_bit_codecs:
        return f"this {device} cannot play {describe_video(video)}"
    if str(video.get("profile") or "").lower() in _UNPLAYABLE_PROFILES:
        return f"this {device} cannot play {describe_video(video)} {video['profile']}"
    if device == "browser" and video.get("field_order") not in (None, "progressive"):
        # Browsers show interlaced pictures as they are, combed; the transcode deinterlaces.
        return f"this {device} cannot deinterlace {describe_video(video)} video"
    if (video.get("height") or 0) > profile.max_height:
        return f"this {device} plays at most {profile.max_height}p, the video is {video['height']}p"
    return None


def _audio_problem(audio: Mapping[str, Any], profile: ClientProfile, device: str) -> str | None:
    codec = str(audio.get("codec"))
    if codec not in profile.audio_codecs:
        return f"this {device} cannot play {_AUDIO_NAMES.get(codec, codec.upper())} audio"
    if (audio.get("channels") or 2) > profile.max_audio_channels:
        most = plural(profile.max_audio_channels, "audio channel")
        return f"this {device} plays at most {most}, the track has {audio['channels']}"
    return None


def _clock(seconds: float) -> str:
    whole = round(seconds)  # 3599.98 (audio a frame ahead of the picture) says 1:00:00
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def decide(
    container: str | None,
    streams: Sequence[Mapping[str, Any]],
    profile: ClientProfile,
    *,
    audio_index: int | None = None,
    subtitle_index: int | None = None,
    start_offset_s: float = 0.0,
) -> Decision:
    """The cheapest way ``profile`` can play the file.  LookupError for a stream it lacks.

    ``start_offset_s`` is where the file's own clock starts (``files.start_offset_s``)."""
    device = _device(profile)
    video = _pick(streams, "video", None)
    audio = _pick(streams, "audio", audio_index)
    subtitle = _pick(streams, "subtitle", subtitle_index)
    burn = subtitle is not None and subtitle.get("codec") in IMAGE_SUBTITLES
    subs: Literal["none", "external", "burn"] = (
        "burn" if burn else "external" if subtitle else "none"
    )
    sub_index = int(subtitle["idx"]) if subtitle is not None else None
    a_index = int(audio["idx"]) if audio is not None else None
    video_issue = _video_problem(video, profile, device) if video else "the file has no video"
    audio_issue = _audio_problem(audio, profile, device) if audio else None
    container_name = _CONTAINER_NAMES.get(container or "", (container or "this").upper())
    container_issue = (
        None
        if container in profile.containers
        else f"this {device} cannot open {container_name} files"
    )
    burn_issue = (
        f"the chosen subtitles are pictures ({subtitle['codec']}) and are burned into the video"
        if burn and subtitle
        else None
    )
    clock_issue = (
        f"the file's own clock starts at {_clock(start_offset_s)}, and the stream starts at 0:00"
        if start_offset_s >= LATE_START_S and container not in _OWN_CLOCK_CONTAINERS
        else None
    )
    audio_mode: Literal["copy", "transcode", "none"] = "none" if audio is None else "copy"

    if not (video_issue or audio_issue or container_issue or burn_issue or clock_issue):
        assert video is not None
        what = describe_video(video) + (
            f" and {_AUDIO_NAMES.get(str(audio['codec']), audio['codec'])}" if audio else ""
        )
        return Decision(
            "direct",
            "copy",
            audio_mode,
            a_index,
            subs,
            sub_index,
            (f"this {device} plays {container_name} with {what}",),
        )

    if audio is not None and (audio_issue or audio["codec"] not in _HLS_AUDIO[profile.segments]):
        audio_mode = "transcode"
    copyable = (
        video is not None
        and not video_issue
        and not burn_issue
        and video["codec"] in _HLS_VIDEO[profile.segments]
    )
    if copyable:
        reasons = tuple(r for r in (container_issue, audio_issue, clock_issue) if r) or (
            f"{container_name} streams better as HLS here",
        )
        return Decision(
            "remux",
            "copy",
            audio_mode,
            a_index,
            subs,
            sub_index,
            (*reasons, "the video is copied, not re-encoded"),
        )
    reasons = tuple(r for r in (video_issue, burn_issue) if r)
    if not reasons and video is not None:  # playable codec, but not in this segment format
        reasons = (
            f"{describe_video(video)} cannot be carried in {profile.segments.upper()} segments",
        )
    return Decision("transcode", "transcode", audio_mode, a_index, subs, sub_index, reasons)
