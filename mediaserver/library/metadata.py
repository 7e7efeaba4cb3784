"""From a probed file, its name, its NFO and its sidecars to a :class:`MediaRecord`.

Precedence, as Kodi and Jellyfin users expect: the NFO wins, the file name comes next, and
the container's own tags fill what is still empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from mediaserver.library.catalog import ItemMeta, MediaRecord
from mediaserver.library.images import FILE_PREFIX
from mediaserver.library.naming import is_season_folder, parse_media_path
from mediaserver.library.nfo import NfoData, find_nfo, find_show_nfo, read_nfo
from mediaserver.library.probe import ProbeResult
from mediaserver.library.sidecars import find_image, sidecar_signature, subtitles_for
from mediaserver.library.walk import FoundFile

__all__ = ["build_record", "show_folder"]


def show_folder(video: Path, root: Path) -> Path:
    """The show's folder: above a ``Season N`` folder, else the video's own folder."""
    folder = video.parent
    if is_season_folder(folder.name) and folder != root:
        return folder.parent
    return folder


def _image(path: Path | None) -> str | None:
    return FILE_PREFIX + str(path) if path else None


def _year_from_tags(tags: Mapping[str, str]) -> int | None:
    match = re.match(r"(\d{4})", tags.get("date", "") or tags.get("year", ""))
    return int(match.group(1)) if match else None


def _rating_from_tags(tags: Mapping[str, str]) -> str | None:
    """A content rating embedded in the file: Matroska's LAW_RATING, or iTunes' iTunEXTC
    (``mpaa|PG-13|300|``); a numeric "rating" is a score, not an age rating."""
    for key in ("law_rating", "content_rating"):
        if value := (tags.get(key) or "").strip():
            return value[:20]
    extc = tags.get("itunextc") or tags.get("com.apple.itunes.itunextc") or ""
    parts = extc.split("|")
    if len(parts) >= 2 and parts[1].strip():
        return parts[1].strip()[:20]
    return None


def _meta(
    title: str, year: int | None, nfo: NfoData | None, probe: ProbeResult, tags_fill: bool
) -> ItemMeta:
    tags = probe.tags if tags_fill else {}
    overview = None
    for key in ("description", "synopsis", "comment"):
        overview = overview or tags.get(key)
    meta = ItemMeta(
        title=title,
        year=year or _year_from_tags(tags),
        overview=overview,
        runtime_s=probe.duration_s,
        genres=[g.strip() for g in tags.get("genre", "").split(",") if g.strip()],
        content_rating=_rating_from_tags(tags),
    )
    if nfo is None:
        return meta
    meta.title = nfo.title or meta.title
    meta.year = nfo.year or meta.year
    meta.original_title = nfo.original_title
    meta.sort_title = nfo.sort_title
    meta.overview = nfo.plot or meta.overview
    meta.tagline = nfo.tagline
    meta.runtime_s = meta.runtime_s or (nfo.runtime_min * 60.0 if nfo.runtime_min else None)
    meta.content_rating = nfo.content_rating or meta.content_rating
    meta.rating = nfo.rating
    meta.premiered = nfo.premiered
    meta.genres = list(nfo.genres) or meta.genres
    meta.studios = list(nfo.studios)
    meta.actors = list(nfo.actors)
    meta.directors = list(nfo.directors)
    meta.collection = nfo.collection
    return meta


def build_record(
    found: FoundFile,
    root: Path,
    sidecars: Mapping[Path, Mapping[str, int]],
    videos_in_folder: int,
    probe: ProbeResult,
    fingerprint: str,
) -> MediaRecord:
    video = found.path
    names = sidecars.get(video.parent, {})
    parsed = probe.parsed or parse_media_path(video, root)
    nfo = read_nfo(p) if (p := find_nfo(video, allow_movie_nfo=videos_in_folder == 1)) else None
    is_episode = parsed.kind == "episode" or (nfo is not None and nfo.kind == "episodedetails")
    record = MediaRecord(
        found=found,
        fingerprint=fingerprint,
        probe=probe,
        signature=sidecar_signature(video, names),
        kind="movie",
        meta=ItemMeta(title=parsed.title),
        subtitles=subtitles_for(video, names),
    )
    if not is_episode:
        meta = _meta(parsed.title, parsed.year, nfo, probe, tags_fill=True)
        single = videos_in_folder == 1
        meta.poster = _image(
            find_image(video.parent, names, kind="poster", stem=video.stem, folder_wide=single)
        )
        meta.backdrop = _image(
            find_image(video.parent, names, kind="backdrop", stem=video.stem, folder_wide=single)
        )
        record.meta = meta
        return record

    show_dir = show_folder(video, root)
    show_names = sidecars.get(show_dir, {})
    show_nfo = read_nfo(p) if (p := find_show_nfo(show_dir)) else None
    show = _meta(parsed.title, parsed.year if show_nfo is None else None, show_nfo, probe, False)
    show.runtime_s = None
    show.poster = _image(find_image(show_dir, show_names, kind="poster"))
    show.backdrop = _image(find_image(show_dir, show_names, kind="backdrop"))
    season = nfo.season if nfo and nfo.season is not None else parsed.season
    episodes = parsed.episodes or ((nfo.episode,) if nfo and nfo.episode else ())
    tag_title = probe.tags.get("title")
    episode_title = (
        parsed.episode_title or tag_title or (f"Episode {episodes[0]}" if episodes else video.stem)
    )
    meta = _meta(episode_title, None, nfo, probe, tags_fill=True)
    meta.poster = _image(
        find_image(
            video.parent, names, kind="poster", stem=video.stem + "-thumb", folder_wide=False
        )
    )
    season_poster = None
    if season is not None:
        season_poster = _image(
            find_image(
                show_dir, show_names, kind="poster", stem=f"season{season:02d}", folder_wide=False
            )
            or (
                find_image(video.parent, names, kind="poster") if video.parent != show_dir else None
            )
        )
    record.kind, record.meta, record.show = "episode", meta, show
    record.season_number, record.episodes, record.season_poster = season, episodes, season_poster
    return record
