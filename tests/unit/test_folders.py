"""The folder browser on real folders: roots, symlinks out, ``..``, NUL bytes, files, FIFOs,
bounded listings, and a folder the service user cannot read.

Tests run as root here, and root reads a ``chmod 000`` folder (so Hearth running as root
would too: the browser reports what the scanner will meet).  The unreadable case is
therefore run as ``nobody`` in a forked child that dropped root when the tests are root, and
in-process otherwise: either way it proves what a real unprivileged service user is told.
"""

from __future__ import annotations

import json
import os
import pwd
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediaserver.library import folders
from mediaserver.library.folders import (
    BadFolderPath,
    FolderBrowser,
    FolderNotFound,
    FolderUnreadable,
    OutsideRoots,
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """root/Films/Alien (1979)/Alien (1979).mkv, root/Shows, root/.hidden, outside/."""
    root = tmp_path / "srv"
    film = root / "Films" / "Alien (1979)"
    film.mkdir(parents=True)
    (film / "Alien (1979).mkv").write_bytes(b"x")
    (film / "Alien (1979).en.srt").write_text("1\n", encoding="utf-8")
    (root / "Films" / "loose.mp4").write_bytes(b"x")
    (root / "Shows" / "Show Name" / "Season 01").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / "@eaDir").mkdir()
    (tmp_path / "outside" / "secret").mkdir(parents=True)
    return root


def names(listing: folders.FolderListing) -> list[str]:
    return [e.name for e in listing.entries]


def test_the_roots_are_listed_first_and_only_existing_ones(tree: Path, tmp_path: Path) -> None:
    browser = FolderBrowser([str(tree), str(tmp_path / "gone"), str(tree / "Films")])
    listing = browser.listing(None)
    assert listing.path is None and listing.parent is None
    # The missing root is dropped, and Films is inside srv: one root.
    assert [e.path for e in listing.entries] == [str(tree)]
    assert listing.entries[0].readable and listing.entries[0].subfolders


def test_default_roots_are_the_usual_places_that_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    home = pwd.getpwuid(os.geteuid()).pw_dir
    expected = [p for p in ("/srv", "/mnt", "/media", "/home", home) if os.path.isdir(p)]
    assert folders.default_roots() == expected
    assert FolderBrowser().configured == ()


def test_a_folder_lists_its_subfolders_sorted_with_video_counts(tree: Path) -> None:
    browser = FolderBrowser([tree])
    listing = browser.listing(str(tree))
    assert listing.path == str(tree) and listing.parent is None  # a root: up is the roots
    assert names(listing) == ["Films", "Shows"]  # .hidden and @eaDir are not shown
    films = browser.listing(str(tree / "Films"))
    assert films.parent == str(tree)
    assert films.videos == 1  # loose.mp4
    (alien,) = films.entries
    assert (alien.name, alien.readable, alien.videos, alien.videos_more) == (
        "Alien (1979)",
        True,
        1,
        False,
    )
    assert not alien.subfolders


def test_dot_dot_is_resolved_and_cannot_leave_the_roots(tree: Path) -> None:
    browser = FolderBrowser([tree])
    inside = browser.listing(f"{tree}/Films/../Shows")
    assert inside.path == str(tree / "Shows")
    with pytest.raises(OutsideRoots, match="outside the folders Hearth may browse"):
        browser.listing(f"{tree}/Films/../../outside")
    with pytest.raises(OutsideRoots):
        browser.listing(f"{tree}/../../../../../../etc")


