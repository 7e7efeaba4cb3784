"""The ContentDirectory a TV browses: folders, items with their resources, and search.

Object ids::

    0                     the root: the five folders below
    movies, shows         every film / show the DLNA user may see (sortable, paged)
    recent                films and shows by when they (or an episode) arrived
    continue              the DLNA user's started, unfinished films and episodes
    genres, g/<genre>     one folder per genre, holding its films and shows
    i<id>                 a catalog item: a show or a season is a folder, a film or an
                          episode an item

A film listed in several folders keeps one id and names its home folder (``movies``, the
season of an episode) as parent, so BrowseMetadata of it answers the same everywhere.
Everything is read through the DLNA user's :class:`~mediaserver.library.access.Access`:
a hidden title is "No such object" (701), as if it never existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from mediaserver.activity.rows import continue_watching
from mediaserver.db import Database
from mediaserver.dlna import didl
from mediaserver.dlna.upnp import UpnpError
from mediaserver.library import queries
from mediaserver.library.access import Access
from mediaserver.streaming.decision import IMAGE_SUBTITLES, Decision, decide, default_stream
from mediaserver.streaming.profiles import ClientProfile

__all__ = [
    "FOLDERS",
    "Browser",
    "Links",
    "Page",
    "caption_tracks",
    "feature_list",
    "main_streams",
    "original_features",
    "parse_search",
    "parse_sort",
    "stream_features",
]

FOLDERS: Mapping[str, str] = {
    "movies": "Movies",
    "shows": "TV shows",
    "recent": "Recently added",
    "continue": "Continue watching",
    "genres": "Genres",
}
MAX_PAGE = 500  # per Browse; RequestedCount 0 ("all") gets this many and TotalMatches
_ROW_LIMIT = 100  # Recently added and Continue watching hold this many
_SEARCH_LIMIT = 1000
SEARCH_CAPABILITIES = "dc:title,upnp:class,upnp:genre,dc:date"
SORT_CAPABILITIES = "dc:title,dc:date"
_SORTS = {"+dc:title": "title", "-dc:title": "-title", "+dc:date": "year", "-dc:date": "-year"}


@dataclass(frozen=True, slots=True)
class Links:
    """Absolute URLs on the address the TV reached us at (``http://192.168.1.5:8420``)."""

    base: str
    prefix: str = "/dlna"

    def original(self, file_id: int, container: str) -> str:
        return f"{self.base}{self.prefix}/files/{file_id}/original.{container}"

    def stream(self, file_id: int, profile: str) -> str:
        return f"{self.base}{self.prefix}/files/{file_id}/stream.ts?profile={quote(profile)}"

    def poster(self, item_id: int) -> str:
        return f"{self.base}{self.prefix}/items/{item_id}/poster.jpg"

    def caption(self, file_id: int, index: int) -> str:
        return f"{self.base}{self.prefix}/files/{file_id}/subtitles/{index}.srt"


@dataclass(frozen=True, slots=True)
class Page:
    result: str  # the DIDL-Lite document
    returned: int
    total: int


def parse_sort(criteria: str) -> str | None:
    """The catalog sort for ``+dc:title,-dc:date`` (the first key decides), None for none."""
    # A key without its sign is ascending: some control points leave the "+" out.
    keys = [k if k[0] in "+-" else f"+{k}" for k in (p.strip() for p in criteria.split(",")) if k]
    for key in keys:
        if key not in _SORTS:
            raise UpnpError(709, f"Unsupported or invalid sort criteria: {key}")
    return _SORTS[keys[0]] if keys else None


# -- search criteria (ContentDirectory:1 §2.5.5) -------------------------------------------

_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"]+)')
_OPERATORS = {
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "doesNotContain",
    "derivedfrom",
    "exists",
}
Criteria = tuple[Any, ...]  # ("and"|"or", left, right) or ("rel", property, op, value)


def parse_search(text: str) -> Criteria | None:
    """The parsed criteria; None for ``*`` (everything).  708 for anything malformed."""
    if text.strip() == "*":
        return None
    tokens: list[str] = []
    position = 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise UpnpError(708, "Unsupported or invalid search criteria")
        tokens.append(match[1])
        position = match.end()
    if len(tokens) > 200:
        raise UpnpError(708, "Unsupported or invalid search criteria: too long")
    parsed, rest = _expression(tokens, 0, 0)
    if rest != len(tokens):
        raise UpnpError(708, "Unsupported or invalid search criteria")
    return parsed


def _expression(tokens: list[str], at: int, depth: int) -> tuple[Criteria, int]:
    """or-expression of and-expressions ("and" binds tighter)."""
    left, at = _conjunction(tokens, at, depth)
    while at < len(tokens) and tokens[at].lower() == "or":
        right, at = _conjunction(tokens, at + 1, depth)
        left = ("or", left, right)
    return left, at


def _conjunction(tokens: list[str], at: int, depth: int) -> tuple[Criteria, int]:
    left, at = _primary(tokens, at, depth)
    while at < len(tokens) and tokens[at].lower() == "and":
        right, at = _primary(tokens, at + 1, depth)
        left = ("and", left, right)
    return left, at


def _primary(tokens: list[str], at: int, depth: int) -> tuple[Criteria, int]:
    bad = UpnpError(708, "Unsupported or invalid search criteria")
    if at >= len(tokens) or depth > 20:
        raise bad
    if tokens[at] == "(":
        inner, at = _expression(tokens, at + 1, depth + 1)
        if at >= len(tokens) or tokens[at] != ")":
            raise bad
        return inner, at + 1
    if at + 2 >= len(tokens):
        raise bad
    prop, op, value = tokens[at], tokens[at + 1], tokens[at + 2]
    if op not in _OPERATORS or prop in ("(", ")") or prop.startswith('"'):
        raise bad
    if op == "exists":
        if value.lower() not in ("true", "false"):
            raise bad
        return ("rel", prop, op, value.lower() == "true"), at + 3
    if not (len(value) >= 2 and value.startswith('"') and value.endswith('"')):
        raise bad
    unquoted = re.sub(r"\\(.)", r"\1", value[1:-1])
    return ("rel", prop, op, unquoted), at + 3


def _matches(criteria: Criteria | None, properties: Mapping[str, Any]) -> bool:
    if criteria is None:
        return True
    kind = criteria[0]
    if kind == "and":
        return _matches(criteria[1], properties) and _matches(criteria[2], properties)
    if kind == "or":
        return _matches(criteria[1], properties) or _matches(criteria[2], properties)
    _, prop, op, wanted = criteria
    value = properties.get(prop)
    if op == "exists":
        return (value is not None) == wanted
    if value is None:
        return False
    values = value if isinstance(value, list) else [value]
    needle = str(wanted).lower()
    for one in (str(v).lower() for v in values):
        if op == "derivedfrom" and (one == needle or one.startswith(needle + ".")):
            return True
        if op == "contains" and needle in one:
            return True
        if op == "doesNotContain" and needle not in one:
            return True
        if op in ("=", "!=", "<", "<=", ">", ">=") and _compare(one, op, needle):
            return True
    return False


def _compare(value: str, op: str, wanted: str) -> bool:
    return {
        "=": value == wanted,
        "!=": value != wanted,
        "<": value < wanted,
        "<=": value <= wanted,
        ">": value > wanted,
        ">=": value >= wanted,
    }[op]


def _sorted(rows: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    """Rows in a catalog sort order ("title", "-year"...), as the SQL would give them."""
    if order.lstrip("-") == "year":
        rows = sorted(rows, key=lambda r: str(r.get("title") or "").lower())
        return sorted(rows, key=lambda r: r.get("year") or 0, reverse=order.startswith("-"))
    return sorted(
        rows, key=lambda r: str(r.get("title") or "").lower(), reverse=order.startswith("-")
    )


def _title_term(criteria: Criteria | None) -> str | None:
    """A ``dc:title contains "x"`` every match must satisfy: the catalog narrows by it."""
    if criteria is None:
        return None
    if criteria[0] == "rel":
        return str(criteria[3]) if criteria[1:3] == ("dc:title", "contains") else None
    if criteria[0] == "and":
        return _title_term(criteria[1]) or _title_term(criteria[2])
    return None


def feature_list() -> str:
    """Samsung's X_GetFeatureList: where its "Videos" view starts."""
    containers = "".join(
        f'<container id="{object_id}" type="object.item.videoItem"/>'
        for object_id in ("movies", "shows", "recent")
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Features xmlns="urn:schemas-upnp-org:av:avs" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="urn:schemas-upnp-org:av:avs '
        'http://www.upnp.org/schemas/av/avs.xsd">'
        f'<Feature name="samsung.com_BASICVIEW" version="1">{containers}</Feature></Features>'
    )


# -- browsing -------------------------------------------------------------------------------


class Browser:
    """One request's view of the catalog: the DLNA user's, for one TV (its profile)."""

    def __init__(
        self,
        db: Database,
        access: Access,
        user_id: int | None,
        links: Links,
        profile: ClientProfile,
    ) -> None:
        self.db = db
        self.access = access
        self.user_id = user_id
        self.links = links
        self.profile = profile

    # The two actions ---------------------------------------------------------------------

    def browse(
        self, object_id: str, flag: str, filter_: str, start: int, count: int, sort: str
    ) -> Page:
        wanted = didl.filter_set(filter_)
        order = parse_sort(sort)
        if flag == "BrowseMetadata":
            if start != 0:
                raise UpnpError(402, "Invalid Args: StartingIndex must be 0 for BrowseMetadata")
            return self._page([self._metadata(object_id, wanted)], 1)
        limit = min(count or MAX_PAGE, MAX_PAGE)
        entries, total = self._children(object_id, wanted, start, limit, order)
        return self._page(entries, total)

    def search(
        self, container_id: str, criteria: str, filter_: str, start: int, count: int, sort: str
    ) -> Page:
        wanted = didl.filter_set(filter_)
        order = parse_sort(sort) or "title"
        parsed = parse_search(criteria)
        if container_id not in ("0", "genres"):
            self._listed(container_id, 0, 0, None)  # 701/710 for a container not there
        kinds = {"movies": ("movie",), "shows": ("episode",)}.get(
            container_id, ("movie", "episode")
        )
        if container_id in ("0", "genres", "movies", "shows"):  # the catalog narrows it down
            term = _title_term(parsed)
            if term is not None:
                rows = queries.titles_containing(
                    self.db, term, kinds, self.access, _SEARCH_LIMIT, sort=order
                )
            else:
                query = queries.ItemQuery(kind=kinds, sort=order, limit=_SEARCH_LIMIT)
                rows, _ = queries.list_items(self.db, query, self.access)
        else:  # a folder of a few hundred at most: walk it
            rows = _sorted(self._videos_in(container_id), order)
        found = [r for r in rows if _matches(parsed, self._properties(r))]
        limit = min(count or MAX_PAGE, MAX_PAGE)
        window = found[start : start + limit]
        media = self._media([int(r["id"]) for r in window])
        return self._page([self._item(r, media, wanted) for r in window], len(found))

    def _videos_in(self, container_id: str) -> list[dict[str, Any]]:
        """Every film and episode under a folder (shows and seasons opened)."""
        found: list[dict[str, Any]] = []
        pending = [container_id]
        while pending and len(found) < _SEARCH_LIMIT:
            folder = pending.pop()
            rows, _ = self._listed(folder, 0, _SEARCH_LIMIT, None)
            for row in rows:
                if row["kind"] in ("show", "season"):
                    pending.append(f"i{row['id']}")
                else:
                    found.append(row)
        return found

    @staticmethod
    def _page(entries: Sequence[str], total: int) -> Page:
        return Page("".join(entries), len(entries), total)

    # Objects -----------------------------------------------------------------------------

    def _catalog_item(self, object_id: str) -> dict[str, Any] | None:
        if not re.fullmatch(r"i[1-9][0-9]{0,17}", object_id):
            return None
        rows = queries.items_by_id(self.db, [int(object_id[1:])], self.access)
        return (
            rows[0] if rows and rows[0]["kind"] in ("movie", "show", "season", "episode") else None
        )

    def _metadata(self, object_id: str, wanted: frozenset[str] | None) -> str:
        if object_id == "0":
            return didl.container_xml(
                "0", "-1", "Hearth", len(FOLDERS), wanted=wanted, searchable=True
            )
        if object_id in FOLDERS:
            total = self._count(object_id)
            return didl.container_xml(object_id, "0", FOLDERS[object_id], total, wanted=wanted)
        if object_id.startswith("g/"):
            total = self._listed(object_id, 0, 0, None)[1]
            return didl.container_xml(object_id, "genres", object_id[2:], total, wanted=wanted)
        item = self._catalog_item(object_id)
        if item is None:
            raise UpnpError(701, "No such object")
        if item["kind"] in ("show", "season"):
            return self._folder(item, wanted)
        return self._item(item, self._media([int(item["id"])]), wanted)

    def _genre(self, object_id: str) -> str:
        genre = object_id[2:]
        if genre not in queries.genres(self.db, None, self.access):
            raise UpnpError(701, "No such object")
        return genre

    def _children(
        self,
        object_id: str,
        wanted: frozenset[str] | None,
        start: int,
        limit: int,
        order: str | None,
    ) -> tuple[list[str], int]:
        if object_id == "0":
            entries = [
                didl.container_xml(k, "0", title, self._count(k), wanted=wanted)
                for k, title in list(FOLDERS.items())[start : start + limit]
            ]
            return entries, len(FOLDERS)
        if object_id == "genres":
            names = queries.genres(self.db, None, self.access)
            entries = [
                didl.container_xml(f"g/{g}", "genres", g, self._titles(None, g, 0, 0, None)[1],
                                   wanted=wanted)
                for g in names[start : start + limit]
            ]  # fmt: skip
            return entries, len(names)
        rows, total = self._listed(object_id, start, limit, order)
        return self._entries(rows, wanted), total

    def _count(self, folder: str) -> int:
        """How many objects one of the root's folders holds."""
        if folder == "genres":
            return len(queries.genres(self.db, None, self.access))
        return self._listed(folder, 0, 0, None)[1]

    def _listed(
        self, folder: str, start: int, limit: int, order: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the catalog rows in a folder of titles, and how many it holds in all:
        701 for a folder that is not there (or hidden), 710 for a film or an episode."""
        if folder in ("movies", "shows"):
            return self._titles(
                "movie" if folder == "movies" else "show", None, start, limit, order
            )
        if folder.startswith("g/"):
            return self._titles(None, self._genre(folder), start, limit, order)
        if folder in ("recent", "continue"):
            rows = (
                queries.recently_added(self.db, _ROW_LIMIT, self.access)
                if folder == "recent"
                else self._continue_watching()
            )
            return rows[start : start + limit], len(rows)
        item = self._catalog_item(folder)
        if item is None:
            raise UpnpError(701, "No such object")
        if item["kind"] not in ("show", "season"):
            raise UpnpError(710, "No such container")
        every = queries.children(self.db, int(item["id"]), 10_000, 0, self.access)
        return every[start : start + limit], len(every)

    def _titles(
        self, kind: str | None, genre: str | None, start: int, limit: int, order: str | None
    ) -> tuple[list[dict[str, Any]], int]:
        """Films or shows (both, for a genre), sorted, one page."""
        query = queries.ItemQuery(
            kind=(kind,) if kind else ("movie", "show"),
            genre=genre,
            sort=order or "title",
            limit=limit,
            offset=start,
        )
        return queries.list_items(self.db, query, self.access)

    def _continue_watching(self) -> list[dict[str, Any]]:
        if self.user_id is None:
            return []
        return continue_watching(self.db, self.user_id, self.access, _ROW_LIMIT)

    def _entries(self, rows: Sequence[dict[str, Any]], wanted: frozenset[str] | None) -> list[str]:
        media = self._media([int(r["id"]) for r in rows if r["kind"] in ("movie", "episode")])
        return [
            self._folder(r, wanted)
            if r["kind"] in ("show", "season")
            else self._item(r, media, wanted)
            for r in rows
        ]

    def _folder(self, item: Mapping[str, Any], wanted: frozenset[str] | None) -> str:
        parent = "shows" if item["kind"] == "show" else f"i{item['parent_id']}"
        count = len(queries.children(self.db, int(item["id"]), 10_000, 0, self.access))
        art = self.links.poster(int(item["id"])) if item.get("poster_url") else None
        return didl.container_xml(
            f"i{item['id']}", parent, str(item["title"]), count, wanted=wanted, item=item, art=art
        )

    def _item(
        self,
        item: Mapping[str, Any],
        media: Mapping[int, dict[str, Any]],
        wanted: frozenset[str] | None,
    ) -> str:
        parent = "movies" if item["kind"] == "movie" else f"i{item['parent_id']}"
        file = media.get(int(item["id"]))
        resources, captions = self._resources(file) if file else ([], [])
        art_id = int(item["id"]) if item.get("poster_url") else None
        if art_id is None and item["kind"] == "episode" and item.get("show_id"):
            art_id = int(item["show_id"])  # an episode without a still shows its show
        art = self.links.poster(art_id) if art_id is not None else None
        return didl.item_xml(
            f"i{item['id']}", parent, item, resources, wanted=wanted, art=art, captions=captions
        )

    def _properties(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """What search criteria can ask about an item."""
        return {
            "dc:title": item.get("title"),
            "upnp:class": didl.item_class(item),
            "upnp:genre": list(item.get("genres") or []) or None,
            "dc:date": didl.date_of(item),
            "@id": f"i{item['id']}",
            "@refID": None,
            "res": "",
        }

    # Media -------------------------------------------------------------------------------

    def _media(self, item_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Each item's first playable file, with its streams (two queries for a page)."""
        if not item_ids:
            return {}
        marks = ",".join("?" * len(item_ids))
        files: dict[int, dict[str, Any]] = {}
        for row in self.db.query(
            f"""SELECT id, item_id, container, size, duration_s, start_offset_s, bit_rate FROM files
                WHERE item_id IN ({marks}) AND probe_error IS NULL ORDER BY item_id, id""",
            list(item_ids),
        ):
            files.setdefault(int(row["item_id"]), {**dict(row), "streams": []})
        by_file = {int(f["id"]): f for f in files.values()}
        if by_file:
            for stream in self.db.query(
                f"""SELECT * FROM streams WHERE file_id IN ({",".join("?" * len(by_file))})
                    ORDER BY file_id, idx""",
                list(by_file),
            ):
                by_file[int(stream["file_id"])]["streams"].append(dict(stream))
        return files

    def _resources(self, file: Mapping[str, Any]) -> tuple[list[didl.Resource], list[str]]:
        streams = file["streams"]
        video, audio = main_streams(streams)
        if video is None:
            return [], []
        try:
            decision = decide(
                file["container"],
                streams,
                self.profile,
                start_offset_s=file["start_offset_s"] or 0.0,
            )
        except LookupError:
            return [], []
        width, height = int(video.get("width") or 0), int(video.get("height") or 0)
        common = {"duration": didl.npt(float(file["duration_s"] or 0))}
        if audio is not None and audio.get("channels"):
            common["nrAudioChannels"] = str(int(audio["channels"]))
        container = str(file["container"] or "")
        mime = didl.file_mime(container)
        original = None
        if mime is not None:
            attributes = {"size": str(int(file["size"])), **common}
            if width and height:
                attributes["resolution"] = f"{width}x{height}"
            if file.get("bit_rate"):
                attributes["bitrate"] = str(int(file["bit_rate"]) // 8)  # UPnP: bytes/s
            original = didl.Resource(
                self.links.original(int(file["id"]), container),
                f"http-get:*:{mime}:{original_features(file)}",
                attributes,
            )
        captions = [
            self.links.caption(int(file["id"]), int(s["idx"])) for s in caption_tracks(streams)
        ][:1]
        if decision.mode == "direct" and original is not None:
            return [original], captions
        stream = didl.Resource(
            self.links.stream(int(file["id"]), self.profile.name),
            f"http-get:*:video/mpeg:{stream_features(file, decision)}",
            common,
        )
        return [stream, *([original] if original else [])], captions


def main_streams(
    streams: Sequence[Mapping[str, Any]],
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """The video and the audio a TV plays when nobody chose, as the decision picks them."""
    return default_stream(streams, "video"), default_stream(streams, "audio")


def original_features(file: Mapping[str, Any]) -> str:
    """``contentFeatures.dlna.org`` of the file as it is: byte seeks, not converted."""
    video, audio = main_streams(file["streams"])
    pn = didl.profile_name(
        str(file["container"] or ""),
        video["codec"] if video else None,
        audio["codec"] if audio else None,
        int((video or {}).get("height") or 0),
    )
    return didl.content_features(pn, converted=False, time_seek=False)


def stream_features(file: Mapping[str, Any], decision: Decision) -> str:
    """``contentFeatures.dlna.org`` of the transcoded MPEG-TS: time seeks, converted."""
    video, audio = main_streams(file["streams"])
    copy = decision.video == "copy"
    height = int((video or {}).get("height") or 0)
    pn = didl.profile_name(
        "ts",
        (video or {}).get("codec") if copy else "h264",
        (audio["codec"] if decision.audio == "copy" else "aac") if audio else None,
        height if copy else min(height, 720),  # the ladder starts at 720p or below
    )
    return didl.content_features(pn, converted=True, time_seek=True)


def caption_tracks(streams: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Text subtitles a TV can be handed as SRT: the default first, forced ones last."""
    text = [s for s in streams if s["type"] == "subtitle" and s.get("codec") not in IMAGE_SUBTITLES]
    return sorted(text, key=lambda s: (not s.get("is_default"), bool(s.get("is_forced"))))
