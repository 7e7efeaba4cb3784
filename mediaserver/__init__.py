"""Hearth: a self-hosted home media server."""

__version__ = "0.1.0.dev0"
