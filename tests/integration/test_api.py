"""The JSON API of a real Hearth on 127.0.0.1 over a small library of real clips.

One server per module: the library (see ``hearth_library`` in conftest.py) holds three
movies (``Zephyr Quokka (2019)`` with chapters, ``Amber Lighthouse`` with an NFO genre, the
mkv ``Marble.Orchard.2001``), the show ``Orbit Patrol`` (two seasons, ``S01E02E03`` in one
file) and one file that is not a video at all.
"""

from __future__ import annotations

import http.client
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import AbstractContextManager
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families

from mediaserver import __version__
from tests.integration.conftest import auth_headers

MOVIES = ["Amber Lighthouse", "Marble Orchard", "Zephyr Quokka"]
EXPECTED_COUNTS = {"movie": 3, "show": 1, "season": 2, "episode": 4}
LIBRARY_FILES = 8  # seven clips and the broken file


ASGIApp = Callable[..., Awaitable[None]]
Message = MutableMapping[str, Any]


class SentBodies:
    """Body bytes the app itself sent, by ``X-Request-ID``: uvicorn drops a HEAD body on the
    wire, so only an ASGI wrapper can tell whether the app sent one."""

    def __init__(self) -> None:
        self.sizes: dict[str, int] = {}

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def recording(scope: Message, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            key = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")

            async def counting(message: Message) -> None:
                if message["type"] == "http.response.body":
                    self.sizes[key] = self.sizes.get(key, 0) + len(message.get("body", b""))
                await send(message)

            await app(scope, receive, counting)

        return recording


@pytest.fixture(scope="module")
def sent() -> SentBodies:
    return SentBodies()


@pytest.fixture(scope="module")
def base_url(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
    sent: SentBodies,
) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("api-data")
    with hearth_server(data_dir, [hearth_library], wrap=sent.wrap) as url:
        with httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as client:
            scan_waiter(client)
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=auth_headers(base_url), timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def items(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every catalogued item by title (titles in the test library are unique)."""
    body = client.get("/api/v1/items", params={"kind": "movie,show,season,episode", "limit": 500})
    assert body.status_code == 200
    found = {item["title"]: item for item in body.json()["items"]}
    assert len(found) == sum(EXPECTED_COUNTS.values())  # no two items share a title
    return found


@pytest.fixture(scope="module")
def library_id(client: httpx.Client) -> int:
    (library,) = client.get("/api/v1/libraries").json()["libraries"]
    return int(library["id"])


def titles(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


def detail(client: httpx.Client, item: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/items/{item['id']}")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def head_like_get(
    client: httpx.Client, sent: SentBodies, url: str, names: tuple[str, ...]
) -> httpx.Response:
    """HEAD ``url``: GET's status and headers ``names``, and no body from the app or the wire."""
    full = client.get(url)
    request_id = f"head-{secrets.token_hex(8)}"
    head = client.head(url, headers={"X-Request-ID": request_id})
    assert head.status_code == full.status_code
    assert head.content == b""
    assert sent.sizes.get(request_id, 0) == 0, "the app sent a body for a HEAD"
    assert full.content and full.headers["content-length"] == str(len(full.content))
    for name in ("content-type", "content-length", *names):
        assert head.headers[name] == full.headers[name], name
    return head


def assert_json_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["status_code"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    return str(body["detail"])


# -- system ----------------------------------------------------------------------------


def test_health(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["db"] is True
    assert body["ffmpeg"] is True
    assert body["writable"] is True and body["problems"] == []
    assert body["startup"] == "ready"


def test_health_answers_head(client: httpx.Client, sent: SentBodies) -> None:
    head = head_like_get(client, sent, "/health", ())
    assert head.headers["content-type"] == "application/json"


def test_openapi_schema_is_valid_and_lists_public_paths(client: httpx.Client) -> None:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.1")
    validate(spec)
    for path in (
        "/api/v1/items",
        "/api/v1/items/{item_id}",
        "/api/v1/items/{item_id}/file",
        "/api/v1/libraries",
        "/api/v1/scan",
        "/api/v1/search",
        "/api/v1/people/{person_id}",
    ):
        assert path in spec["paths"], path
    assert not any(p.startswith(("/static", "/metrics", "/items")) for p in spec["paths"])


def test_openapi_schema_describes_methods_parameters_and_bodies(client: httpx.Client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    for path in (
        "/health",
        "/api/v1/items/{item_id}/image/{image}",
        "/api/v1/items/{item_id}/file",
    ):
        assert set(paths[path]) == {"get", "head"}, path
    listing = {p["name"]: p for p in paths["/api/v1/items"]["get"]["parameters"]}
    assert set(listing) == {
        "q",
        "kind",
        "library_id",
        "parent_id",
        "genre",
        "year",
        "decade",
        "content_rating",
        "resolution",
        "hdr",
        "status",
        "favourite",
        "starts",
        "sort",
        "limit",
        "offset",
    }
    for documented in ("decade", "content_rating", "resolution", "hdr", "status", "starts"):
        assert listing[documented]["description"], documented
    assert "played" in listing["sort"]["schema"]["enum"]
    assert {p["in"] for p in listing.values()} == {"query"}
    assert not any(p["required"] for p in listing.values())
    limit, offset = listing["limit"], listing["offset"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)
    assert (limit["schema"]["default"], limit["description"]) == (50, "Page size (1-500).")
    assert (offset["schema"]["minimum"], offset["schema"]["maximum"]) == (0, 1_000_000_000)
    assert offset["description"] == "Rows to skip (at most 1,000,000,000)."
    ids = paths["/api/v1/items/{item_id}"]["get"]["parameters"][0]["schema"]
    assert (ids["minimum"], ids["maximum"]) == (1, 2**63 - 1)  # SQLite's INTEGER: no 500s
    assert listing["kind"]["description"].startswith("movie, show, season")
    image = paths["/api/v1/items/{item_id}/image/{image}"]["get"]["parameters"]
    assert {(p["name"], p["in"], p["required"]) for p in image} == {
        ("item_id", "path", True),
        ("image", "path", True),
        ("width", "query", False),
    }
    search = paths["/api/v1/search"]["get"]
    assert {p["name"]: p["required"] for p in search["parameters"]} == {"q": False, "limit": False}
    answer = search["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/SearchAnswer"}
    shape = client.get("/schema/openapi.json").json()["components"]["schemas"]["SearchAnswer"]
    assert set(shape["required"]) == {"q", "items", "total", "people", "genres"}
    # data: ScanRequest | None = None: no body at all is fine, so the body is optional.
    body = paths["/api/v1/scan"]["post"]["requestBody"]
    assert body.get("required", False) is False
    schema = body["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/ScanRequest"} in schema["oneOf"]


def test_the_api_docs_page_works_without_internet(client: httpx.Client) -> None:
    page = client.get("/schema")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/vendor/redoc-2.5.4/redoc.standalone.js" in page.text
    assert "https://" not in page.text and "http://" not in page.text.replace(
        str(client.base_url), ""
    )
    script = client.get("/static/vendor/redoc-2.5.4/redoc.standalone.js")
    assert script.status_code == 200 and len(script.content) > 500_000


def test_metrics_are_prometheus_text(client: httpx.Client) -> None:
    client.get("/api/v1/items")  # at least one request the middleware has measured
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    scans = families["hearth_scan_duration_seconds"]
    assert scans.type == "histogram"
    assert any(s.name.endswith("_count") and s.value >= 1 for s in scans.samples)
    writes = families["hearth_db_write_seconds"]
    assert any(s.name.endswith("_count") and s.value >= 1 for s in writes.samples)
    requests = families["hearth_requests"]  # the parser drops a counter's _total suffix
    assert any(s.labels.get("path") == "/api/v1/items" for s in requests.samples)
    assert "hearth_request_duration_seconds" in families


@pytest.mark.parametrize(
    "path",
    [
        "/health",
        "/api/v1/items",
        "/api/v1/items/999999",
        "/api/v1/items?limit=abc",
        "/",
        "/items/999999",
        "/static/app.css",
        "/metrics",
        "/schema/openapi.json",
    ],
)
def test_every_response_has_a_request_id(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", response.headers["x-request-id"])


def test_request_ids_are_unique_and_sane_incoming_ones_echoed(client: httpx.Client) -> None:
    ids = {client.get("/health").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3
    sane = "proxy-7f3a.9b_TRACE"
    assert client.get("/health", headers={"X-Request-ID": sane}).headers["x-request-id"] == sane
    for insane in ("has spaces in it", "short", "x" * 65, "semi;colon;header"):
        echoed = client.get("/health", headers={"X-Request-ID": insane}).headers["x-request-id"]
        assert echoed != insane
        assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", echoed)


# -- libraries ---------------------------------------------------------------------------


def test_libraries(client: httpx.Client, hearth_library: Path, library_id: int) -> None:
    (library,) = client.get("/api/v1/libraries").json()["libraries"]
    assert library["name"] == hearth_library.name
    assert library["path"] == str(hearth_library)
    assert library["counts"] == EXPECTED_COUNTS
    assert library["last_scan_at"]
    assert "active" not in library
    one = client.get(f"/api/v1/libraries/{library_id}")
    assert one.status_code == 200
    assert one.json() == library


def test_problems_list_the_broken_file_with_a_reason(
    client: httpx.Client, library_id: int, items: dict[str, dict[str, Any]]
) -> None:
    response = client.get(f"/api/v1/libraries/{library_id}/problems")
    assert response.status_code == 200
    (problem,) = response.json()["problems"]
    assert Path(problem["path"]).name == "Broken Reel (2020).mp4"
    assert "not a readable media file" in problem["reason"]
    assert not any("Broken" in title for title in items)
    assert client.get("/api/v1/items", params={"q": "broken reel"}).json()["total"] == 0


@pytest.mark.parametrize("path", ["/api/v1/libraries/999", "/api/v1/libraries/999/problems"])
def test_unknown_library_is_404_json(client: httpx.Client, path: str) -> None:
    assert "999" in assert_json_error(client.get(path), 404)


# -- listing and search ----------------------------------------------------------------------


def test_list_by_kind(client: httpx.Client) -> None:
    movies = client.get("/api/v1/items", params={"kind": "movie"})
    assert titles(movies) == MOVIES
    assert movies.json()["total"] == 3
    both = client.get("/api/v1/items", params={"kind": "movie,show"})
    assert titles(both) == ["Amber Lighthouse", "Marble Orchard", "Orbit Patrol", "Zephyr Quokka"]
    assert both.json()["total"] == 4
    assert {i["kind"] for i in both.json()["items"]} == {"movie", "show"}
    assert titles(client.get("/api/v1/items", params={"kind": "season"})) == [
        "Season 1",
        "Season 2",
    ]


def test_limit_and_offset_page_with_a_stable_total(client: httpx.Client) -> None:
    first = client.get("/api/v1/items", params={"kind": "movie", "limit": 2})
    assert titles(first) == MOVIES[:2]
    assert first.json()["total"] == 3
    assert (first.json()["limit"], first.json()["offset"]) == (2, 0)
    rest = client.get("/api/v1/items", params={"kind": "movie", "limit": 2, "offset": 2})
    assert titles(rest) == MOVIES[2:]
    assert rest.json()["total"] == 3
    past = client.get("/api/v1/items", params={"kind": "movie", "offset": 10})
    assert titles(past) == []
    assert past.json()["total"] == 3


def test_sort_by_added_and_year(client: httpx.Client) -> None:
    newest = client.get("/api/v1/items", params={"kind": "movie", "sort": "-added"}).json()
    keys = [(i["added_at"], i["id"]) for i in newest["items"]]
    assert keys == sorted(keys, reverse=True)
    oldest = client.get("/api/v1/items", params={"kind": "movie", "sort": "added"}).json()
    assert [i["id"] for i in oldest["items"]] == [i["id"] for i in reversed(newest["items"])]
    by_year = client.get("/api/v1/items", params={"kind": "movie", "sort": "-year"})
    assert titles(by_year) == ["Zephyr Quokka", "Amber Lighthouse", "Marble Orchard"]


def test_filter_by_year_and_genre(client: httpx.Client) -> None:
    assert titles(client.get("/api/v1/items", params={"year": 2019})) == ["Zephyr Quokka"]
    assert titles(client.get("/api/v1/items", params={"genre": "Comedy"})) == ["Amber Lighthouse"]
    assert titles(client.get("/api/v1/items", params={"genre": "Western"})) == []


def test_genres(client: httpx.Client, library_id: int) -> None:
    assert client.get("/api/v1/genres").json() == {"genres": ["Comedy"]}
    assert client.get("/api/v1/genres", params={"library_id": library_id}).json() == {
        "genres": ["Comedy"]
    }
    assert client.get("/api/v1/genres", params={"library_id": 999}).json() == {"genres": []}
    bad = client.get("/api/v1/genres", params={"library_id": "abc"})
    assert assert_json_error(bad, 400).startswith("library_id:")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("zeph", "Zephyr Quokka"),  # a prefix, as typed
        ("Zephyr Q", "Zephyr Quokka"),  # every word, the last one a prefix
        ("QUOKKA", "Zephyr Quokka"),
        ("orbit pat", "Orbit Patrol"),
        ("marble", "Marble Orchard"),
        ("light", "Amber Lighthouse"),
        ("laun", "Launch"),  # episodes are searchable too
        ("quokkas", "Zephyr Quokka"),  # a typo (a letter too many) is forgiven
        ("zephir quoka", "Zephyr Quokka"),
        ("amber lighthuose", "Amber Lighthouse"),
        ("lumen", "Amber Lighthouse"),  # its director
    ],
)
def test_search_as_you_type(client: httpx.Client, q: str, expected: str) -> None:
    response = client.get("/api/v1/items", params={"q": q})
    assert expected in titles(response)
    assert response.json()["total"] == len(response.json()["items"])


@pytest.mark.parametrize("q", ["xyzzyplugh", "zephyr xyzzy", "quokkasaurus"])
def test_search_for_nonsense_finds_nothing(client: httpx.Client, q: str) -> None:
    response = client.get("/api/v1/items", params={"q": q})
    assert titles(response) == []
    assert response.json()["total"] == 0


@pytest.mark.parametrize("q", ["!!!", '"', "*", "-", "()", "' OR 1=1 --", "^ NEAR"])
def test_search_with_only_punctuation_or_fts_syntax_is_safe(client: httpx.Client, q: str) -> None:
    response = client.get("/api/v1/items", params={"q": q})
    assert response.status_code == 200
    if not re.search(r"\w", q):
        assert response.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_search_answers_titles_people_and_genres(client: httpx.Client) -> None:
    answer = client.get("/api/v1/search", params={"q": "lumen"}).json()
    assert [i["title"] for i in answer["items"]] == ["Amber Lighthouse"]
    assert answer["total"] == 1 and answer["q"] == "lumen"
    (lumen,) = answer["people"]
    assert lumen == {
        "id": lumen["id"],
        "name": "Ada Lumen",
        "title_count": 1,
        "url": f"/people/{lumen['id']}",
    }
    assert answer["genres"] == []
    typo = client.get("/api/v1/search", params={"q": "iris keepr"}).json()
    assert [p["name"] for p in typo["people"]] == ["Iris Keeper"]
    comedy = client.get("/api/v1/search", params={"q": "comdy"}).json()
    assert comedy["genres"] == [{"name": "Comedy", "title_count": 1, "url": "/genres/Comedy"}]
    item = answer["items"][0]
    assert item["user_data"]["watched"] is False  # the same items as /api/v1/items
    assert client.get("/api/v1/search", params={"q": ""}).json() == {
        "q": "",
        "items": [],
        "total": 0,
        "people": [],
        "genres": [],
    }


def test_search_limits_titles_and_refuses_bad_limits(client: httpx.Client) -> None:
    one = client.get("/api/v1/search", params={"q": "o", "limit": 1}).json()
    assert len(one["items"]) == 1 and one["total"] > 1
    for limit in ("0", "101", "abc"):
        bad = client.get("/api/v1/search", params={"q": "o", "limit": limit})
        assert assert_json_error(bad, 400).startswith("limit")


@pytest.mark.parametrize("q", ['"', "*", "NEAR(", "-", "AND", "()", "' OR 1=1 --", "x" * 500])
def test_search_with_fts_syntax_is_safe(client: httpx.Client, q: str) -> None:
    response = client.get("/api/v1/search", params={"q": q})
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"q", "items", "total", "people", "genres"}


def test_a_person_lists_their_titles_by_role(client: httpx.Client) -> None:
    (keeper,) = client.get("/api/v1/search", params={"q": "iris"}).json()["people"]
    person = client.get(f"/api/v1/people/{keeper['id']}").json()
    assert person["name"] == "Iris Keeper"
    assert [(r["role"], [i["title"] for i in r["items"]]) for r in person["roles"]] == [
        ("actor", ["Amber Lighthouse"])
    ]
    missing = client.get("/api/v1/people/987654")
    assert assert_json_error(missing, 404) == "no person with id 987654"
    item = client.get(f"/api/v1/items/{person['roles'][0]['items'][0]['id']}").json()
    cast = [{k: p[k] for k in ("id", "name", "role")} for p in item["people"]]
    assert {"id": keeper["id"], "name": "Iris Keeper", "role": "actor"} in cast


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("limit=abc", "limit: must be a whole number"),
        ("limit=0", "limit: must be at least 1"),
        ("limit=100000", "limit: must be at most 500"),
        ("offset=-1", "offset: must be at least 0"),
        ("kind=bogus", "kind: 'bogus' is not one of movie, show, season, episode, collection"),
        ("kind=movie,bogus", "kind: 'bogus' is not one of"),
        (
            "sort=bogus",
            "sort: 'bogus' is not one of title, -title, year, -year, added, -added, rating, "
            "-rating, runtime, -runtime, played, -played",
        ),
        ("year=x", "year: “x” is not a year; type one like 1999."),
        ("year=abc", "year: “abc” is not a year; type one like 1999."),
        ("library_id=one", "library_id: must be a whole number"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter_in_words(
    client: httpx.Client, query: str, said: str
) -> None:
    message = assert_json_error(client.get(f"/api/v1/items?{query}"), 400)
    assert message.startswith(said), message
    assert "`" not in message and "Expected" not in message  # not msgspec's wording


def test_bad_children_parameters_are_400(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    show = items["Orbit Patrol"]["id"]
    message = assert_json_error(client.get(f"/api/v1/items/{show}/children?limit=-5"), 400)
    assert message.startswith("limit:")


# -- one item ---------------------------------------------------------------------------------


def test_movie_detail_has_streams_and_chapters(
    client: httpx.Client, items: dict[str, dict[str, Any]], hearth_library: Path
) -> None:
    movie = detail(client, items["Zephyr Quokka"])
    assert (movie["kind"], movie["title"], movie["year"]) == ("movie", "Zephyr Quokka", 2019)
    (file,) = movie["files"]
    assert Path(file["path"]).is_relative_to(hearth_library)
    assert file["container"] == "mp4"
    assert file["size"] == Path(file["path"]).stat().st_size
    assert file["duration_s"] == pytest.approx(1.0, abs=0.1)
    video = next(s for s in file["streams"] if s["type"] == "video")
    audio = next(s for s in file["streams"] if s["type"] == "audio")
    assert (video["codec"], video["width"], video["height"]) == ("h264", 320, 180)
    assert (audio["codec"], audio["channels"], audio["language"]) == ("aac", 2, "eng")
    assert audio["sample_rate"] == 48000
    assert [c["title"] for c in file["chapters"]] == ["Opening", "Finale"]
    assert [c["start_s"] for c in file["chapters"]] == pytest.approx([0.0, 0.5])
    assert file["url"] == f"/api/v1/items/{movie['id']}/file?file_id={file['id']}"


def test_mkv_and_nfo_movies(client: httpx.Client, items: dict[str, dict[str, Any]]) -> None:
    mkv = detail(client, items["Marble Orchard"])
    assert mkv["year"] == 2001
    (file,) = mkv["files"]
    assert file["container"] == "mkv"
    audio = next(s for s in file["streams"] if s["type"] == "audio")
    assert (audio["codec"], audio["channels"], audio["language"]) == ("aac", 1, "spa")
    assert file["chapters"] == []
    nfo = detail(client, items["Amber Lighthouse"])
    assert (nfo["year"], nfo["genres"]) == (2010, ["Comedy"])
    assert nfo["overview"] == "A lighthouse keeper counts the waves."


def test_show_children_are_seasons_in_order(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    show = items["Orbit Patrol"]
    assert show["child_count"] == 2
    response = client.get(f"/api/v1/items/{show['id']}/children")
    assert response.status_code == 200
    seasons = response.json()["items"]
    assert [(s["kind"], s["title"], s["season_number"]) for s in seasons] == [
        ("season", "Season 1", 1),
        ("season", "Season 2", 2),
    ]
    assert {s["show_id"] for s in seasons} == {show["id"]}


def test_season_children_are_episodes_in_order(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    def episodes(season: str) -> list[tuple[int, int | None, str]]:
        response = client.get(f"/api/v1/items/{items[season]['id']}/children")
        assert response.status_code == 200
        kids = response.json()["items"]
        assert {e["kind"] for e in kids} == {"episode"}
        assert {e["show_title"] for e in kids} == {"Orbit Patrol"}
        return [(e["episode_number"], e["episode_end"], e["title"]) for e in kids]

    # Not alphabetical on purpose: the order must come from the episode numbers.
    assert episodes("Season 1") == [(1, None, "Launch"), (2, 3, "Docking")]
    assert episodes("Season 2") == [(1, None, "Zenith"), (2, None, "Apogee")]
    children = client.get(f"/api/v1/items/{items['Season 1']['id']}/children?limit=1&offset=1")
    assert titles(children) == ["Docking"]
    leaf = client.get(f"/api/v1/items/{items['Launch']['id']}/children")
    assert titles(leaf) == []


def test_multi_episode_file_is_one_episode_item(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    episode = detail(client, items["Docking"])
    assert (episode["season_number"], episode["episode_number"], episode["episode_end"]) == (
        1,
        2,
        3,
    )
    assert (episode["show_id"], episode["show_title"]) == (
        items["Orbit Patrol"]["id"],
        "Orbit Patrol",
    )
    assert Path(episode["files"][0]["path"]).name == "Orbit.Patrol.S01E02E03.Docking.mp4"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/items/999999",
        "/api/v1/items/999999/children",
        "/api/v1/items/999999/file",
        "/api/v1/items/999999/image/poster",
    ],
)
def test_unknown_items_are_404_json(client: httpx.Client, path: str) -> None:
    message = assert_json_error(client.get(path), 404)
    assert "999999" in message


def test_unknown_routes_are_404_json_under_api(client: httpx.Client) -> None:
    assert_json_error(client.get("/api/v1/nothing-here"), 404)
    assert_json_error(client.get("/api/v1/items/not-a-number"), 404)


# -- images -----------------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["Zephyr Quokka", "Marble Orchard", "Launch", "Orbit Patrol"])
def test_extracted_posters_are_jpeg(
    client: httpx.Client, items: dict[str, dict[str, Any]], title: str
) -> None:
    item = items[title]
    # A show without art of its own shows its first episode's picture, at that one's address.
    owner = items["Launch"] if title == "Orbit Patrol" else item
    assert item["poster_url"] == f"/api/v1/items/{owner['id']}/image/poster"
    response = client.get(item["poster_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content.startswith(b"\xff\xd8\xff")
    assert "max-age" in response.headers["cache-control"]
    own = client.get(f"/api/v1/items/{item['id']}/image/poster")  # the item's own address
    assert own.status_code == 200 and own.content == response.content


def test_images_answer_head(
    client: httpx.Client, sent: SentBodies, items: dict[str, dict[str, Any]]
) -> None:
    url = items["Zephyr Quokka"]["poster_url"]
    names = ("cache-control", "accept-ranges", "etag", "last-modified")
    head = head_like_get(client, sent, url, names)
    assert head.headers["content-type"] == "image/jpeg"
    assert client.head(url, headers={"If-None-Match": head.headers["etag"]}).status_code == 304
    missing = f"/api/v1/items/{items['Zephyr Quokka']['id']}/image/backdrop"
    assert client.head(missing).status_code == 404
    assert client.head("/api/v1/items/999999/image/poster").status_code == 404


def test_missing_backdrop_is_404(client: httpx.Client, items: dict[str, dict[str, Any]]) -> None:
    item = items["Zephyr Quokka"]
    assert item["backdrop_url"] is None
    assert "backdrop" in assert_json_error(
        client.get(f"/api/v1/items/{item['id']}/image/backdrop"), 404
    )


@pytest.mark.parametrize(
    "name", ["..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e", "passwd", "poster.jpg", "POSTER", "title"]
)
def test_other_image_names_are_404(
    client: httpx.Client, items: dict[str, dict[str, Any]], name: str
) -> None:
    response = client.get(f"/api/v1/items/{items['Zephyr Quokka']['id']}/image/{name}")
    assert response.status_code == 404
    assert b"root:" not in response.content


def test_dot_dot_segments_in_image_path_are_404(
    base_url: str, items: dict[str, dict[str, Any]]
) -> None:
    # http.client sends the path verbatim: httpx would normalise the dots away.
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        item_id = items["Zephyr Quokka"]["id"]
        connection.request("GET", f"/api/v1/items/{item_id}/image/../../../../etc/passwd")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404
    assert b"root:" not in body


# -- direct play --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def movie_file(client: httpx.Client, items: dict[str, dict[str, Any]]) -> tuple[str, bytes]:
    """URL and bytes of the Zephyr Quokka mp4."""
    movie = detail(client, items["Zephyr Quokka"])
    return f"/api/v1/items/{movie['id']}/file", Path(movie["files"][0]["path"]).read_bytes()


def test_direct_play_full(client: httpx.Client, movie_file: tuple[str, bytes]) -> None:
    url, data = movie_file
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"', response.headers["etag"])
    assert parsedate_to_datetime(response.headers["last-modified"]).timestamp() <= time.time()
    assert response.headers["content-length"] == str(len(data))
    assert response.content == data


def test_direct_play_range(client: httpx.Client, movie_file: tuple[str, bytes]) -> None:
    url, data = movie_file
    response = client.get(url, headers={"Range": "bytes=0-99"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-99/{len(data)}"
    assert response.headers["content-length"] == "100"
    assert response.headers["content-type"] == "video/mp4"
    assert response.content == data[:100]
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206
    assert tail.content == data[-10:]


def test_direct_play_range_beyond_the_end_is_416(
    client: httpx.Client, movie_file: tuple[str, bytes]
) -> None:
    url, data = movie_file
    response = client.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


def test_direct_play_head(client: httpx.Client, movie_file: tuple[str, bytes]) -> None:
    url, data = movie_file
    full, head = client.get(url), client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-type", "content-length", "accept-ranges", "etag", "last-modified"):
        assert head.headers[name] == full.headers[name], name
    ranged = client.head(url, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.headers["content-range"] == f"bytes 0-99/{len(data)}"


def test_direct_play_if_range(client: httpx.Client, movie_file: tuple[str, bytes]) -> None:
    url, data = movie_file
    etag = client.head(url).headers["etag"]
    fresh = client.get(url, headers={"Range": "bytes=0-99", "If-Range": etag})
    assert fresh.status_code == 206
    stale = client.get(url, headers={"Range": "bytes=0-99", "If-Range": '"0-0-0"'})
    assert stale.status_code == 200
    assert stale.content == data
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_direct_play_mkv_type_and_file_id(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    mkv = detail(client, items["Marble Orchard"])
    (file,) = mkv["files"]
    response = client.get(file["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/x-matroska"
    assert response.content == Path(file["path"]).read_bytes()
    other = client.get(f"/api/v1/items/{mkv['id']}/file", params={"file_id": file["id"] + 999})
    assert "no playable file" in assert_json_error(other, 404)


def test_direct_play_of_a_show_is_404(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    response = client.get(f"/api/v1/items/{items['Orbit Patrol']['id']}/file")
    assert "no playable file" in assert_json_error(response, 404)


# -- scans (last: they rescan the library the other tests read) ------------------------------------


def test_scan_unknown_library_is_404(client: httpx.Client) -> None:
    response = client.post("/api/v1/scan", json={"library_ids": [999]})
    assert "999" in assert_json_error(response, 404)
    assert client.get("/api/v1/scan/status").json()["queued"] == []


def test_scan_bad_body_is_400_naming_the_field(client: httpx.Client) -> None:
    wrong_type = assert_json_error(client.post("/api/v1/scan", json={"library_ids": "all"}), 400)
    assert wrong_type == "library_ids: must be a list"
    assert "libraries" in assert_json_error(
        client.post("/api/v1/scan", json={"libraries": [1]}), 400
    )
    unknown = assert_json_error(client.post("/api/v1/scan", json={"bogus": 1}), 400)
    assert unknown == "bogus: is not a known field"
    broken = client.post(
        "/api/v1/scan", content=b'{"library_ids": [', headers={"content-type": "application/json"}
    )
    assert assert_json_error(broken, 400) == "the request body is not valid JSON"
    assert client.get("/api/v1/scan/status").json()["queued"] == []


def test_rescan_probes_nothing_new(
    client: httpx.Client, library_id: int, scan_waiter: Callable[..., dict[str, Any]]
) -> None:
    asked = time.time()
    response = client.post("/api/v1/scan")
    assert response.status_code == 202
    status = response.json()
    assert status["state"] in ("idle", "running")
    assert status["queued"] == [library_id] or status["state"] == "running"
    finished = scan_waiter(client, started_after=asked)
    assert finished["last"]["library"] == "Test Library"
    assert finished["last"]["files"] == LIBRARY_FILES
    assert finished["last"]["unchanged"] == LIBRARY_FILES
    assert finished["last"]["probed"] == 0
    assert finished["last"]["removed"] == 0
    again = client.get("/api/v1/scan/status")
    assert again.status_code == 200
    assert again.json()["state"] == "idle"


def test_scan_one_library_then_cancel(
    client: httpx.Client, library_id: int, poll: Callable[..., Any]
) -> None:
    started = client.post("/api/v1/scan", json={"library_ids": [library_id]})
    assert started.status_code == 202
    cancelled = client.post("/api/v1/scan/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json()["queued"] == []
    assert cancelled.json()["state"] in ("idle", "cancelling")

    def idle() -> bool:
        status = client.get("/api/v1/scan/status").json()
        return status["state"] == "idle" and not status["queued"]

    poll(idle, 30, "the cancelled scan to stop")
    assert titles(client.get("/api/v1/items", params={"kind": "movie"})) == MOVIES
    assert client.post("/api/v1/scan/cancel").status_code == 202  # nothing to cancel: fine


def test_playback_decision_for_a_browser_and_a_tv(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    zephyr = items["Zephyr Quokka"]["id"]
    browser = client.get(
        f"/api/v1/items/{zephyr}/playback",
        params={
            "profile": "browser",
            "vcodec": "h264,vp9",
            "acodec": "aac,opus",
            "container": "mp4,webm",
        },
    )
    assert browser.status_code == 200
    body = browser.json()
    assert body["decision"]["mode"] == "direct" and body["profile"] == "browser+custom"
    assert body["message"] == "Direct play: this browser plays MP4 with H.264 and AAC."
    assert body["direct_url"] == f"/api/v1/items/{zephyr}/file?file_id={body['file_id']}"
    assert client.get(body["direct_url"], headers={"Range": "bytes=0-0"}).status_code == 206
    legacy = client.get(f"/api/v1/items/{zephyr}/playback", params={"profile": "tv-legacy"}).json()
    assert legacy["decision"]["mode"] == "remux" and legacy["direct_url"] is None
    assert legacy["message"].startswith("Remuxing: this TV cannot open MP4 files")
    marble = items["Marble Orchard"]["id"]
    firefox = client.get(f"/api/v1/items/{marble}/playback", params={"profile": "firefox"}).json()
    assert (
        firefox["message"]
        == "Remuxing: this browser cannot open Matroska files; the video is copied, not re-encoded."
    )


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"profile": "toaster"}, "profile"),
        ({"vcodec": "h264,$(reboot)"}, "vcodec"),
        ({"max_height": "tall"}, "max_height"),
        ({"segments": "dash"}, "segments"),
        ({"audio": "99"}, "audio"),
        ({"subtitle": "99"}, "subtitle"),
    ],
)
def test_playback_refuses_unknown_capabilities(
    client: httpx.Client, items: dict[str, dict[str, Any]], params: dict[str, str], key: str
) -> None:
    response = client.get(f"/api/v1/items/{items['Zephyr Quokka']['id']}/playback", params=params)
    detail = assert_json_error(response, 400)
    assert detail.startswith(f"{key}: "), detail


def test_playback_of_an_unknown_item_or_file(
    client: httpx.Client, items: dict[str, dict[str, Any]]
) -> None:
    assert_json_error(client.get("/api/v1/items/999999/playback"), 404)
    missing = client.get(
        f"/api/v1/items/{items['Zephyr Quokka']['id']}/playback", params={"file_id": 999999}
    )
    assert "no playable file with id 999999" in assert_json_error(missing, 404)
