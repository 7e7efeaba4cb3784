"""Which audio and subtitle track to start with, from a viewer's language preferences.

Files tag languages as ISO 639-2 in either form ("fre" or "fra"), sometimes as two letters
("fr") or names; babelfish (already here for guessit) reads them all, so "fre" matches a
preference for French however either side spells it.  Used only when the client did not
pick a track itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from mediaserver.streaming.decision import IMAGE_SUBTITLES
from mediaserver.streaming.subtitles import NOT_LANGUAGES, parse_language

__all__ = ["SubtitleMode", "language_code", "preferred_tracks"]

SubtitleMode = Literal["off", "forced", "always"]


@functools.lru_cache(maxsize=512)
def language_code(text: str | None) -> str | None:
    """The ISO 639-3 code for a language however it is written ("fre", "fr", "French",
    "fr-CA"); None when unknown or not a language ("und")."""
    if not text or not text.strip():
        return None
    lang = parse_language(text.strip().replace("_", "-").partition("-")[0])
    if lang is None or lang.alpha3 in NOT_LANGUAGES:
        return None
    return str(lang.alpha3)


def _in(stream: Mapping[str, Any], language: str | None) -> bool:
    return language is not None and language_code(stream.get("language")) == language


def preferred_tracks(
    streams: Sequence[Mapping[str, Any]],
    *,
    audio_language: str | None,
    subtitle_language: str | None,
    subtitle_mode: SubtitleMode,
) -> tuple[int | None, int | None]:
    """(audio index, subtitle index) to start with; None leaves the file's own default.

    Audio in the preferred language, the file's default among several such tracks.
    Subtitles: ``always`` in the preferred language (text before pictures, which must be
    burned in); ``forced`` only a forced track (signs and foreign dialogue) in the language
    of the audio or the preferred one; ``off`` none.
    """
    audio = [s for s in streams if s.get("type") == "audio"]
    wanted = language_code(audio_language)
    matching = [s for s in audio if _in(s, wanted)]
    chosen = next((s for s in matching if s.get("is_default")), matching[0] if matching else None)
    audio_index = int(chosen["idx"]) if chosen is not None else None
    playing = chosen or next((s for s in audio if s.get("is_default")), audio[0] if audio else None)
    subtitles = [s for s in streams if s.get("type") == "subtitle"]
    sub_language = language_code(subtitle_language)
    if subtitle_mode == "always":
        pool = [s for s in subtitles if _in(s, sub_language)]
    elif subtitle_mode == "forced":
        spoken = language_code(playing.get("language")) if playing else None
        pool = [
            s for s in subtitles if s.get("is_forced") and (_in(s, spoken) or _in(s, sub_language))
        ]
    else:
        pool = []
    pool.sort(key=lambda s: (s.get("codec") in IMAGE_SUBTITLES, not s.get("is_default")))
    return audio_index, (int(pool[0]["idx"]) if pool else None)
