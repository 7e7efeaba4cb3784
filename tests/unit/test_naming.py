"""parse_media_path: real files under a temporary library root, parsed by the real guessit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mediaserver.library.naming import ParsedName, parse_media_path


def _movie(title: str, year: int | None = None) -> ParsedName:
    return ParsedName("movie", title, year, None, (), None)


def _episode(
    title: str,
    season: int | None,
    episodes: tuple[int, ...],
    episode_title: str | None = None,
    year: int | None = None,
) -> ParsedName:
    return ParsedName("episode", title, year, season, episodes, episode_title)


def _touch(root: Path, relative: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return path


MOVIES = [
    ("The.Matrix.1999.1080p.BluRay.x264-GROUP.mkv", _movie("The Matrix", 1999)),
    ("Blade.Runner.2049.2017.2160p.mkv", _movie("Blade Runner 2049", 2017)),
    ("2001.A.Space.Odyssey.1968.mkv", _movie("2001 A Space Odyssey", 1968)),
    ("1917.2019.mkv", _movie("1917", 2019)),
    ("Amelie.mkv", _movie("Amelie")),
    ("Some Movie.mkv", _movie("Some Movie")),
    ("Some.Movie.2010.PROPER.mkv", _movie("Some Movie", 2010)),
    ("Movie Name (2010)/movie.mkv", _movie("Movie Name", 2010)),
    ("Movie Name (2010)/video.mp4", _movie("Movie Name", 2010)),
    ("Movie Name (2010)/VIDEO.MP4", _movie("Movie Name", 2010)),
    ("Movie Name (2010)/Movie.Name.2010.1080p.mkv", _movie("Movie Name", 2010)),
    ("Action/The Matrix (1999)/The.Matrix.1999.mkv", _movie("The Matrix", 1999)),
    ("Amélie.2001.mkv", _movie("Amélie", 2001)),
    ("Café.Society.2016.mkv", _movie("Café Society", 2016)),
    ("電影.mkv", _movie("電影")),
]

EPISODES = [
    ("Show.Name.S01E02.mkv", _episode("Show Name", 1, (2,))),
    ("Show.Name.1x02.mkv", _episode("Show Name", 1, (2,))),
    ("the.office.us.s01e01.mkv", _episode("the office", 1, (1,))),
    ("Show_Name_S01E02.mkv", _episode("Show Name", 1, (2,))),
    ("Show.Name.S01E01E02.mkv", _episode("Show Name", 1, (1, 2))),
    ("Show.Name.S01E01-E03.mkv", _episode("Show Name", 1, (1, 2, 3))),
    ("Show.Name.S01E01-03.mkv", _episode("Show Name", 1, (1, 2, 3))),
    ("Show Name - S01E02 - Pilot.mkv", _episode("Show Name", 1, (2,), "Pilot")),
    (
        "Show.Name.S01E02.The.Episode.Title.720p.mkv",
        _episode("Show Name", 1, (2,), "The Episode Title"),
    ),
    ("Doctor.Who.2005.S01E01.mkv", _episode("Doctor Who", 1, (1,), year=2005)),
    ("Show Name/Season 02/Show.Name.S02E03.mkv", _episode("Show Name", 2, (3,))),
    ("Show/Season 1/Episode 5.mkv", _episode("Show", 1, (5,))),
    ("Show Name/Season 2/3.mkv", _episode("Show Name", 2, (3,))),
    ("Show Name/Season 2/S02E03E04.mkv", _episode("Show Name", 2, (3, 4))),
    ("Show Name/Season 1/1x02.mkv", _episode("Show Name", 1, (2,))),
    ("Show Name/Specials/Show Name S00E01.mkv", _episode("Show Name", 0, (1,))),
    ("Show Name/S02/E03.mkv", _episode("Show Name", 2, (3,))),
    (
        "Show Name/Season 02/Episode 3 - Title Here.mkv",
        _episode("Show Name", 2, (3,), "Title Here"),
    ),
    # The show folder names the show, not the (abbreviated or wrong) file name.
    ("Show Name/Season 02/Different.S02E03.mkv", _episode("Show Name", 2, (3,))),
    ("Show Name (2005)/Season 1/Show.Name.S01E01.mkv", _episode("Show Name", 1, (1,), year=2005)),
    # Daily and anime absolute numbering: no season, which is fine.
    ("The Daily Show 2024.01.15.mkv", _episode("The Daily Show", None, ())),
    ("[SubGroup] Anime Title - 123 [1080p].mkv", _episode("Anime Title", None, (123,))),
]

HOSTILE = [
    ("$(touch pwned).mkv", _movie("$(touch pwned)")),
    ("$(rm -rf).mkv", _movie("$(rm -rf)")),
    ("a;b.mkv", _movie("a;b")),
    ("a`whoami`.mkv", _movie("a`whoami`")),
    ("'; DROP TABLE--.mkv", _movie("'; DROP TABLE")),
    ("'quoted' \"name\".mkv", _movie("'quoted' \"name\"")),
    ("--help.mkv", _movie("help")),
    ("-rf.mkv", _movie("rf")),
    ("x" * 246 + ".mkv", _movie("x" * 246)),  # 250 bytes
    ("é" * 123 + ".mkv", _movie("é" * 123)),  # 250 bytes in UTF-8
    ("a.b.c.mkv", _movie("a b c")),
    ("name\nwith newline.mkv", _movie("name with newline")),
]


@pytest.mark.parametrize(("relative", "expected"), MOVIES + EPISODES + HOSTILE)
def test_parse_media_path(tmp_path: Path, relative: str, expected: ParsedName) -> None:
    path = _touch(tmp_path, relative)
    assert parse_media_path(path, tmp_path) == expected


@pytest.mark.parametrize(
    "relative",
    ["_.mkv", "..mkv", "-.mkv", "\x01\x02.mkv", "S01E01." * 35 + "mkv", "1999." * 49 + "mkv"],
)
def test_degenerate_names_still_get_a_title(tmp_path: Path, relative: str) -> None:
    parsed = parse_media_path(_touch(tmp_path, relative), tmp_path)
    assert parsed.title.strip() == parsed.title != ""
    assert parsed.title.isprintable()


def test_hostile_name_runs_nothing(tmp_path: Path) -> None:
    parse_media_path(_touch(tmp_path, "$(touch pwned);touch pwned2.mkv"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["$(touch pwned);touch pwned2.mkv"]


def test_undecodable_bytes_become_replacement_characters(tmp_path: Path) -> None:
    path = Path(os.fsdecode(os.fsencode(tmp_path) + b"/Caf\xe9.2016.mkv"))
    path.touch()
    parsed = parse_media_path(path, tmp_path)
    assert parsed == _movie("Caf\ufffd", 2016)
    parsed.title.encode("utf-8")  # storable


def test_folders_above_the_library_root_are_ignored(tmp_path: Path) -> None:
    root = tmp_path / "Season 3"  # would otherwise hint "episode"
    path = _touch(root, "The.Matrix.1999.mkv")
    assert parse_media_path(path, root) == _movie("The Matrix", 1999)


def test_without_library_root_the_given_path_is_parsed() -> None:
    assert parse_media_path(Path("Movie Name (2010)/movie.mkv")) == _movie("Movie Name", 2010)
    assert parse_media_path(Path("Show/Season 1/Episode 5.mkv")) == _episode("Show", 1, (5,))


def test_path_outside_library_root_is_parsed_as_given(tmp_path: Path) -> None:
    path = _touch(tmp_path / "elsewhere", "The.Matrix.1999.mkv")
    assert parse_media_path(path, tmp_path / "library") == _movie("The Matrix", 1999)


def test_episode_fields_are_empty_for_movies(tmp_path: Path) -> None:
    parsed = parse_media_path(_touch(tmp_path, "Star.Wars.Episode.IV.1977.mkv"), tmp_path)
    assert parsed == _movie("Star Wars Episode IV", 1977)
