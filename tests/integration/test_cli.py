"""The ``mediaserver`` command run the way people run it: ``python -m mediaserver ...``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaserver import __version__
from mediaserver.config import load_settings
from mediaserver.doctor import NETWORK_FILESYSTEMS, filesystem_type
from tests.integration.conftest import make_admin

PYTHON = sys.executable  # the venv's python, which pytest runs under
LIBRARY_FILES = 8


def cli_env(
    data_dir: Path, media: Path | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment without any MEDIASERVER_* the developer may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIASERVER_")}
    env["MEDIASERVER_DATA_DIR"] = str(data_dir)
    env["MEDIASERVER_LOG_LEVEL"] = "warning"
    env["MEDIASERVER_DISCOVERY"] = "off"  # never announce on this machine's network
    if media is not None:
        env["MEDIASERVER_MEDIA_DIRS"] = str(media)
    return env | dict(extra or {})


def mediaserver(
    *args: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [PYTHON, "-m", "mediaserver", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_version(tmp_path: Path) -> None:
    done = mediaserver("--version", env=cli_env(tmp_path))
    assert done.returncode == 0
    assert done.stdout.strip() == f"Hearth {__version__}"


def test_doctor_on_a_fresh_data_dir(tmp_path: Path, hearth_library: Path) -> None:
    data = tmp_path / "fresh"  # does not exist yet: doctor creates it
    done = mediaserver("doctor", env=cli_env(data, hearth_library))
    assert done.returncode == 0, done.stdout + done.stderr
    version = subprocess.run(  # noqa: S603
        [shutil.which("ffmpeg") or "ffmpeg", "-hide_banner", "-version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[2]
    assert re.search(rf"^\[ok  \] ffmpeg {re.escape(version)} at \S+", done.stdout, re.MULTILINE)
    assert f"[ok  ] data folder {data} is writable" in done.stdout
    assert "does not exist yet" in done.stdout
    assert f"media folder {hearth_library} is readable" in done.stdout
    assert done.stdout.rstrip().endswith("all checks passed")
    assert data.is_dir()
    assert not any(data.iterdir())  # the write test left nothing behind


def test_doctor_fails_on_an_unreadable_media_folder(tmp_path: Path) -> None:
    done = mediaserver("doctor", env=cli_env(tmp_path, tmp_path / "no-such-folder"))
    assert done.returncode == 1
    assert "[FAIL] media folder" in done.stdout
    assert "1 check(s) failed" in done.stdout


def test_filesystem_type_spots_network_mounts(tmp_path: Path) -> None:
    nas, local, spaced = tmp_path / "nas", tmp_path / "nas-local", tmp_path / "my disk"
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "sysfs /sys sysfs rw 0 0\n"
        "/dev/sda1 / ext4 rw,relatime 0 0\n"
        f"server:/export {nas} nfs4 rw,vers=4.2 0 0\n"
        f"/dev/sdb1 {local} xfs rw 0 0\n"
        f"//nas/share {str(spaced).replace(' ', chr(92) + '040')} cifs rw 0 0\n"
        "garbage\n",
        encoding="utf-8",
    )
    assert filesystem_type(nas / "hearth" / "catalog", str(mounts)) == "nfs4"
    assert filesystem_type(nas, str(mounts)) == "nfs4"
    assert filesystem_type(local / "hearth", str(mounts)) == "xfs"  # a prefix is not a parent
    assert filesystem_type(spaced / "x", str(mounts)) == "cifs"
    assert filesystem_type(Path("/srv/media"), str(mounts)) == "ext4"
    assert filesystem_type(nas, str(tmp_path / "missing")) is None
    assert "nfs4" in NETWORK_FILESYSTEMS
    assert "cifs" in NETWORK_FILESYSTEMS
    assert not {"ext4", "xfs", "btrfs", "zfs", "tmpfs"} & NETWORK_FILESYSTEMS


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, hearth_library: Path) -> tuple[Path, str]:
    """A data dir after one ``scan``, and what that scan printed."""
    data = tmp_path_factory.mktemp("cli-scan")
    done = mediaserver("scan", env=cli_env(data, hearth_library))
    assert done.returncode == 0, done.stderr
    return data, done.stdout


def summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if re.match(r"Test Library: \d+ files", line)]
    assert lines, output
    return lines[-1]


def test_scan_prints_a_summary(scanned: tuple[Path, str]) -> None:
    line = summary_line(scanned[1])
    assert f": {LIBRARY_FILES} files, 0 unchanged, {LIBRARY_FILES} probed" in line
    assert re.search(r"\b10 added, 0 removed\b", line)  # 3 movies, 1 show, 2 seasons, 4 episodes
    assert re.search(r"in \d+\.\d\d s$", line)


def test_second_scan_probes_nothing(scanned: tuple[Path, str], hearth_library: Path) -> None:
    done = mediaserver("scan", "--quiet", env=cli_env(scanned[0], hearth_library))
    assert done.returncode == 0, done.stderr
    line = summary_line(done.stdout)
    assert f"{LIBRARY_FILES} files, {LIBRARY_FILES} unchanged, 0 probed" in line
    assert "0 added, 0 removed" in line


def test_scan_of_an_unknown_library(scanned: tuple[Path, str], hearth_library: Path) -> None:
    done = mediaserver("scan", "--library", "999", env=cli_env(scanned[0], hearth_library))
    assert done.returncode == 1
    assert done.stderr.strip() == "error: no library with id 999"


def test_doctor_after_a_scan_checks_integrity(
    scanned: tuple[Path, str], hearth_library: Path
) -> None:
    done = mediaserver("doctor", env=cli_env(scanned[0], hearth_library))
    assert done.returncode == 0, done.stdout
    assert re.search(
        r"^\[ok  \] catalog \S+catalog\.sqlite3 \(schema v\d+\) passes integrity_check$",
        done.stdout,
        re.MULTILINE,
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"MEDIASERVER_PORT": "abc"}, "MEDIASERVER_PORT"),
        ({"MEDIASERVER_PORT": "70000"}, "MEDIASERVER_PORT"),
        ({"MEDIASERVER_LOG_LEVEL": "loud"}, "MEDIASERVER_LOG_LEVEL"),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], variable: str
) -> None:
    done = mediaserver("serve", env=cli_env(tmp_path, extra=env), timeout=30)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("configuration error: ")
    assert variable in line
    assert "Traceback" not in done.stdout
    assert not (tmp_path / "catalog.sqlite3").exists()  # nothing was started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def processes_in_session(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is ``sid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append(int(entry))
    return found


class Served:
    """A ``mediaserver serve`` subprocess; its output goes to files (a full pipe would block it)."""

    def __init__(
        self, process: subprocess.Popen[bytes], url: str, logs: Path, headers: dict[str, str]
    ) -> None:
        self.process, self.url, self.logs, self.headers = process, url, logs, headers

    def output(self, name: str) -> str:
        return (self.logs / name).read_text(encoding="utf-8", errors="replace")


@pytest.fixture
def served(tmp_path: Path, hearth_library: Path) -> Iterator[Served]:
    port = free_port()
    config = tmp_path / "hearth.toml"
    config.write_text("[library]\nwatch = true\nscan_interval_minutes = 5\n", encoding="utf-8")
    env = cli_env(
        tmp_path / "data",
        hearth_library,
        {
            "MEDIASERVER_HOST": "127.0.0.1",
            "MEDIASERVER_PORT": str(port),
            "MEDIASERVER_CONFIG": str(config),
        },
    )
    key = make_admin(load_settings(config, env))
    with (tmp_path / "stdout").open("wb") as out, (tmp_path / "stderr").open("wb") as err:
        # Its own session: every process it starts (probe workers...) is found by session id.
        process = subprocess.Popen(  # noqa: S603
            [PYTHON, "-m", "mediaserver", "serve"],
            env=env,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    try:
        yield Served(
            process, f"http://127.0.0.1:{port}", tmp_path, {"Authorization": f"Bearer {key}"}
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_serve_answers_and_stops_cleanly_on_sigterm(
    served: Served, poll: Callable[..., Any]
) -> None:
    process = served.process

    def get(path: str) -> dict[str, Any] | None:
        assert process.poll() is None, served.output("stderr")
        try:
            response = httpx.get(served.url + path, headers=served.headers, timeout=2)
        except httpx.TransportError:
            return None
        return dict(response.json()) if response.status_code == 200 else None

    body = poll(lambda: get("/health"), 30, "the server to answer /health", interval=0.2)
    assert body["status"] == "ok"
    assert body["version"] == __version__

    def scan_started() -> bool:
        status = get("/api/v1/scan/status") or {}
        return status.get("state") == "running" or bool(status.get("last"))

    # Stop it mid-scan when we can: that is when probe worker processes exist.
    poll(scan_started, 30, "the scan to start", interval=0.02)
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("the server did not exit within 10 s of SIGTERM")
    assert time.monotonic() - sent < 10
    # uvicorn shuts down gracefully, then re-raises the signal it caught: -15 is expected.
    assert code in (0, -signal.SIGTERM), served.output("stderr")
    data = served.logs / "data"
    assert (data / "catalog.sqlite3").exists()
    assert not (data / "catalog.sqlite3-wal").exists()  # closed cleanly: WAL checkpointed
    assert f"Hearth {__version__} is starting on http://127.0.0.1:" in served.output("stdout")
    # Anything it started must be gone too (a helper may need a moment to see its parent go).
    poll(lambda: not processes_in_session(process.pid), 5, "the server's children to exit")
    assert "Traceback" not in served.output("stderr"), served.output("stderr")


def test_recommend_runs_the_job_from_the_command_line(tmp_path: Path) -> None:
    from mediaserver.testing import user_credentials

    user_credentials(tmp_path, "ann", "a long household password")
    done = subprocess.run(  # noqa: S603
        [PYTHON, "-m", "mediaserver", "recommend", "--quiet"],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"recommendations for 1 person from 0 titles in [\d.]+ s", done.stdout)
