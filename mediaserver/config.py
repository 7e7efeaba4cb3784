"""Settings: one typed, frozen structure from TOML plus ``MEDIASERVER_*`` environment overrides.

Every setting has a default that just works, so an empty (or absent) config file runs the
server on a demo library.  A bad value raises :class:`ConfigError` naming the key; the CLI
turns that into one line and exit code 2, never a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "ActivitySettings",
    "BackupSettings",
    "ConfigError",
    "DiscoverySettings",
    "FfmpegSettings",
    "LibrarySettings",
    "LoggingSettings",
    "NetworkSettings",
    "ServerSettings",
    "Settings",
    "StreamingSettings",
    "default_data_dir",
    "load_settings",
]

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class ConfigError(Exception):
    """A setting is wrong; the message names the key and says what is wrong."""


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    host: str = "0.0.0.0"
    port: Port = 8420
    # Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs); nobody else's.
    trusted_proxies: tuple[str, ...] = ()
    # API requests a minute per signed-in user (or per address before signing in); 0: no
    # limit. Media (segments, the file, images, previews) and static files are exempt.
    rate_limit_per_minute: Annotated[int, msgspec.Meta(ge=0)] = 1200

    def __post_init__(self) -> None:
        for entry in self.trusted_proxies:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"trusted_proxies: {entry!r} is not an address or CIDR") from None


class LibrarySettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    media_dirs: tuple[str, ...] = ()
    watch: bool = True
    watch_debounce_seconds: PositiveFloat = 2.0
    scan_interval_minutes: Annotated[int, msgspec.Meta(ge=0)] = 360
    scan_on_startup: bool = True
    probe_workers: Annotated[int, msgspec.Meta(ge=1, le=32)] = 2
    probe_timeout_seconds: PositiveFloat = 30.0
    poster_workers: Annotated[int, msgspec.Meta(ge=1, le=32)] = 2
    # Download the poster, fanart and actor photo URLs an NFO names ([network] rules).
    fetch_artwork: bool = True
    # Where the admin's folder browser may look (and where web-added library folders must
    # be); empty: those of /srv, /mnt, /media, /home and the service user's home that exist.
    browse_roots: tuple[str, ...] = ()


class FfmpegSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    ffmpeg: str = ""  # empty: PATH, then the imageio-ffmpeg wheel
    ffprobe: str = ""


class StreamingSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    segment_seconds: Annotated[float, msgspec.Meta(ge=1, le=10)] = 3.0
    max_transcodes: Annotated[int, msgspec.Meta(ge=0, le=64)] = 0  # 0: number of cores
    max_remuxes: Annotated[int, msgspec.Meta(ge=1, le=256)] = 16
    throttle: bool = True
    throttle_segments: Annotated[int, msgspec.Meta(ge=2, le=1000)] = 10
    idle_timeout_seconds: Annotated[float, msgspec.Meta(ge=2)] = 30.0
    # How long a viewer waits in line for a slot before "busy, try again in ..." (503).
    queue_seconds: Annotated[float, msgspec.Meta(ge=0, le=30)] = 5.0
    cache_max_mb: Annotated[int, msgspec.Meta(ge=64)] = 10_240
    token_ttl_hours: Annotated[float, msgspec.Meta(gt=0, le=168)] = 12.0
    preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "veryfast"
    trickplay: bool = True
    trickplay_interval_seconds: Annotated[int, msgspec.Meta(ge=1, le=600)] = 10
    trickplay_width: Annotated[int, msgspec.Meta(ge=64, le=640)] = 320

    @property
    def transcode_limit(self) -> int:
        return self.max_transcodes or (os.cpu_count() or 2)


class ActivitySettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Viewing progress and watched state; how long playback events and the activity log
    are kept."""

    watched_percent: Annotated[int, msgspec.Meta(ge=50, le=100)] = 90
    keep_events_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 90


class BackupSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Copies of the catalog and the config (``mediaserver backup``, and nightly)."""

    dir: str = ""  # empty: <data dir>/backups
    keep: Annotated[int, msgspec.Meta(ge=1, le=365)] = 7
    nightly: bool = True
    hour: Annotated[int, msgspec.Meta(ge=0, le=23)] = 3  # local time


class RecommendationSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The recommendation job: when it runs, and how soon new viewing starts another run."""

    enabled: bool = True
    hour: Annotated[int, msgspec.Meta(ge=0, le=23)] = 4  # nightly, local time
    interval_hours: Annotated[int, msgspec.Meta(ge=0, le=168)] = 0  # also every N hours; 0: no
    after_events: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 100  # 0: never early


class DiscoverySettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Announcing the server on the LAN (mDNS/DNS-SD), so TVs, apps and other nodes find it.

    ``MEDIASERVER_DISCOVERY=off`` turns it off whatever the file says.
    """

    enabled: bool = True
    name: Annotated[str, msgspec.Meta(max_length=63)] = ""  # empty: "Hearth on <host name>"
    # Interface names ("eth0") or addresses to announce on; empty: every one but loopback.
    interfaces: tuple[str, ...] = ()


class DlnaSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The DLNA media server that smart TVs, VLC and Kodi browse without signing in.

    ``user`` is whose view they get (that person's rating limit, libraries and Continue
    watching); empty: the first admin's.  ``MEDIASERVER_DLNA=off`` turns it off.
    """

    enabled: bool = True
    user: Annotated[str, msgspec.Meta(max_length=64)] = ""


class LoggingSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class NetworkSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Outbound requests (artwork, plugins, peers); see ``mediaserver.net.fetch``."""

    allow_private_fetch: tuple[str, ...] = ()  # CIDRs or host names a fetch may reach anyway
    allow_fetch_ports: tuple[Port, ...] = ()  # besides 80 and 443
    fetch_timeout_seconds: PositiveFloat = 10.0
    fetch_max_mb: PositiveInt = 20

    def __post_init__(self) -> None:
        for entry in self.allow_private_fetch:
            if not _is_network_or_host_name(entry):
                raise ValueError(
                    f"{entry!r} in allow_private_fetch is neither an address range "
                    "(CIDR, e.g. 192.168.1.0/24) nor a host name"
                )


_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$", re.IGNORECASE)


def _is_network_or_host_name(entry: str) -> bool:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        name = entry.removesuffix(".")
        # "1.2.3.999" is a broken address, not a name.
        return bool(_HOST_NAME.match(name)) and not name.rsplit(".", 1)[-1].isdigit()
    return True


class Settings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    data_dir: str = ""  # empty: $XDG_DATA_HOME/hearth
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    library: LibrarySettings = msgspec.field(default_factory=LibrarySettings)
    ffmpeg: FfmpegSettings = msgspec.field(default_factory=FfmpegSettings)
    streaming: StreamingSettings = msgspec.field(default_factory=StreamingSettings)
    activity: ActivitySettings = msgspec.field(default_factory=ActivitySettings)
    backup: BackupSettings = msgspec.field(default_factory=BackupSettings)
    recommendations: RecommendationSettings = msgspec.field(default_factory=RecommendationSettings)
    discovery: DiscoverySettings = msgspec.field(default_factory=DiscoverySettings)
    dlna: DlnaSettings = msgspec.field(default_factory=DlnaSettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    network: NetworkSettings = msgspec.field(default_factory=NetworkSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @property
    def database_path(self) -> Path:
        return self.data_path / "catalog.sqlite3"

    @property
    def backup_path(self) -> Path:
        return Path(self.backup.dir).expanduser() if self.backup.dir else self.data_path / "backups"

    @property
    def cache_path(self) -> Path:
        """Regenerable files (HLS segments, trickplay sprites, subtitles): safe to delete."""
        return self.data_path / "cache"

    @property
    def media_paths(self) -> tuple[Path, ...]:
        return tuple(Path(p).expanduser() for p in self.library.media_dirs)


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hearth"


# Environment variable -> (path in the settings tree, parser of the raw string).
_ENV: dict[str, tuple[tuple[str, ...], Any]] = {
    "MEDIASERVER_HOST": (("server", "host"), str),
    "MEDIASERVER_PORT": (("server", "port"), str),
    "MEDIASERVER_DATA_DIR": (("data_dir",), str),
    "MEDIASERVER_MEDIA_DIRS": (
        ("library", "media_dirs"),
        lambda raw: [p for p in raw.split(":") if p],
    ),
    "MEDIASERVER_BROWSE_ROOTS": (
        ("library", "browse_roots"),
        lambda raw: [p for p in raw.split(":") if p],
    ),
    "MEDIASERVER_LOG_LEVEL": (("logging", "level"), str.lower),
    "MEDIASERVER_LOG_FORMAT": (("logging", "format"), str.lower),
    "MEDIASERVER_DISCOVERY": (("discovery", "enabled"), lambda raw: _switch(raw)),
    "MEDIASERVER_DLNA": (("dlna", "enabled"), lambda raw: _switch(raw)),
}


def _switch(raw: str) -> bool | str:
    """on/off, yes/no, true/false, 1/0; anything else is passed on to be refused by name."""
    word = raw.strip().lower()
    if word in ("on", "yes", "true", "1"):
        return True
    if word in ("off", "no", "false", "0"):
        return False
    return raw


_AT = re.compile(r"^(?P<msg>.*) - at `\$\.?(?P<path>[^`]*)`$")


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file (``MEDIASERVER_CONFIG`` when not given), apply env overrides, validate."""
    env = os.environ if environ is None else environ
    if config_file is None and env.get("MEDIASERVER_CONFIG"):
        config_file = Path(env["MEDIASERVER_CONFIG"])
    raw: dict[str, Any] = {}
    if config_file is not None:
        raw = _read_toml(config_file)
    env_keys: dict[tuple[str, ...], str] = {}
    for name, (path, parse) in _ENV.items():
        if name in env:
            _set_path(raw, path, parse(env[name]))
            env_keys[path] = name
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc, env_keys)) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: object) -> None:
    for key in path[:-1]:
        node = tree.setdefault(key, {})
        if not isinstance(node, dict):
            node = tree[key] = {}
        tree = node
    tree[path[-1]] = value


def _describe(exc: msgspec.ValidationError, env_keys: Mapping[tuple[str, ...], str]) -> str:
    text = str(exc).replace("Object contains unknown field", "unknown setting")
    match = _AT.match(text)
    if not match:
        return f"invalid configuration: {text}"
    key = re.sub(r"\[\d+\]$", "", match["path"])
    source = env_keys.get(tuple(key.split(".")))
    where = f"{key} (from {source})" if source else key
    message = match["msg"]
    return f"{where}: {message}" if key else message
