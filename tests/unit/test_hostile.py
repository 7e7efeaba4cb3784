"""Hostile libraries: broken, odd and malicious files end up flagged, never crash or hang a scan."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mediaserver.db import Database
from mediaserver.ffmpeg_tools import low_priority_prefix
from mediaserver.library import images, queries
from mediaserver.library.images import extract_frame
from mediaserver.testing import open_catalog, scan_folder

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534
GOOD = [
    "Amélie.2001.mkv",
    "東京物語.1953.mp4",
    'It\'s "Quoted".mp4',
    "$(touch pwned).mp4",
    "; rm -rf x.mp4",
    "-rf.mp4",
    "--help.mkv",
    "Été " + "é" * 121 + ".mp4",  # 250 bytes of UTF-8
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with open_catalog(tmp_path / "data") as catalog:
        yield catalog


def _build_hostile(root: Path, clips: Path) -> dict[str, str]:
    """Write the library; returns bad file name -> a word its problem reason must contain."""
    for name in GOOD:
        shutil.copyfile(
            clips / ("h264.mkv" if name.endswith(".mkv") else "h264_aac.mp4"), root / name
        )
    (root / "truncated.mp4").write_bytes((clips / "h264_aac.mp4").read_bytes()[:3000])
    (root / "empty.mkv").touch()
    os.mkfifo(root / "x.mkv")
    (root / "sub").mkdir()
    (root / "sub" / "loop").symlink_to("..")
    (root / "self.mkv").symlink_to("self.mkv")
    (root / "zero.mkv").symlink_to("/dev/zero")
    other = clips / "h264_aac.mp4"
    (root / "evil_concat.mkv").write_text(f"ffconcat version 1.0\nfile '{other}'\n")
    # A relative entry passes the concat demuxer's "safe" check; with a duration the result
    # even looked playable until the guard allowed only real container formats.
    (root / "evil_relative.mkv").write_text("ffconcat version 1.0\nfile '-rf.mp4'\nduration 2.0\n")
    (root / "evil_hls.mkv").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhttp://127.0.0.1:9/x.ts\n#EXT-X-ENDLIST\n"
    )
    return {
        "truncated.mp4": "not a readable media file",
        "empty.mkv": "empty file (0 bytes)",
        "x.mkv": "FIFO",
        "sub/loop": "symlink loop",
        "self.mkv": "symlink loop",
        "zero.mkv": "leading to /dev/zero",
        "evil_concat.mkv": "not a readable media file",
        "evil_relative.mkv": "not a readable media file",
        "evil_hls.mkv": "not a readable media file",
    }


def test_hostile_library(
    db: Database,
    tmp_path: Path,
    clip_cache: Path,
    ffmpeg_binary: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    bad = _build_hostile(root, clip_cache)
    monkeypatch.chdir(tmp_path)  # a shell would have run `touch pwned` here

    report = scan_folder(db, root, ffmpeg=ffmpeg_binary, probe_timeout_s=20)

    assert not report.cancelled
    files = {Path(r["path"]).name: dict(r) for r in db.query("SELECT * FROM files")}
    for name in GOOD:
        assert (root / name).is_file(), f"{name} was damaged"
        row = files[name]
        assert row["probe_error"] is None, (name, row["probe_error"])
        assert row["item_id"] is not None and row["duration_s"] == pytest.approx(2.0, abs=0.1)
    titles = {r["title"] for r in db.query("SELECT title FROM items WHERE kind = 'movie'")}
    assert {"Amélie", "東京物語", 'It\'s "Quoted"', "$(touch pwned)", "rf", "help"} <= titles
    assert len(db.query("SELECT id FROM items")) == len(GOOD)

    reasons = {str(Path(p["path"]).relative_to(root)): p["reason"] for p in queries.problems(db)}
    assert set(reasons) == set(bad)
    for name, word in bad.items():
        assert word in reasons[name], (name, reasons[name])
    for name in ("truncated.mp4", "empty.mkv", "evil_concat.mkv", "evil_relative.mkv"):
        assert files[name]["item_id"] is None  # flagged, not catalogued
    assert report.problems == len(bad)  # what the problems page lists, walk and probe alike

    for where in (tmp_path, clip_cache):
        assert list(where.rglob("pwned")) == [], f"a shell ran: {where}"
    assert not (ROOT / "pwned").exists() and not Path("/tmp/pwned").exists()


def test_playlists_named_like_videos_cannot_make_ffmpeg_read_other_files(
    tmp_path: Path, clip_cache: Path, ffmpeg_binary: str
) -> None:
    root = tmp_path / "media"
    root.mkdir()
    _build_hostile(root, clip_cache)
    out = tmp_path / "frames"
    assert extract_frame(ffmpeg_binary, root / "-rf.mp4", 2.0, out / "good.jpg")
    assert (out / "good.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    for name in ("evil_concat.mkv", "evil_relative.mkv", "evil_hls.mkv"):
        target = out / f"{name}.jpg"
        assert not extract_frame(ffmpeg_binary, root / name, 2.0, target, timeout_s=20), name
        assert not target.exists() and not target.with_name(target.name + ".part").exists()


def test_every_ffmpeg_input_is_guarded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    monkeypatch.setattr(images.subprocess, "run", fake_run)
    video = tmp_path / "-i evil:.mkv"
    assert not extract_frame("ffmpeg", video, 10.0, tmp_path / "out.jpg")  # nothing written
    (guarded,) = calls
    # The parent-death guard comes first (it dies with the server), then the low priority
    # of scan-time work (nice, ionice), then ffmpeg itself.
    assert guarded[0].endswith("setpriv") and guarded[1:4] == ["--pdeathsig", "KILL", "--"]
    argv = guarded[4 + len(low_priority_prefix()) :]
    assert guarded[4 : 4 + len(low_priority_prefix())] == low_priority_prefix()
    assert argv[0] == "ffmpeg"
    i = argv.index("-i")
    assert argv.count("-i") == 1
    assert argv.index("-protocol_whitelist") < i
    assert argv[argv.index("-protocol_whitelist") + 1] == "file,pipe"
    assert argv.index("-format_whitelist") < i
    assert "concat" not in argv[argv.index("-format_whitelist") + 1]
    assert argv[i + 1] == "file:" + str(video.absolute())
    assert str(video) not in argv  # the raw name never appears where ffmpeg could parse it


# Run as another user: scan a library with a folder that user may not read, then make a
# readable folder unreadable between scans.
_UNREADABLE_SCRIPT = r"""
import json, os, sys
from pathlib import Path
from mediaserver.library import queries
from mediaserver.testing import open_catalog, scan_folder

