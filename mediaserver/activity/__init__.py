"""Watching: progress and watched state per person (later: playback events, analytics)."""
