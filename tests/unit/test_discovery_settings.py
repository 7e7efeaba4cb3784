"""Discovery's settings and small parts: the switch, the node id, which addresses go out."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from mediaserver.config import ConfigError, load_settings
from mediaserver.discovery import mdns


def test_the_environment_switch_turns_it_off_and_on(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None, {}).discovery.enabled is True
    assert load_settings(None, {"MEDIASERVER_DISCOVERY": "off"}).discovery.enabled is False
    assert load_settings(None, {"MEDIASERVER_DISCOVERY": "Yes"}).discovery.enabled is True
    with pytest.raises(ConfigError, match="MEDIASERVER_DISCOVERY"):
        load_settings(None, {"MEDIASERVER_DISCOVERY": "sometimes"})
    monkeypatch.setenv("MEDIASERVER_DISCOVERY", "0")
    assert not mdns.discovery_allowed()  # wins over a file that says enabled = true
    monkeypatch.setenv("MEDIASERVER_DISCOVERY", "on")
    assert mdns.discovery_allowed()


def test_the_node_id_is_made_once_and_kept(tmp_path: Path) -> None:
    first = mdns.server_id(tmp_path)
    assert uuid.UUID(first) and mdns.server_id(tmp_path) == first
    (tmp_path / "server-id").write_text("not an id", encoding="ascii")
    assert mdns.server_id(tmp_path) != first  # a damaged file is replaced, not trusted


def test_which_addresses_are_announced() -> None:
    assert mdns.lan_addresses((), "198.51.100.7") == ["198.51.100.7"]  # the one listened on
    assert "127.0.0.1" not in mdns.lan_addresses((), "0.0.0.0")  # nobody else reaches it
    assert mdns.lan_addresses(("lo",), "0.0.0.0") == ["127.0.0.1"]  # unless asked for
    assert mdns.lan_addresses(("no-such-interface0",), "0.0.0.0") == []


def test_the_dlna_settings(tmp_path: Path) -> None:
    assert load_settings(None, {}).dlna.enabled is True and load_settings(None, {}).dlna.user == ""
    assert load_settings(None, {"MEDIASERVER_DLNA": "off"}).dlna.enabled is False
    with pytest.raises(ConfigError, match="MEDIASERVER_DLNA"):
        load_settings(None, {"MEDIASERVER_DLNA": "maybe"})
    config = tmp_path / "hearth.toml"
    config.write_text('[dlna]\nuser = "kids"\n', encoding="utf-8")
    assert load_settings(config, {}).dlna.user == "kids"
    config.write_text('[dlna]\nusers = "kids"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="users"):
        load_settings(config, {})
