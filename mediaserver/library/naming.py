"""Media file path -> title, year, season and episode numbers, parsed by guessit.

guessit does all the parsing. This module only decides what to feed it (the path relative to
the library, so folder names such as ``Movie Name (2010)/`` count), when to tell it "this is
an episode" (a ``Season N`` folder), and how to squash its loose, sometimes list-valued output
into one strict :class:`ParsedName`. It never raises: a name guessit cannot make sense of
becomes a movie titled after the file stem, so a scan never stops on one odd file.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Literal

from guessit import guessit

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ParsedName", "is_season_folder", "parse_media_path"]

# Folder names that mean "the files below are episodes of the show one level up".
_SEASON_DIR = re.compile(
    r"(?:season|series|saison|staffel|temporada|stagione)[\s._-]*\d{1,4}|s\d{1,4}|specials?",
    re.IGNORECASE,
)
# Left over at the ends of titles by names like "Show Name - S01E02" or "_Movie_".
_STRAY_SEPARATORS = " -_,;:|"


def is_season_folder(name: str) -> bool:
    """``Season 2``, ``S02``, ``Specials``...: the files below are one show's episodes."""
    return _SEASON_DIR.fullmatch(name.strip()) is not None


@dataclass(frozen=True, slots=True)
class ParsedName:
    """What a file's path says it is; season/episodes/episode_title are only set for episodes."""

    kind: Literal["movie", "episode"]
    title: str
    year: int | None
    season: int | None
    episodes: tuple[int, ...]
    episode_title: str | None


def parse_media_path(path: PurePath, library_root: PurePath | None = None) -> ParsedName:
    """Parse ``path`` with guessit; folders below ``library_root`` help, folders above it don't.

    Pass ``library_root`` so that directories outside the library (``/home/bob/Downloads``)
    cannot leak into the title. A path outside ``library_root`` is parsed as given.
    """
    relative = _path_within_library(path, library_root)
    folders = relative.parts[:-1]
    season_dir_index = next((i for i, name in enumerate(folders) if is_season_folder(name)), None)
    hints: dict[str, Any] = {"type": "episode"} if season_dir_index is not None else {}
    guess = _guess(str(relative), hints)
    if guess is None:
        return _fallback(path)

    title = _clean_title(_first(guess.get("title")))
    year = _as_int(guess.get("year"))
    kind: Literal["movie", "episode"] = "episode" if guess.get("type") == "episode" else "movie"
    if kind == "episode" and season_dir_index is not None and season_dir_index > 0:
        # Like Kodi and Plex, the show folder above "Season N" names the show, even when the
        # file name abbreviates it or says something else.
        show_title, show_year = _parse_show_folder(folders[season_dir_index - 1])
        if _is_usable(show_title):
            title, year = show_title, year or show_year
    if not _is_usable(title):
        return _fallback(path)
    if kind == "movie":
        return ParsedName("movie", title, year, None, (), None)
    episode_title = _clean_title(_first(guess.get("episode_title"))) or None
    return ParsedName(
        kind="episode",
        title=title,
        year=year,
        season=_as_int(guess.get("season")),
        episodes=_int_tuple(guess.get("episode")),
        episode_title=episode_title,
    )


def _path_within_library(path: PurePath, library_root: PurePath | None) -> PurePath:
    if library_root is None:
        return path
    try:
        return path.relative_to(library_root)
    except ValueError:
        return path


def _guess(text: str, hints: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """guessit's result, or None when it fails (it wraps its internal errors, but any
    exception here would only mean "odd name", which must not stop a library scan)."""
    try:
        result: Mapping[str, Any] = guessit(text, dict(hints))
    except Exception:
        return None
    return result


@functools.lru_cache(maxsize=4096)  # every episode of a show asks about the same folder
def _parse_show_folder(name: str) -> tuple[str, int | None]:
    """Title and year of a show folder such as "Show Name (2005)"."""
    show = _guess(name, {"type": "episode"})
    if show is None:
        return "", None
    return _clean_title(_first(show.get("title"))), _as_int(show.get("year"))


def _fallback(path: PurePath) -> ParsedName:
    """The file stem as a movie title: better a plain name than a wrong parse or an error."""
    title = _clean_title(path.stem.replace(".", " ").replace("_", " "))
    return ParsedName("movie", title or _tidy(path.name) or "Untitled", None, None, (), None)


def _clean_title(value: object) -> str:
    """Tidy guessit's text and drop separators left dangling at either end."""
    return _tidy(value).strip(_STRAY_SEPARATORS) if isinstance(value, str) else ""


def _tidy(text: str) -> str:
    """Printable and single-spaced: control characters in a file name are never meant."""
    printable = "".join(
        " " if unicodedata.category(ch) == "Cc" else ch for ch in _displayable(text)
    )
    return " ".join(printable.split())


def _displayable(text: str) -> str:
    """Replace lone surrogates (undecodable bytes in a POSIX file name) so the title encodes
    as UTF-8 for the database and the web page."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _is_usable(title: str) -> bool:
    """False for titles like "$" that guessit leaves when it mistakes most of a name for tags."""
    return any(ch.isalnum() for ch in title)


def _first(value: object) -> object:
    """guessit returns a list when it finds a property twice; the first one is the best bet."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _as_int(value: object) -> int | None:
    value = _first(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _int_tuple(value: object) -> tuple[int, ...]:
    """Episode numbers in order, once each: guessit gives [1, 2, 3] for S01E01-E03."""
    values = value if isinstance(value, list) else [value]
    numbers = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
    return tuple(sorted(numbers))
