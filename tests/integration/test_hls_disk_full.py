"""A full disk under the segment cache: the player gets a clear error, direct play goes on.

The cache folder is a 200 KB tmpfs mounted by the test (root only; skipped otherwise), so the
disk really fills: no write is faked.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import auth_headers

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def full_cache(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "data"
    cache = data_dir / "cache" / "hls"
    cache.mkdir(parents=True)
    mounted = subprocess.run(  # noqa: S603
        ["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(cache)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=False)  # noqa: S603


def test_a_full_disk_is_a_clear_error_and_direct_play_still_works(
    full_cache: Path,
    tmp_path: Path,
    ffmpeg_binary: str,
    hearth_server: Callable[..., AbstractContextManager[str]],
    scan_waiter: Callable[..., dict[str, Any]],
) -> None:
    media = tmp_path / "media" / "Movies"
    make_clip(media / "Full Disk (2020).mp4", seconds=12, size="640x360", ffmpeg=ffmpeg_binary)
    with (
        hearth_server(full_cache, [media.parent], streaming={"trickplay": False}) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=90) as client,
    ):
        scan_waiter(client)
        (item,) = client.get("/api/v1/items", params={"kind": "movie"}).json()["items"]
        master = client.get(
            f"/api/v1/items/{item['id']}/hls/master.m3u8", params={"profile": "chromium"}
        )
        assert master.status_code == 200, master.text
        variant = next(x for x in master.text.splitlines() if x.startswith("/api/v1/hls/"))
        playlist = client.get(variant).text
        base = variant.rsplit("/", 1)[0]
        answers = [
            client.get(f"{base}/{name}")
            for name in playlist.splitlines()
            if name and not name.startswith("#")
        ]
        failed = [a for a in answers if a.status_code != 200]
        assert failed, "a 200 KB disk held the whole stream"
        assert failed[0].status_code == 503
        assert "disk is full" in failed[0].json()["detail"]
        assert "Retry-After" in failed[0].headers
        # Nothing half-written was kept as a segment.
        cache = full_cache / "cache" / "hls"
        assert not list(cache.rglob("*.tmp"))
        direct = client.get(f"/api/v1/items/{item['id']}/file")
        assert direct.status_code == 200 and len(direct.content) > 200_000
        assert client.get("/health").status_code == 200
