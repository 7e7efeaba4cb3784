"""The data folder's disk filling up during progress writes: clean 507s, nothing lost or
damaged, and writes work again once there is room (issue 6, reliability).

The data folder is a small tmpfs mounted by the test (root only; skipped otherwise), so
the disk really fills: no write is faked.
"""

from __future__ import annotations

import errno
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import auth_headers, run_hearth, wait_for_scan

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "data"
    data.mkdir()
    mounted = subprocess.run(  # noqa: S603
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(data)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)  # noqa: S603


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    # Unbuffered: a buffer left over when the disk fills would fail again on close.
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _assert_degraded(answer: httpx.Response) -> None:
    """/health says why writes fail, in words, with a 503 for load balancers."""
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["status"] == "degraded" and body["writable"] is False
    assert any("disk of the data folder is full" in p for p in body["problems"]), body
    assert {"version", "db", "ffmpeg", "startup", "scan"} <= set(body)  # the shape stands
    head = httpx.head(str(answer.url))
    assert head.status_code == 503 and head.content == b""


def test_a_full_disk_is_a_507_and_nothing_is_lost(small_disk: Path, tmp_path: Path) -> None:
    media = tmp_path / "media"
    make_clip(media / "Tight Space (2020).mp4", seconds=600, size="64x36", video="color=c=red",
              audio=False, output={"r": 1, "preset": "ultrafast"})  # fmt: skip
    with run_hearth(small_disk, [media], streaming={"trickplay": False}) as url:
        client = httpx.Client(base_url=url, headers=auth_headers(url), timeout=30)
        wait_for_scan(client)
        (film,) = [i["id"] for i in client.get("/api/v1/items?kind=movie").json()["items"]]

        def report(position: float) -> httpx.Response:
            return client.post(f"/api/v1/items/{film}/progress", json={"position_s": position})

        assert report(40.0).status_code == 200
        assert client.get("/health").json()["status"] == "ok"
        filler = _fill(small_disk)
        acknowledged, refused = 40.0, None
        for n in range(400):  # until the journal needs a page the disk does not have
            answer = report(41.0 + n)
            assert answer.status_code in (200, 507), answer.text
            if answer.status_code == 507:
                refused = answer
                break
            acknowledged = 41.0 + n
        assert refused is not None, "the disk never filled"
        assert "disk is full" in refused.json()["detail"]
        assert refused.headers["Retry-After"] == "60"
        _assert_degraded(client.get("/health"))
        stored = client.get(f"/api/v1/items/{film}").json()["user_data"]["position_s"]
        assert stored == acknowledged  # the refused write changed nothing
        filler.unlink()
        healthy = client.get("/health")  # its own small write shows that saving works again
        assert healthy.status_code == 200 and healthy.json()["status"] == "ok", healthy.text
        assert healthy.json()["writable"] is True and healthy.json()["problems"] == []
        assert report(500.0).status_code == 200  # room again: writes work at once
        assert client.get(f"/api/v1/items/{film}").json()["user_data"]["position_s"] == 500.0
        client.close()
    with sqlite3.connect(small_disk / "catalog.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
