"""Devices by the names people know them by, from what they send as ``User-Agent``."""

from __future__ import annotations

__all__ = ["describe_device"]

_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chromium/", "Chromium"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))  # fmt: skip
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))  # fmt: skip


def describe_device(user_agent: str | None) -> str | None:
    """``Firefox on Linux`` for a browser; an app or a TV as it calls itself; None if blank."""
    text = (user_agent or "").strip()
    if not text:
        return None
    if not text.startswith("Mozilla/"):
        return text[:40]
    browser = next((name for key, name in _BROWSERS if key in text), "a browser")
    system = next((name for key, name in _SYSTEMS if key in text), None)
    return f"{browser} on {system}" if system else browser
