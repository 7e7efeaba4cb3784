"""Streaming: deciding how a client plays a file, and serving it."""