tree, ffmpeg = Path(sys.argv[1]), sys.argv[2]
media, locked = tree / "media", tree / "media" / "locked"
stages = {}
with open_catalog(tree / "data") as db:
    def stage(name):
        report = scan_folder(db, media, ffmpeg=ffmpeg)
        stages[name] = {
            "titles": sorted(r[0] for r in db.query("SELECT title FROM items")),
            "problems": [[p["path"], p["reason"]] for p in queries.problems(db)],
            "removed": len(report.items_removed),
        }
    os.chmod(locked, 0)
    stage("locked")
    os.chmod(locked, 0o755)
    stage("unlocked")
    os.chmod(locked, 0)
    stage("locked again")
    os.chmod(locked, 0o755)
print(json.dumps(stages))
"""


def _run_script(tree: Path, ffmpeg_binary: str, *, as_nobody: bool) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tree),
        "PYTHONPATH": os.pathsep.join([str(ROOT), sysconfig.get_paths()["purelib"]]),
    }
    # The venv's interpreter may live where that user cannot go (/root/.pyenv); the same
    # CPython version elsewhere runs the venv's packages just as well.
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, f"/usr/bin/{version}", f"/usr/local/bin/{version}"]
    extra: dict[str, Any] = (
        {"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_nobody else {}
    )
    failures = []
    for python in candidates:
        try:
            done = subprocess.run(  # noqa: S603
                [python, "-c", _UNREADABLE_SCRIPT, str(tree), ffmpeg_binary],
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                **extra,
            )
        except OSError as exc:  # this user cannot run that interpreter
            failures.append(f"{python}: {exc}")
            continue
        if done.returncode == 0:
            return dict(json.loads(done.stdout.splitlines()[-1]))
        failures.append(f"{python}: exit {done.returncode}: {done.stderr[-2000:]}")
        if "ModuleNotFoundError" not in done.stderr:
            break
    pytest.fail("the scan subprocess failed:\n" + "\n".join(failures))


def test_unreadable_folder_is_flagged_and_removes_nothing(
    clip_cache: Path, ffmpeg_binary: str
) -> None:
    as_nobody = os.geteuid() == 0
    tree = Path(tempfile.mkdtemp(prefix="hearth-unreadable-", dir="/tmp"))
    try:
        tree.chmod(0o777)
        locked = tree / "media" / "locked"
        locked.mkdir(parents=True)
        shutil.copyfile(clip_cache / "h264_aac.mp4", tree / "media" / "Open.Movie.2001.mp4")
        shutil.copyfile(clip_cache / "h264.mkv", locked / "Hidden.Movie.2002.mkv")
        if as_nobody:
            for path in (tree / "media", locked, *tree.rglob("*.m*")):
                os.chown(path, NOBODY, NOBODY)
        else:
            locked.chmod(0)
            try:
                os.listdir(locked)
            except PermissionError:
                pass
            else:
                pytest.skip("not root, and chmod 000 does not stop this user reading a folder")
            finally:
                locked.chmod(0o755)
        stages = _run_script(tree, ffmpeg_binary, as_nobody=as_nobody)
    finally:
        shutil.rmtree(tree, ignore_errors=True)

    problem = [str(locked), "cannot read folder: permission denied"]
    assert stages["locked"] == {"titles": ["Open Movie"], "problems": [problem], "removed": 0}
    assert stages["unlocked"] == {
        "titles": ["Hidden Movie", "Open Movie"],
        "problems": [],
        "removed": 0,
    }
    # A folder that cannot be read now says nothing about whether its files are gone.
    assert stages["locked again"] == {
        "titles": ["Hidden Movie", "Open Movie"],
        "problems": [problem],
        "removed": 0,
    }
