"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from mediaserver.streaming import subtitles


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every ffmpeg argv the subtitle cache (WebVTT, ASS/SSA, fonts) runs."""
    seen: list[list[str]] = []
    real = subtitles.run_ffmpeg

    def counting(argv, *, timeout_s):
        seen.append(list(argv))
        return real(argv, timeout_s=timeout_s)

    monkeypatch.setattr(subtitles, "run_ffmpeg", counting)
    return seen