def test_a_symlink_out_of_the_roots_is_shown_but_never_followed(tree: Path) -> None:
    outside = tree.parent / "outside"
    (tree / "Films" / "escape").symlink_to(outside)
    (tree / "Films" / "shortcut").symlink_to(tree / "Shows")
    browser = FolderBrowser([tree])
    entries = {e.name: e for e in browser.listing(str(tree / "Films")).entries}
    assert not entries["escape"].readable
    assert entries["escape"].reason and "outside" in entries["escape"].reason
    assert entries["escape"].videos is None and not entries["escape"].subfolders
    assert entries["shortcut"].readable and entries["shortcut"].subfolders  # inside: fine
    with pytest.raises(OutsideRoots):
        browser.listing(str(tree / "Films" / "escape"))
    with pytest.raises(OutsideRoots):
        browser.listing(str(tree / "Films" / "escape" / "secret"))
    assert browser.listing(str(tree / "Films" / "shortcut")).path == str(tree / "Shows")


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        ("Films", BadFolderPath, "must start with /"),
        ("../etc", BadFolderPath, "must start with /"),
        ("file:///etc/passwd", BadFolderPath, "must start with /"),
        ("/srv\x00/etc", BadFolderPath, "NUL"),
        ("/" + "a" * 5000, BadFolderPath, "too long"),
        ("/etc", OutsideRoots, "browse_roots"),
    ],
)
def test_bad_paths_are_refused_in_words(
    tree: Path, raw: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        FolderBrowser([tree]).listing(raw)


def test_a_missing_folder_a_file_and_a_fifo_are_not_folders(tree: Path) -> None:
    browser = FolderBrowser([tree])
    with pytest.raises(FolderNotFound, match="There is no folder"):
        browser.listing(str(tree / "Nope"))
    with pytest.raises(BadFolderPath, match="is a file, not a folder"):
        browser.listing(str(tree / "Films" / "loose.mp4"))
    fifo = tree / "Films" / "pipe.mkv"
    os.mkfifo(fifo)
    with pytest.raises(BadFolderPath, match="is a file, not a folder"):
        browser.listing(str(fifo))
    # Inside a listing a FIFO named like a video is neither a folder nor a video (and
    # listing it does not hang on opening it).
    listing = browser.listing(str(tree / "Films"))
    assert names(listing) == ["Alien (1979)"] and listing.videos == 1


def test_outside_wins_over_missing_so_nothing_outside_is_probed(tree: Path) -> None:
    with pytest.raises(OutsideRoots):
        FolderBrowser([tree]).listing("/no/such/place/anywhere")


def test_a_big_folder_lists_the_first_entries_and_counts_the_rest(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(folders, "MAX_ENTRIES", 5)
    monkeypatch.setattr(folders, "COUNT_LIMIT", 3)
    big = tree / "Big"
    for n in range(12):
        (big / f"Film {n:02d}").mkdir(parents=True)
    for n in range(10):
        (big / "Film 00" / f"part{n}.mkv").write_bytes(b"x")
    listing = FolderBrowser([tree]).listing(str(big))
    assert names(listing) == [f"Film {n:02d}" for n in range(5)]
    assert listing.more == 7
    first = listing.entries[0]
    assert (first.videos, first.videos_more) == (3, True)  # "3+ videos": counting stopped


def test_library_folders_must_be_readable(tree: Path) -> None:
    browser = FolderBrowser([tree])
    assert browser.check_library_folder(f"{tree}/Films/") == tree / "Films"
    with pytest.raises(OutsideRoots):
        browser.check_library_folder(str(tree.parent / "outside"))


# -- a folder the service user cannot read ------------------------------------------------


def _check(base: Path) -> dict[str, object]:
    browser = FolderBrowser([base])
    entry = {e.name: e for e in browser.listing(str(base)).entries}["Locked"]
    try:
        browser.check_library_folder(str(base / "Locked"))
        refused = None
    except FolderUnreadable as exc:
        refused = str(exc)
    return {"readable": entry.readable, "reason": entry.reason, "refused": refused}


def _as_nobody(base: Path) -> dict[str, object]:
    """``_check`` in a forked child that dropped to ``nobody`` (this interpreter lives in
    /root, which nobody may not enter, so a fresh process as nobody could not start)."""
    nobody = pwd.getpwnam("nobody")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root for good, check, report, leave without cleanup
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.write(write, json.dumps(_check(base)).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, out
    result: dict[str, object] = json.loads(out)
    return result


@pytest.fixture
def shared_tree() -> Iterator[Path]:
    """A tree ``nobody`` can walk into (pytest's own temp folders are private to root)."""
    base = Path(tempfile.mkdtemp(prefix="hearth-folders-"))
    base.chmod(0o755)
    (base / "Open").mkdir(mode=0o755)
    (base / "Locked").mkdir(mode=0o755)
    (base / "Locked" / "film.mkv").write_bytes(b"x")
    (base / "Locked").chmod(0o000)
    try:
        yield base
    finally:
        (base / "Locked").chmod(0o755)
        for path in sorted(base.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        base.rmdir()


def test_a_folder_the_service_user_cannot_read_says_so(shared_tree: Path) -> None:
    if os.geteuid() == 0:  # root reads a chmod 000 folder; a real service user would not
        result, user = _as_nobody(shared_tree), "nobody"
    else:
        result, user = _check(shared_tree), folders.service_user()
    assert result["readable"] is False
    assert result["reason"] == f"Hearth's user ({user}) cannot read this folder: permission denied."
    assert "permission denied" in str(result["refused"])


def test_as_root_the_locked_folder_is_readable_which_is_what_the_scanner_meets(
    shared_tree: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root reads a chmod 000 folder")
    entry = {e.name: e for e in FolderBrowser([shared_tree]).listing(str(shared_tree)).entries}
    assert entry["Locked"].readable and entry["Locked"].videos == 1
