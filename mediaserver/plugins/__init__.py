"""The plugin system: pluggy hooks documented in :mod:`mediaserver.plugins.hookspecs`."""
