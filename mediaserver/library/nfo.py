"""Kodi-style ``.nfo`` sidecars: find them beside a video and read what they say.

NFO files come from scrapers, other media servers and hand edits, so reading one must never
take the scan down: anything missing, oversized, malformed or hostile (a DTD, entities) reads
as ``None``. Parsing goes through defusedxml with DTDs forbidden, so an entity bomb is refused
before it expands.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element, ParseError, TreeBuilder

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from mediaserver.library.links import stays_home

__all__ = ["MAX_NFO_BYTES", "Actor", "NfoData", "find_nfo", "find_show_nfo", "read_nfo"]

MAX_NFO_BYTES = 1024 * 1024
"""Real NFOs are a few KiB; anything past this is not worth holding in memory."""

NfoKind = Literal["movie", "tvshow", "episodedetails"]
_KINDS: dict[str, NfoKind] = {kind: kind for kind in get_args(NfoKind)}
_LEADING_INT = re.compile(r"\s*(-?\d+)")
_IMDB_ID = re.compile(r"tt\d+")
# Pre-<uniqueid> NFOs put ids in their own elements.
_LEGACY_ID_TAGS = {"imdbid": "imdb", "tmdbid": "tmdb", "tvdbid": "tvdb"}
_MAX_URL_CHARS = 2048
_MAX_PATH_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Actor:
    """One ``<actor>``: ``<name>``, the character (``<role>``) and a photo (``<thumb>``)."""

    name: str
    character: str | None = None
    photo_url: str | None = None  # an http(s) URL, fetched only through the [network] rules
    # A picture on this machine, absolute (a relative <thumb> is taken from the NFO's folder);
    # used only when it lies inside the library (library/cast_photos.py checks).
    photo_path: Path | None = None


@dataclass(frozen=True, slots=True)
class NfoData:
    """The fields Hearth uses from an NFO; anything absent or unparsable is None or empty."""

    kind: NfoKind | None
    title: str | None = None
    original_title: str | None = None
    sort_title: str | None = None
    year: int | None = None
    plot: str | None = None
    tagline: str | None = None
    runtime_min: int | None = None
    rating: float | None = None
    content_rating: str | None = None
    genres: tuple[str, ...] = ()
    studios: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    directors: tuple[str, ...] = ()
    actors: tuple[Actor, ...] = ()  # in billing order (<order>, else as written)
    season: int | None = None
    episode: int | None = None
    premiered: str | None = None
    uniqueids: Mapping[str, str] = field(default_factory=dict)
    collection: str | None = None  # Kodi movie set: <set><name>…</name></set> or <set>…</set>
    # Artwork named by URL (http or https only); nothing here is ever a filesystem path.
    poster_url: str | None = None
    backdrop_url: str | None = None


def find_nfo(video: Path, *, allow_movie_nfo: bool = True) -> Path | None:
    """Kodi's lookup: ``<video stem>.nfo`` beside the video, then ``movie.nfo`` in its folder.

    Pass ``allow_movie_nfo=False`` for episodes, where a stray ``movie.nfo`` means nothing.
    """
    candidates = [video.with_name(f"{video.stem}.nfo")]
    if allow_movie_nfo:
        candidates.append(video.with_name("movie.nfo"))
    return next((c for c in candidates if c != video and _is_file(c)), None)


def find_show_nfo(show_dir: Path) -> Path | None:
    """``tvshow.nfo`` in the show folder, which describes the whole series."""
    candidate = show_dir / "tvshow.nfo"
    return candidate if _is_file(candidate) else None


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that also says False when a folder is unreadable, instead of raising."""
    try:
        return path.is_file() and stays_home(path)
    except (OSError, ValueError):
        return False


