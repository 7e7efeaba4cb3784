"""With no media folders configured, Hearth generates a demo library and serves it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.integration.conftest import auth_headers

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg on PATH")


@dataclass
class Demo:
    client: httpx.Client
    startups: list[str]  # /health "startup" values seen while waiting, in order


@pytest.fixture(scope="module")
def demo(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    poll: Callable[..., Any],
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[Demo]:
    data = tmp_path_factory.mktemp("demo-data")
    with (
        hearth_server(data) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as http,
    ):
        startups: list[str] = []

        def ready() -> bool:
            startups.append(http.get("/health").json()["startup"])
            assert startups[-1] != "failed", "demo library generation failed"
            return startups[-1] == "ready"

        poll(ready, 120, "the demo library to be generated", interval=0.2)
        scan_waiter(http, timeout=60)
        yield Demo(http, startups)


@pytest.fixture
def client(demo: Demo) -> httpx.Client:
    return demo.client


def test_startup_reports_generation_then_ready(demo: Demo, client: httpx.Client) -> None:
    startups = demo.startups
    assert any(state.startswith("generating demo library") for state in startups)
    assert startups[-1] == "ready"
    for state in startups:  # "generating demo library (3/15)" shows progress
        assert re.fullmatch(r"starting|generating demo library( \(\d+/\d+\))?|ready", state)
    health = client.get("/health").json()
    assert (health["status"], health["startup"]) == ("ok", "ready")


def test_demo_library_is_the_one_library(client: httpx.Client) -> None:
    (library,) = client.get("/api/v1/libraries").json()["libraries"]
    assert library["name"] == "Demo library"
    assert library["counts"]["movie"] >= 2


def test_demo_movies(client: httpx.Client) -> None:
    body = client.get("/api/v1/items", params={"kind": "movie"}).json()
    assert body["total"] >= 2
    assert "Test Pattern Odyssey" in [item["title"] for item in body["items"]]
    for item in body["items"]:
        detail = client.get(f"/api/v1/items/{item['id']}").json()
        assert detail["files"], item["title"]
        assert any(s["type"] == "video" for s in detail["files"][0]["streams"])


def test_demo_show_has_two_seasons_of_two_episodes(client: httpx.Client) -> None:
    shows = client.get("/api/v1/items", params={"kind": "show"}).json()["items"]
    show = next(s for s in shows if s["title"] == "Signal Tests")
    seasons = client.get(f"/api/v1/items/{show['id']}/children").json()["items"]
    assert [s["season_number"] for s in seasons] == [1, 2]
    for season in seasons:
        episodes = client.get(f"/api/v1/items/{season['id']}/children").json()["items"]
        assert [e["episode_number"] for e in episodes] == [1, 2]
        assert all(e["kind"] == "episode" for e in episodes)


def test_demo_home_page_lists_it(client: httpx.Client) -> None:
    html = client.get("/").text
    assert "Demo library" in html
    assert "Signal Tests" in html
    assert "Preparing your library" not in html
