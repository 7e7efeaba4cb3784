"""From "this client wants to watch this file" to HLS playlists, with signed links.

The master playlist lists the renditions the decision allows (the copied original when the
client decodes its video, then the ladder), each as a stream of the transcoder with its
own key and token.  The first one listed, the one players start with, is started the
moment the master playlist is asked for, so its first segment is ready sooner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import structlog

from mediaserver.config import StreamingSettings
from mediaserver.streaming import tokens
from mediaserver.streaming.command import Stream, StreamSpec
from mediaserver.streaming.decision import IMAGE_SUBTITLES, Decision
from mediaserver.streaming.keyframes import KeyframeError, KeyframeIndex
from mediaserver.streaming.ladder import AUDIO_KBPS, Rung, build_ladder
from mediaserver.streaming.playlists import (
    Rendition,
    Variant,
    lead_in_segments,
    master_playlist,
    remux_segments,
    variant_playlist,
)
from mediaserver.streaming.profiles import ClientProfile
from mediaserver.streaming.transcoder import Transcoder

__all__ = ["HLS_PREFIX", "StreamingService", "codec_string"]

log = structlog.get_logger(__name__)

HLS_PREFIX = "/api/v1/hls"
_H264_PROFILES = {
    "constrained baseline": "4240",
    "baseline": "4200",
    "main": "4d40",
    "extended": "5800",
    "high": "6400",
    "high 10": "6e00",
}
_AUDIO_CODECS = {
    "aac": "mp4a.40.2",
    "mp3": "mp4a.40.34",
    "ac3": "ac-3",
    "eac3": "ec-3",
    "opus": "opus",
    "flac": "fLaC",
}


def codec_string(stream: Mapping[str, Any]) -> str | None:
    """RFC 6381 name of a copied stream (what ``CODECS`` announces), or None if unknown."""
    codec = stream.get("codec")
    level = int(stream.get("level") or 0)
    depth = int(stream.get("bit_depth") or 8)
    profile = str(stream.get("profile") or "").lower()
    if codec == "h264":
        return f"avc1.{_H264_PROFILES.get(profile, '6400')}{(level or 40):02x}"
    if codec == "hevc":
        general = 2 if "main 10" in profile or depth > 8 else 1
        return f"hvc1.{general}.4.L{level or 120}.B0"
    if codec == "vp9":
        return f"vp09.{2 if depth > 8 else 0:02d}.{(level or 40):02d}.{depth:02d}"
    if codec == "av1":
        return f"av01.0.{(level if 0 < level < 24 else 8):02d}M.{depth:02d}"
    return _AUDIO_CODECS.get(str(codec))


@dataclass(frozen=True, slots=True)
class Plan:
    streams: tuple[tuple[Stream, Variant], ...]  # the first is the one players start with
    subtitles: tuple[dict[str, Any], ...]  # text subtitle streams of the file


def smaller_than_original(
    rungs: Sequence[Rung], video: Mapping[str, Any], original_bps: int
) -> list[Rung]:
    """The rungs worth offering beside the original itself (copied, never re-encoded).

    A transcode is only worth it when it is smaller: a lower picture at fewer bits, or the
    same picture at half the bits or less (a 30 Mb/s disc copy over weak Wi-Fi).  Anything
    else is the original made worse, and Auto (hls.js picks the richest level that fits)
    would prefer it over the original as soon as its bitrate looked higher.
    """
    source = min(int(video.get("width") or 0), int(video.get("height") or 0))
    return [
        rung
        for rung in rungs
        if rung.average_bandwidth
        < original_bps * (1.0 if min(rung.width, rung.height) < source else 0.5)
    ]


class StreamingService:
    def __init__(
        self,
        settings: StreamingSettings,
        transcoder: Transcoder,
        keyframes: KeyframeIndex,
        secret: bytes,
    ) -> None:
        self.settings = settings
        self.transcoder = transcoder
        self.keyframes = keyframes
        self.secret = secret

    # -- planning -----------------------------------------------------------------------

    def plan(self, file: Mapping[str, Any], decision: Decision, profile: ClientProfile) -> Plan:
        streams = list(file["streams"])
        video = next((s for s in streams if s["type"] == "video"), None)
        if video is None or not file.get("duration_s"):
            raise LookupError("this file has no video to stream")
        audio = next((s for s in streams if s["idx"] == decision.audio_index), None)
        base = {
            "file_id": int(file["id"]),
            "path": str(file["path"]),
            "size": int(file["size"]),
            "mtime_ns": int(file["mtime_ns"]),
            "duration_s": float(file["duration_s"]),
            "video_index": int(video["idx"]),
            "video_codec": str(video["codec"]),
            "audio_index": decision.audio_index,
            "copy_audio": decision.audio == "copy",
            "segment_format": profile.segments,
            "segment_s": self.settings.segment_seconds,
        }
        planned: list[tuple[Stream, Variant]] = []
        audio_codec = (
            codec_string(audio) if audio is not None and decision.audio == "copy" else "mp4a.40.2"
        )
        audio_bps = int((audio or {}).get("bit_rate") or AUDIO_KBPS * 1000) if audio else 0
        if decision.video == "copy":
            try:
                planned.append(self._original(file, video, base, audio_codec))
            except KeyframeError as exc:  # cannot be cut without its keyframes: ladder only
                log.warning("no remux for this file", file_id=base["file_id"], reason=str(exc))
        burn = decision.subtitle_index if decision.subtitles == "burn" else None
        rungs = build_ladder(video, max_height=profile.max_height)
        if planned:
            rungs = smaller_than_original(rungs, video, planned[0][1].average_bandwidth or 0)
        for rung in rungs:
            planned.append(self._rung(rung, video, base, burn, audio_codec, audio_bps))
        if decision.video != "copy" and planned:
            # Start with 720p (or the best rung below it): the fastest good first picture.
            start = next(
                (i for i, (_, v) in enumerate(planned) if (v.resolution or (0, 0))[1] <= 720), 0
            )
            planned.insert(0, planned.pop(start))
        text = tuple(
            s for s in streams if s["type"] == "subtitle" and s.get("codec") not in IMAGE_SUBTITLES
        )
        return Plan(tuple(planned), text)

    def _original(
        self,
        file: Mapping[str, Any],
        video: Mapping[str, Any],
        base: dict[str, Any],
        audio_codec: str | None,
    ) -> tuple[Stream, Variant]:
        keyframes = self.keyframes.get(int(file["id"]))
        segments = remux_segments(keyframes, base["duration_s"], self.settings.segment_seconds)
        spec = StreamSpec(copy_video=True, keyframes=(), **base)
        stream = self.transcoder.register(spec, segments)
        average = int(file.get("bit_rate") or video.get("bit_rate") or 8_000_000)
        codecs = ",".join(c for c in (codec_string(video) or "avc1.640028", audio_codec) if c)
        variant = Variant(
            uri="",
            bandwidth=int(average * 1.5),
            average_bandwidth=average,
            codecs=codecs,
            resolution=(int(video["width"]), int(video["height"])),
            frame_rate=float(video.get("frame_rate") or 0) or None,
            name="Original",
        )
        return stream, variant

    def _rung(
        self,
        rung: Rung,
        video: Mapping[str, Any],
        base: dict[str, Any],
        burn: int | None,
        audio_codec: str | None,
        audio_bps: int,
    ) -> tuple[Stream, Variant]:
        source_fps = float(video.get("frame_rate") or 0)
        spec = StreamSpec(
            copy_video=False,
            width=rung.width,
            height=rung.height,
            video_kbps=rung.video_kbps,
            max_video_kbps=rung.max_video_kbps,
            level=rung.level,
            max_frame_rate=rung.frame_rate if source_fps > rung.frame_rate + 0.5 else 0.0,
            deinterlace=video.get("field_order") not in (None, "progressive"),
            burn_subtitle=burn,
            preset=self.settings.preset,
            **base,
        )
        segments = lead_in_segments(base["duration_s"], self.settings.segment_seconds)
        stream = self.transcoder.register(spec, segments)
        extra_audio = max(0, audio_bps - AUDIO_KBPS * 1000)
        codecs = f"avc1.6400{rung.level:02x}" + (f",{audio_codec}" if audio_codec else "")
        variant = Variant(
            uri="",
            bandwidth=rung.bandwidth + extra_audio,
            average_bandwidth=rung.average_bandwidth + extra_audio,
            codecs=codecs,
            resolution=(rung.width, rung.height),
            frame_rate=rung.frame_rate,
            name=rung.name,
        )
        return stream, variant

    # -- playlists ----------------------------------------------------------------------

    def token(self, key: str) -> str:
        return tokens.sign(self.secret, key, self.settings.token_ttl_hours * 3600)

    def query(self, key: str, session: str) -> str:
        return urlencode({"t": self.token(key), "s": session})

    def master(
        self,
        plan: Plan,
        session: str,
        subtitle_names: Sequence[dict[str, str]],
        *,
        person: str | None = None,
    ) -> str:
        """The master playlist; ``person`` (a user id) owns ``session``, whose new jobs may
        then take the place of that person's older ones when every slot is taken."""
        variants = [
            Variant(
                uri=f"{HLS_PREFIX}/{stream.key}/index.m3u8?{self.query(stream.key, session)}",
                bandwidth=v.bandwidth,
                average_bandwidth=v.average_bandwidth,
                codecs=v.codecs,
                resolution=v.resolution,
                frame_rate=v.frame_rate,
                name=v.name,
            )
            for stream, v in plan.streams
        ]
        renditions = []
        if plan.streams and plan.subtitles:
            home = plan.streams[0][0].key  # subtitle links live under the first stream
            query = self.query(home, session)
            for sub, attributes in zip(plan.subtitles, subtitle_names, strict=True):
                uri = f"{HLS_PREFIX}/{home}/subtitles/{sub['idx']}.m3u8?{query}"
                renditions.append(Rendition(uri, attributes))
        if person is not None:
            self.transcoder.claim(session, person)
        if plan.streams:
            self.transcoder.prepare(plan.streams[0][0], session)
        return master_playlist(variants, renditions)

    def media_playlist(self, stream: Stream, session: str) -> str:
        query = self.query(stream.key, session)
        ext = stream.spec.extension
        init = f"init.mp4?{query}" if stream.spec.segment_format == "fmp4" else None
        return variant_playlist(stream.segments, lambda n: f"{n}.{ext}?{query}", init_uri=init)

    def verify(self, key: str, token: str | None) -> None:
        tokens.verify(self.secret, key, token)