def read_nfo(path: Path) -> NfoData | None:
    """Parse ``path``; None if it is missing, unreadable, too big, not XML or hostile XML."""
    data = _read_capped(path)
    root = _parse_first_element(data) if data is not None else None
    if root is None:
        return None
    year = _int(root.findtext("year"))
    premiered = _iso_date(root.findtext("premiered")) or _iso_date(root.findtext("aired"))
    if year is None and premiered is not None:
        year = int(premiered[:4])  # Kodi 20 dropped <year> in favour of <premiered>.
    return NfoData(
        kind=_KINDS.get(root.tag),
        title=_text(root.findtext("title")),
        original_title=_text(root.findtext("originaltitle")),
        sort_title=_text(root.findtext("sorttitle")),
        year=year,
        plot=_text(root.findtext("plot")),
        tagline=_text(root.findtext("tagline")),
        runtime_min=_at_least(1, _int(root.findtext("runtime"))),
        rating=_rating(root),
        content_rating=_content_rating(root.findtext("mpaa")),
        genres=_texts(g for e in root.iterfind("genre") for g in (e.text or "").split(" / ")),
        studios=_texts(e.text for e in root.iterfind("studio")),
        tags=_texts(e.text for e in root.iterfind("tag")),
        directors=_texts(e.text for e in root.iterfind("director")),
        actors=_actors(root, path.parent),
        season=_at_least(0, _int(root.findtext("season"))),  # tvshow.nfo has -1 for unset
        episode=_at_least(0, _int(root.findtext("episode"))),
        premiered=premiered,
        uniqueids=_uniqueids(root),
        collection=_collection(root),
        poster_url=_poster_url(root),
        backdrop_url=_backdrop_url(root),
    )


def _actors(root: Element, folder: Path) -> tuple[Actor, ...]:
    """The cast, by ``<order>`` where the NFO gives one (Kodi, Jellyfin, tinyMediaManager
    write 0, 1, 2, ...), else as written; a name listed twice counts once."""
    found: dict[str, tuple[float, int, Actor]] = {}
    for n, element in enumerate(root.iterfind("actor")):
        name = _text(element.findtext("name"))
        if not name or name in found:
            continue
        thumb = element.findtext("thumb")
        order = _int(element.findtext("order"))
        actor = Actor(
            name=name,
            character=_text(element.findtext("role")),
            photo_url=_web_url(thumb),
            photo_path=_local_path(thumb, folder),
        )
        found[name] = (float(order) if order is not None else math.inf, n, actor)
    return tuple(entry[2] for entry in sorted(found.values(), key=lambda e: e[:2]))


def _local_path(value: str | None, folder: Path) -> Path | None:
    """A ``<thumb>`` naming a file here: an absolute or relative path, or a ``file://``
    URL; None for web addresses, other schemes (``smb://``, ``special://``) and Windows
    paths, which mean nothing on this machine."""
    text = _text(value)
    if not text or len(text) > _MAX_PATH_CHARS or any(ord(c) < 32 for c in text):
        return None
    if text.lower().startswith("file://"):
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            return None
        text = unquote(parts.path)
    elif "://" in text or re.match(r"^[a-zA-Z]:[\\/]|^\\\\", text):
        return None
    return Path(os.path.normpath(folder / text))


def _collection(root: Element) -> str | None:
    element = root.find("set")
    if element is None:
        return None
    return _text(element.findtext("name")) or _text(element.text)


def _poster_url(root: Element) -> str | None:
    """The first ``<thumb aspect="poster">``, else the first ``<thumb>`` without an aspect.

    Only the root's own thumbs count (not an ``<actor>``'s photo), and not the season posters
    a ``tvshow.nfo`` lists (``type="season"``).
    """
    thumbs = [t for t in root.iterfind("thumb") if not _is_season_thumb(t)]
    return _first_url(t for t in thumbs if _aspect(t) == "poster") or _first_url(
        t for t in thumbs if _aspect(t) == ""
    )


def _backdrop_url(root: Element) -> str | None:
    """``<fanart><thumb>``, else ``<thumb aspect="fanart">``, else ``aspect="landscape"``."""
    thumbs = [t for t in root.iterfind("thumb") if not _is_season_thumb(t)]
    return (
        _first_url(root.iterfind("fanart/thumb"))
        or _first_url(t for t in thumbs if _aspect(t) == "fanart")
        or _first_url(t for t in thumbs if _aspect(t) == "landscape")
    )


def _aspect(thumb: Element) -> str:
    return (thumb.get("aspect") or "").strip().lower()


def _is_season_thumb(thumb: Element) -> bool:
    return (thumb.get("type") or "").strip().lower() == "season" or "season" in thumb.attrib


def _first_url(thumbs: Iterable[Element]) -> str | None:
    return next((url for t in thumbs if (url := _web_url(t.text))), None)


def _web_url(value: str | None) -> str | None:
    """An absolute http(s) URL, else None: ``file://``, ``ftp://``, ``special://`` and the
    relative paths of old ``<fanart url="...">`` entries are not fetched."""
    text = _text(value)
    if not text or len(text) > _MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in text):
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def _read_capped(path: Path) -> bytes | None:
    """The file's bytes, or None for non-files (a FIFO would block), errors and oversize."""
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = f.read(MAX_NFO_BYTES + 1)
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return None
    return data if len(data) <= MAX_NFO_BYTES else None


