"""Settings: the example file, environment overrides, and errors that name the key."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mediaserver.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config.example.toml"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def _struct_keys(struct: type[msgspec.Struct], prefix: str = "") -> set[str]:
    """Every dotted setting name of ``struct``, sections recursed into."""
    keys: set[str] = set()
    for field in msgspec.structs.fields(struct):
        name = f"{prefix}{field.encode_name}"
        if isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            keys |= _struct_keys(field.type, name + ".")
        else:
            keys.add(name)
    return keys


def _toml_keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, value in tree.items():
        if isinstance(value, dict):
            keys |= _toml_keys(value, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hearth.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_and_equals_the_defaults() -> None:
    assert load_settings(EXAMPLE, environ={}) == Settings()


def test_example_config_lists_every_setting_and_nothing_else() -> None:
    with EXAMPLE.open("rb") as fh:
        example = _toml_keys(tomllib.load(fh))
    settings = _struct_keys(Settings)
    assert "server.port" in settings and "library.probe_timeout_seconds" in settings
    assert sorted(settings - example) == [], "settings missing from config.example.toml"
    assert sorted(example - settings) == [], "config.example.toml has keys Settings lacks"


def test_no_file_and_no_environment_gives_defaults() -> None:
    settings = load_settings(environ={})
    assert settings == Settings()
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 8420)
    assert settings.library.media_dirs == ()


def test_environment_overrides(tmp_path: Path) -> None:
    config = _write(tmp_path, '[server]\nhost = "10.0.0.1"\nport = 1111\n')
    settings = load_settings(
        config,
        environ={
            "MEDIASERVER_HOST": "127.0.0.1",
            "MEDIASERVER_PORT": "9000",
            "MEDIASERVER_DATA_DIR": "/srv/hearth",
            "MEDIASERVER_MEDIA_DIRS": "/media/films::/media/tv shows:",
            "MEDIASERVER_LOG_LEVEL": "DEBUG",
        },
    )
    assert settings.server.host == "127.0.0.1"
    assert settings.server.port == 9000 and isinstance(settings.server.port, int)
    assert settings.data_dir == "/srv/hearth"
    assert settings.database_path == Path("/srv/hearth/catalog.sqlite3")
    assert settings.library.media_dirs == ("/media/films", "/media/tv shows")
    assert settings.media_paths == (Path("/media/films"), Path("/media/tv shows"))
    assert settings.logging.level == "debug"


def test_mediaserver_config_names_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path, "[server]\nport = 1234\n[library]\nprobe_workers = 4\n")
    settings = load_settings(environ={"MEDIASERVER_CONFIG": str(config)})
    assert settings.server.port == 1234
    assert settings.library.probe_workers == 4
    # An explicit file wins over the variable.
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 4321\n", encoding="utf-8")
    assert load_settings(other, environ={"MEDIASERVER_CONFIG": str(config)}).server.port == 4321


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("", {"MEDIASERVER_PORT": "abc"}, ["server.port", "MEDIASERVER_PORT", "int"]),
        ("[server]\nport = 70000\n", {}, ["server.port", "65535"]),
        ("[server]\nport = 0\n", {}, ["server.port", ">= 1"]),
        ("[server]\nhots = 'x'\n", {}, ["server", "unknown setting", "hots"]),
        ("colour = 'blue'\n", {}, ["unknown setting", "colour"]),
        ('[logging]\nlevel = "loud"\n', {}, ["logging.level", "loud"]),
        ("", {"MEDIASERVER_LOG_LEVEL": "loud"}, ["logging.level", "MEDIASERVER_LOG_LEVEL"]),
        ("[library]\nprobe_workers = 0\n", {}, ["library.probe_workers", ">= 1"]),
        ("[library]\nmedia_dirs = [1]\n", {}, ["library.media_dirs", "str"]),
        ("server = 3\n", {}, ["server", "object"]),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, text: str, environ: dict[str, str], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text), environ=environ)
    message = str(info.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert "\n" not in message


def test_bad_toml_is_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "[server\nport = ")
    with pytest.raises(ConfigError, match="is not valid TOML") as info:
        load_settings(path, environ={})
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=f"config file {missing} does not exist"):
        load_settings(environ={"MEDIASERVER_CONFIG": str(missing)})


def test_unreadable_config_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_settings(tmp_path, environ={})  # a folder, not a file


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.server.port = 1  # type: ignore[misc]


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")}
    env |= {"MEDIASERVER_PORT": "abc", "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(  # noqa: S603
        [
            str(VENV_PYTHON if VENV_PYTHON.exists() else sys.executable),
            "-m",
            "mediaserver",
            "doctor",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "server.port" in lines[0] and "MEDIASERVER_PORT" in lines[0]
    assert lines[0].startswith("configuration error: ")
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing was created before the config was read
