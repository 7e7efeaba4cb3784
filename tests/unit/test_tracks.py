"""Starting tracks from a viewer's language preferences."""

from __future__ import annotations

from typing import Any

import pytest

from mediaserver.accounts.preferences import PreferenceError, Preferences
from mediaserver.streaming.tracks import language_code, preferred_tracks

STREAMS: list[dict[str, Any]] = [
    {"idx": 0, "type": "video", "codec": "h264"},
    {"idx": 1, "type": "audio", "language": "eng", "is_default": True},
    {"idx": 2, "type": "audio", "language": "fre"},
    {"idx": 3, "type": "audio", "language": "fra", "is_default": True},  # commentary, say
    {"idx": 4, "type": "subtitle", "codec": "hdmv_pgs_subtitle", "language": "fre"},
    {"idx": 5, "type": "subtitle", "codec": "subrip", "language": "fr"},
    {"idx": 6, "type": "subtitle", "codec": "subrip", "language": "eng", "is_forced": True},
]


def pick(audio: str | None, subtitle: str | None, mode: Any) -> tuple[int | None, int | None]:
    return preferred_tracks(
        STREAMS, audio_language=audio, subtitle_language=subtitle, subtitle_mode=mode
    )


@pytest.mark.parametrize("spelling", ["fre", "fra", "fr", "French", "fr-CA"])
def test_every_spelling_of_a_language_is_one_code(spelling: str) -> None:
    assert language_code(spelling) == "fra"


def test_audio_follows_the_language_and_the_files_default_among_several() -> None:
    assert pick("fra", None, "off") == (3, None)
    assert pick("deu", None, "off") == (None, None)  # not in the file: its own default
    assert pick(None, None, "off") == (None, None)


def test_subtitles_always_prefer_text_in_the_language() -> None:
    assert pick(None, "fre", "always") == (None, 5)  # text before pictures to burn in


def test_forced_subtitles_follow_the_language_spoken() -> None:
    assert pick("eng", None, "forced") == (1, 6)
    assert pick("fra", None, "forced") == (3, None)  # the forced track is English


def test_preferences_are_checked_and_stored_as_codes() -> None:
    checked = Preferences(audio_language="French", subtitle_language="en").checked()
    assert (checked.audio_language, checked.subtitle_language) == ("fra", "eng")
    with pytest.raises(PreferenceError, match="not a language"):
        Preferences(audio_language="Klingonese").checked()
    with pytest.raises(PreferenceError, match="needs a subtitle_language"):
        Preferences(subtitle_mode="always").checked()
