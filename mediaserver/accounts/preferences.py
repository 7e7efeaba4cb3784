"""A person's playback preferences: which audio and subtitle languages to start with.

Stored as JSON in ``users.preferences``; unknown or misspelt languages are refused with a
message rather than stored and silently never matched.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from mediaserver.streaming.tracks import SubtitleMode, language_code

__all__ = ["PreferenceError", "Preferences", "decode", "encode"]

Language = Annotated[str, msgspec.Meta(max_length=40)]


class PreferenceError(ValueError):
    """A preference that cannot be used; the message says why."""


class Preferences(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    audio_language: Language | None = None  # None: the file's default track
    subtitle_language: Language | None = None
    subtitle_mode: SubtitleMode = "forced"  # off | forced (signs, foreign lines) | always
    autoplay_next: bool = True  # at an episode's end, count down and play the next one

    def checked(self) -> Preferences:
        """The same preferences with languages as ISO 639-3 codes; PreferenceError if unknown."""
        codes: dict[str, str | None] = {}
        for field in ("audio_language", "subtitle_language"):
            given = getattr(self, field)
            code = language_code(given) if given else None
            if given and code is None:
                raise PreferenceError(f"{field}: {given!r} is not a language Hearth knows")
            codes[field] = code
        if self.subtitle_mode == "always" and codes["subtitle_language"] is None:
            raise PreferenceError("subtitle_mode: 'always' needs a subtitle_language")
        return msgspec.structs.replace(self, **codes)


_decoder = msgspec.json.Decoder(Preferences)


def decode(raw: str | bytes | None) -> Preferences:
    if not raw:
        return Preferences()
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError:
        return Preferences()  # written by a newer Hearth: the defaults, not an error page


def encode(preferences: Preferences) -> str:
    return msgspec.json.encode(preferences).decode()
