"""The HTML pages and htmx fragments of a real Hearth over the shared test library."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import auth_headers

HTMX = {"HX-Request": "true"}
TIMES, EN_DASH = "\u00d7", "\u2013"  # how the templates write 320x180 and episodes 2-3


class Page(HTMLParser):
    """Tags with their attributes, and the text inside each ``<script>``."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.script_text.append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text[-1] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


@pytest.fixture(scope="module")
def client(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[httpx.Client]:
    with (
        hearth_server(tmp_path_factory.mktemp("pages-data"), [hearth_library]) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as http,
    ):
        scan_waiter(http)
        yield http


@pytest.fixture(scope="module")
def ids(client: httpx.Client) -> dict[str, int]:
    """Item ids by title, and the library's id under ``"library"``."""
    found = client.get("/api/v1/items", params={"kind": "movie,show,season,episode"}).json()
    by_title = {item["title"]: int(item["id"]) for item in found["items"]}
    (library,) = client.get("/api/v1/libraries").json()["libraries"]
    by_title["library"] = int(library["id"])
    return by_title


def page(
    client: httpx.Client, path: str, *, status: int = 200, headers: dict[str, str] | None = None
) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == status, (path, response.text[:500])
    assert response.headers["content-type"].startswith("text/html"), path
    return response.text


def card_titles(html: str) -> list[str]:
    return re.findall(r'<div class="card-title">([^<]*)</div>', html)


def test_home_shows_libraries_and_recently_added(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, "/")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert f'href="/libraries/{ids["library"]}"' in html
    assert "Test Library" in html
    assert "4 titles" in html
    recent = card_titles(html)
    assert sorted(recent) == ["Amber Lighthouse", "Marble Orchard", "Orbit Patrol", "Zephyr Quokka"]
    assert "Preparing your library" not in html  # startup is over


def test_library_grid_has_posters(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/libraries/{ids['library']}")
    assert card_titles(html) == [
        "Amber Lighthouse",
        "Marble Orchard",
        "Orbit Patrol",
        "Zephyr Quokka",
    ]
    posters = [img["src"] for img in Page(html).find("img")]
    for title in ("Amber Lighthouse", "Zephyr Quokka", "Launch"):  # the show shows Launch's
        assert f"/api/v1/items/{ids[title]}/image/poster?width=300" in posters
    assert all(src and src.startswith("/api/v1/items/") for src in posters)
    assert "4 titles" in html
    assert f'href="/libraries/{ids["library"]}/problems"' in html
    assert "1 file with problems" in html


def test_library_sort(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/libraries/{ids['library']}?sort=-year")
    assert card_titles(html) == [
        "Zephyr Quokka",
        "Amber Lighthouse",
        "Marble Orchard",
        "Orbit Patrol",
    ]
    selected = [o["value"] for o in Page(html).find("option") if "selected" in o]
    assert selected == ["-year"]
    oldest = page(client, f"/libraries/{ids['library']}?sort=year")
    assert card_titles(oldest)[-2:] == ["Amber Lighthouse", "Zephyr Quokka"]


def test_library_genre_filter(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/libraries/{ids['library']}?genre=Comedy")
    assert card_titles(html) == ["Amber Lighthouse"]
    assert "1 title<" in html
    options = Page(html).find("option", value="Comedy")
    assert options and "selected" in options[0]
    assert card_titles(page(client, f"/libraries/{ids['library']}?genre=Western")) == []


def test_library_bad_parameters_are_400_html(client: httpx.Client, ids: dict[str, int]) -> None:
    for query, said in (
        ("sort=bogus", "sort: &#39;bogus&#39; is not one of title"),
        ("page=0", "page: must be at least 1"),
        ("year=abc", "year: “abc” is not a year"),
        ("page=abc", "page: must be a whole number"),
    ):
        html = page(client, f"/libraries/{ids['library']}?{query}", status=400)
        assert "<html" in html
        assert said in html, html
        assert "`" not in html and "Expected" not in html  # not msgspec's wording


def test_library_next_page_is_an_htmx_fragment(client: httpx.Client, ids: dict[str, int]) -> None:
    fragment = page(client, f"/libraries/{ids['library']}?page=2", headers=HTMX)
    assert "<html" not in fragment
    assert "<head" not in fragment
    assert card_titles(fragment) == []  # four titles fit on page one
    full = page(client, f"/libraries/{ids['library']}?page=2")
    assert "<html" in full
    first = page(client, f"/libraries/{ids['library']}", headers=HTMX)
    assert "<html" in first  # only later pages are fragments


def test_problems_page(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/libraries/{ids['library']}/problems")
    assert "Broken Reel (2020).mp4" in html
    assert "not a readable media file" in html


def test_movie_page(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/items/{ids['Zephyr Quokka']}")
    parsed = Page(html)
    assert "<h1>Zephyr Quokka" in html
    assert "(2019)" in html
    (video,) = parsed.find("video")
    assert video["data-item-id"] == str(ids["Zephyr Quokka"])
    assert re.fullmatch(r"\d+", video["data-file-id"] or "")
    table = html[html.index('<table class="table streams">') : html.index("</table>")]
    for text in ("h264", "aac", f"320{TIMES}180", "eng", "stereo"):
        assert text in table, text
    assert "2 chapters" in html
    # Chapter starts read like a player's clock: the first at 0:00, not blank.
    assert "Opening — 0:00</li>" in html and "Finale — 0:00</li>" in html


def test_mkv_page_describes_matroska(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/items/{ids['Marble Orchard']}")
    assert len(Page(html).find("video")) == 1
    assert "MKV" in html


def test_show_page_lists_seasons_and_episodes(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/items/{ids['Orbit Patrol']}")
    assert "<h1>Orbit Patrol" in html
    links = [a["href"] for a in Page(html).find("a")]
    assert f"/items/{ids['Season 1']}" in links
    assert f"/items/{ids['Season 2']}" in links
    assert html.index("Season 1") < html.index("Season 2")
    # The first season's episodes, in order, the two-episode file shown as "2-3".
    assert html.index("1. Launch") < html.index(f"2{EN_DASH}3. Docking")
    assert f"/items/{ids['Launch']}" in links
    assert "Zenith" not in html
    assert Page(html).find("video") == []


def test_season_page_lists_its_episodes(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/items/{ids['Season 2']}")
    assert "Orbit Patrol" in html
    assert html.index("1. Zenith") < html.index("2. Apogee")
    assert "Launch" not in html


def test_episode_page_links_its_show(client: httpx.Client, ids: dict[str, int]) -> None:
    html = page(client, f"/items/{ids['Docking']}")
    assert f'href="/items/{ids["Orbit Patrol"]}"' in html
    assert f"Season 1, episode 2{EN_DASH}3" in html
    (video,) = Page(html).find("video")
    assert video["data-item-id"] == str(ids["Docking"])


def test_search_page_and_fragment(client: httpx.Client) -> None:
    full = page(client, "/search?q=zeph")
    assert "<html" in full
    assert "Zephyr Quokka" in card_titles(full)
    fragment = page(client, "/search?q=zeph", headers=HTMX)
    assert "<html" not in fragment
    assert card_titles(fragment) == ["Zephyr Quokka"]
    assert "1 result for" in fragment
    nothing = page(client, "/search?q=xyzzyplugh", headers=HTMX)
    assert card_titles(nothing) == []
    assert "Nothing matches" in nothing
    assert page(client, "/search?q=", headers=HTMX).strip() == ""
    assert card_titles(page(client, "/search?q=%21%21%21", headers=HTMX)) == []


def test_only_signed_in_people_get_a_search_box(client: httpx.Client) -> None:
    """Search needs signing in: a box on the sign-in page would only earn 401s."""
    signed_out = httpx.get(client.base_url.join("/login"), timeout=10)
    assert signed_out.status_code == 200, signed_out.text
    assert Page(signed_out.text).find("input", id="search-box") == []
    assert 'hx-get="/search"' not in signed_out.text
    assert Page(page(client, "/")).find("input", id="search-box")


def test_search_shows_titles_people_and_genres_in_sections(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    people = client.get("/api/v1/search", params={"q": "keeper"}).json()["people"]
    fragment = page(client, "/search?q=comdy+keepr", headers=HTMX)  # two typos
    assert card_titles(fragment) == []  # no title is both
    fragment = page(client, "/search?q=keepr", headers=HTMX)
    assert '<h3 id="found-people">People</h3>' in fragment
    assert f'href="/people/{people[0]["id"]}"' in fragment and "Iris Keeper" in fragment
    assert ">IK<" in fragment  # initials stand in for a photo
    comedy = page(client, "/search?q=comed", headers=HTMX)
    assert '<h3 id="found-genres">Genres</h3>' in comedy
    assert 'href="/genres/Comedy"' in comedy
    titles = page(client, "/search?q=lighthuose")  # the whole page, a typo
    assert '<h3 id="found-titles">Titles' in titles
    assert card_titles(titles) == ["Amber Lighthouse"]
    assert f'href="/items/{ids["Amber Lighthouse"]}"' in titles


def test_a_person_page_lists_what_they_are_in(client: httpx.Client, ids: dict[str, int]) -> None:
    item = page(client, f"/items/{ids['Amber Lighthouse']}")
    (lumen,) = re.findall(r'<a href="(/people/\d+)">Ada Lumen</a>', item)
    cast = re.findall(
        r'<a class="person" href="/people/\d+"[^>]*>.*?"person-name">([^<]+)', item, re.S
    )
    assert cast == ["Iris Keeper", "Tom Waves"]  # the cast, linked to their pages
    assert '<a href="/genres/Comedy">Comedy</a>' in item
    html = page(client, lumen)
    assert "<h1>Ada Lumen</h1>" in html and "Directed" in html
    assert card_titles(html) == ["Amber Lighthouse"]
    assert "Not found" in page(client, "/people/987654", status=404)


def test_a_genre_page_lists_its_titles_across_libraries(
    client: httpx.Client, ids: dict[str, int]
) -> None:
    html = page(client, "/genres/comedy")  # any case
    assert "<h1>Comedy</h1>" in html and "1 title" in html
    assert card_titles(html) == ["Amber Lighthouse"]
    assert "Not found" in page(client, "/genres/Western", status=404)
    assert "Not found" in page(client, "/genres/..%2F..%2Fetc%2Fpasswd", status=404)


def test_search_escapes_the_query(client: httpx.Client) -> None:
    html = page(client, "/search?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "<script>alert" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize(
    "path", ["/items/999999", "/libraries/999", "/libraries/999/problems", "/nope"]
)
def test_unknown_pages_are_404_html(client: httpx.Client, path: str) -> None:
    html = page(client, path, status=404)
    assert "<html" in html
    assert "Not found" in html
    assert '"status_code"' not in html


def test_scan_status_fragment(client: httpx.Client) -> None:
    html = page(client, "/scan/status")
    assert "<html" not in html
    (box,) = Page(html).find("div", id="scan-status")
    assert "hx-get" not in box  # idle: nothing to poll
    assert "Last scan of Test Library: 8 files" in html
    assert Page(html).find("button", **{"hx-post": "/scan"})


def pages_to_check(ids: dict[str, int]) -> list[tuple[str, dict[str, str]]]:
    library = f"/libraries/{ids['library']}"
    plain = [
        "/",
        library,
        f"{library}?sort=-added&genre=Comedy",
        f"{library}/problems",
        "/search",
        "/search?q=orbit",
        "/items/999999",
        "/scan/status",
        *(f"/items/{ids[t]}" for t in ("Zephyr Quokka", "Marble Orchard", "Orbit Patrol")),
        *(f"/items/{ids[t]}" for t in ("Season 1", "Docking")),
    ]
    fragments = [f"{library}?page=2", "/search?q=orbit"]
    return [(p, {}) for p in plain] + [(p, HTMX) for p in fragments]


def test_no_inline_script_or_event_handlers(client: httpx.Client, ids: dict[str, int]) -> None:
    checked = 0
    for path, headers in pages_to_check(ids):
        response = client.get(path, headers=headers)
        assert response.status_code in (200, 404), path
        parsed = Page(response.text)
        for tag, attrs in parsed.tags:
            if tag == "script":
                assert attrs.get("src"), f"inline <script> on {path}"
            handlers = [name for name in attrs if name.startswith("on")]
            assert not handlers, f"<{tag} {handlers}> on {path}"
            for name in ("href", "src", "action"):
                assert not (attrs.get(name) or "").lower().startswith("javascript:"), path
        assert all(not text.strip() for text in parsed.script_text), path
        checked += len(parsed.tags)
    assert checked > 200  # the parser really saw the pages


def test_scan_button_shows_a_polling_status_until_done(
    client: httpx.Client, scan_waiter: Callable[..., dict[str, Any]]
) -> None:
    asked = time.time()
    response = client.post("/scan")
    assert response.status_code == 200
    assert "<html" not in response.text
    (box,) = Page(response.text).find("div", id="scan-status")
    assert box.get("hx-get") == "/scan/status"  # keeps polling while the scan runs
    assert "Scan libraries" not in response.text
    assert re.search(r"Starting a scan|Scanning Test Library", response.text)
    scan_waiter(client, started_after=asked)
    (idle,) = Page(page(client, "/scan/status")).find("div", id="scan-status")
    assert "hx-get" not in idle


def test_home_says_when_a_finished_scan_found_nothing(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> None:
    """It once promised "a scan is on its way" after the scan had found nothing."""
    empty = tmp_path_factory.mktemp("empty-media")
    (empty / "notes.txt").write_text("not a film", encoding="utf-8")
    with (
        hearth_server(tmp_path_factory.mktemp("empty-data"), [empty]) as url,
        httpx.Client(base_url=url, headers=auth_headers(url), timeout=10) as http,
    ):
        scan_waiter(http)
        html = unescape(page(http, "/"))
    assert "a scan is on its way" not in html
    assert "The last scan found no films or shows in this library's folder." in html