class _FirstElementBuilder:
    """TreeBuilder target that notes when the root element closes.

    Kodi NFOs may carry a scraper URL after the XML, and multi-episode files hold several
    ``<episodedetails>`` roots; expat calls both "junk", but by then the first root is whole.
    """

    def __init__(self) -> None:
        self._builder = TreeBuilder()
        self._depth = 0
        self.root: Element | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if self.root is None:
            self._depth += 1
            self._builder.start(tag, attrs)

    def end(self, tag: str) -> None:
        if self.root is None:
            self._depth -= 1
            self._builder.end(tag)
            if self._depth == 0:
                self.root = self._builder.close()

    def data(self, text: str) -> None:
        if self.root is None:
            self._builder.data(text)

    def close(self) -> Element | None:
        return self.root


def _parse_first_element(data: bytes) -> Element | None:
    """The first root element of ``data``, ignoring trailing text; None if hostile or broken."""
    target = _FirstElementBuilder()
    parser = DefusedXMLParser(target=target, forbid_dtd=True)
    try:
        parser.feed(data)
        parser.close()
    except DefusedXmlException:
        return None  # a DTD or entity declaration: never worth the risk
    except (ParseError, LookupError, ValueError):
        pass  # junk after the root is fine; broken XML leaves target.root None
    return target.root


def _text(value: str | None) -> str | None:
    value = value.strip() if value else None
    return value or None


def _texts(values: Iterable[str | None]) -> tuple[str, ...]:
    """Stripped, non-empty and once each, in file order."""
    return tuple(dict.fromkeys(t for v in values if (t := _text(v))))


def _int(value: str | None) -> int | None:
    """Leading integer, so "120 min" reads as 120."""
    match = _LEADING_INT.match(value or "")
    return int(match.group(1)) if match else None


def _at_least(minimum: int, value: int | None) -> int | None:
    """None for the 0 and -1 placeholders scrapers write when they know nothing."""
    return value if value is not None and value >= minimum else None


def _float(value: str | None) -> float | None:
    try:
        number = float((value or "").strip().replace(",", "."))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _rating(root: Element) -> float | None:
    """Out of 10: the ``default="true"`` entry of ``<ratings>``, else the old ``<rating>``,
    else the first ``<ratings>`` entry."""
    entries = root.findall("ratings/rating")
    defaults = [e for e in entries if (e.get("default") or "").strip().lower() == "true"]
    candidates = [
        *map(_rating_entry, defaults),
        _float(root.findtext("rating")),
        *map(_rating_entry, entries),
    ]
    return next((c for c in candidates if c is not None), None)


def _rating_entry(entry: Element) -> float | None:
    """``<rating max="100"><value>85</value>`` (Rotten Tomatoes, say) reads as 8.5."""
    value = _float(entry.findtext("value"))
    scale = _float(entry.get("max"))
    if value is not None and scale is not None and scale > 0 and scale != 10:
        value = round(value * 10 / scale, 2)
    return value


def _content_rating(value: str | None) -> str | None:
    text = _text(value)
    if text and text.lower().startswith("rated "):
        text = _text(text[len("rated ") :])
    return text


def _iso_date(value: str | None) -> str | None:
    """The date as YYYY-MM-DD, or None for anything else (Kodi writes "" or junk too)."""
    text = _text(value)
    try:
        return date.fromisoformat(text).isoformat() if text else None
    except ValueError:
        return None


def _uniqueids(root: Element) -> dict[str, str]:
    """``{"imdb": "tt0133093", ...}`` from ``<uniqueid type=...>``, then legacy id tags."""
    ids: dict[str, str] = {}
    for element in root.iterfind("uniqueid"):
        kind, value = (element.get("type") or "").strip().lower(), _text(element.text)
        if kind and value:
            ids.setdefault(kind, value)
    for tag, kind in _LEGACY_ID_TAGS.items():
        value = _text(root.findtext(tag))
        if value:
            ids.setdefault(kind, value)
    legacy_id = _text(root.findtext("id"))  # old movie NFOs: <id>tt0133093</id>
    if legacy_id and _IMDB_ID.fullmatch(legacy_id):
        ids.setdefault("imdb", legacy_id)
    return ids
