"""``mediaserver backup`` while the server runs, ``restore`` once it has stopped: the
catalog and every person's state come back as they were at the backup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.integration.conftest import auth_headers, run_hearth, wait_for_scan

PASSWORD = "a long household password"


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDIASERVER_DATA_DIR": str(data_dir)}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "mediaserver", *args],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip


def test_a_backup_taken_live_restores_the_catalog_and_user_state(
    tmp_path: Path, hearth_library: Path
) -> None:
    data = tmp_path / "data"
    with run_hearth(data, [hearth_library]) as url, httpx.Client(base_url=url, timeout=30) as c:
        admin = auth_headers(url)
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        film = c.get("/api/v1/items?kind=movie", headers=admin).json()["items"][0]["id"]
        c.post(f"/api/v1/items/{film}/watched", headers=admin)
        taken = cli(data, "backup", "--quiet")
        assert taken.returncode == 0, taken.stderr
        backup = Path(taken.stdout.split("backed up to ", 1)[1].split()[0])
        assert backup.parent == data / "backups" and backup.is_file()
        # After the backup: a new user, and the film no longer watched.
        made = c.post("/api/v1/users", json={"name": "Late", "password": PASSWORD}, headers=admin)
        assert made.status_code == 201
        c.delete(f"/api/v1/items/{film}/watched", headers=admin)
        refused = cli(data, "restore", str(backup))
        assert refused.returncode == 1 and "stop it first" in refused.stderr
    restored = cli(data, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert "replaced catalog is kept as" in restored.stdout
    with run_hearth(data, [hearth_library]) as url, httpx.Client(base_url=url, timeout=30) as c:
        admin = auth_headers(url)
        item = c.get(f"/api/v1/items/{film}", headers=admin).json()
        assert item["user_data"]["watched"] is True
        names = [u["name"] for u in c.get("/api/v1/users", headers=admin).json()["users"]]
        assert "Late" not in names


def test_a_file_that_is_not_a_backup_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"nope" * 1000)
    answer = cli(tmp_path / "data", "restore", str(junk))
    assert answer.returncode == 1 and "not a Hearth catalog" in answer.stderr
    assert not (tmp_path / "data" / "catalog.sqlite3").exists()


def test_the_tasks_list_runs_a_backup_now(tmp_path: Path) -> None:
    import time

    data, empty = tmp_path / "data", tmp_path / "media"
    empty.mkdir()  # not the demo library: it would go on being made after the test
    with run_hearth(data, [empty]) as url, httpx.Client(base_url=url, timeout=30) as c:
        admin = auth_headers(url)
        listed = {t["id"]: t for t in c.get("/api/v1/tasks", headers=admin).json()["tasks"]}
        assert set(listed) == {"library-scan", "trickplay", "backup", "rollup", "recommendations"}
        assert listed["rollup"]["next_run"] is not None  # hourly
        assert listed["backup"]["next_run"] is not None  # nightly by default
        assert listed["backup"]["last_run"] is None
        started = c.post("/api/v1/tasks/backup/run", headers=admin)
        assert started.status_code == 202 and started.json()["started"] is True
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            task = next(
                t
                for t in c.get("/api/v1/tasks", headers=admin).json()["tasks"]
                if t["id"] == "backup"
            )
            if task["last_run"]:
                break
            time.sleep(0.1)
        assert task["last_run"]["outcome"] == "ok", task
        backups = c.get("/api/v1/backups", headers=admin).json()["backups"]
        assert len(backups) == 1 and backups[0]["name"].startswith("hearth-")
        page = c.get("/admin/tasks", headers={**admin, "accept": "text/html"})
        assert page.status_code == 200 and backups[0]["name"] in page.text
        assert c.post("/api/v1/tasks/nope/run", headers=admin).status_code == 404
