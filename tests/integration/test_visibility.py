"""Counts, lists and posters computed from what the viewer may see (issue 15, bug 4).

One server over a small household library: the collection "Sea Stories" holds a PG-13 film
(the older one, so its poster is the collection's for an admin) and a PG film; "Deep
Trilogy" holds only an R film; the TV-PG show "Harbour Lights" has a TV-MA first episode,
a plain second one, and a second season of one TV-MA episode.  Every video is one solid
colour, so each poster (a frame of its video) has its own bytes.  Kid may see up to PG
and is also the DLNA user, so TVs show Kid's view.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import add_member, auth_headers, wait_for_scan
from tests.integration.test_dlna import CD, browse, fault, soap, titles

FILMS = {  # title -> (year, rating, collection, genre, colour)
    "Storm Front": (2001, "PG-13", "Sea Stories", "War", "red"),
    "Tide Pool": (2002, "PG", "Sea Stories", "Family", "blue"),
    "Dark Deep": (2003, "R", "Deep Trilogy", "Thriller", "green"),
}
EPISODES = {  # (season, episode) -> (title, own rating or "", colour)
    (1, 1): ("Fog Warning", "TV-MA", "yellow"),
    (1, 2): ("Calm Water", "", "cyan"),
    (2, 1): ("Wreck Night", "TV-MA", "magenta"),
}
SHOW = "Harbour Lights"


@dataclass
class Household:
    http: httpx.Client
    admin: dict[str, str]
    kid: dict[str, str]
    ids: dict[str, int]  # title (films, episodes, show, collections) or "Season N" -> id

    def get(self, path: str, who: dict[str, str], **params: Any) -> httpx.Response:
        return self.http.get(path, headers=who, params=params)

    def item(self, title: str, who: dict[str, str]) -> dict[str, Any]:
        answer = self.get(f"/api/v1/items/{self.ids[title]}", who)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    def image(self, url: str, who: dict[str, str]) -> bytes:
        answer = self.get(url, who)
        assert answer.status_code == 200, (url, answer.text)
        return answer.content

    def poster(self, title: str, who: dict[str, str]) -> bytes:
        return self.image(f"/api/v1/items/{self.ids[title]}/image/poster", who)


def _library(root: Path) -> None:
    clip = {"seconds": 1.0, "size": "96x54", "audio": False}
    for title, (year, rating, collection, genre, colour) in FILMS.items():
        video = root / "Films" / f"{title} ({year})" / f"{title} ({year}).mp4"
        make_clip(video, video=f"color=c={colour}", **clip)  # type: ignore[arg-type]
        video.with_suffix(".nfo").write_text(
            f"<movie><title>{title}</title><year>{year}</year><mpaa>{rating}</mpaa>"
            f"<genre>{genre}</genre><set><name>{collection}</name></set></movie>",
            encoding="utf-8",
        )
    show = root / "Shows" / SHOW
    for (season, episode), (title, rating, colour) in EPISODES.items():
        video = show / f"Season {season}" / f"{SHOW} S{season:02d}E{episode:02d}.mp4"
        make_clip(video, video=f"color=c={colour}", **clip)  # type: ignore[arg-type]
        mpaa = f"<mpaa>{rating}</mpaa>" if rating else ""
        video.with_suffix(".nfo").write_text(
            f"<episodedetails><title>{title}</title><season>{season}</season>"
            f"<episode>{episode}</episode>{mpaa}</episodedetails>",
            encoding="utf-8",
        )
    (show / "tvshow.nfo").write_text(
        f"<tvshow><title>{SHOW}</title><mpaa>TV-PG</mpaa></tvshow>", encoding="utf-8"
    )


@pytest.fixture(scope="module")
def home(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    ffmpeg_binary: str,
) -> Iterator[Household]:
    root = tmp_path_factory.mktemp("visibility-media") / "Household"
    _library(root)
    data = tmp_path_factory.mktemp("visibility-data")
    server = hearth_server(data, [root], extra='[dlna]\nuser = "Kid"\n')
    with server as url, httpx.Client(base_url=url, timeout=30) as http:
        admin = auth_headers(url)
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        items = http.get("/api/v1/items", params={"limit": 500}, headers=admin).json()["items"]
        ids = {
            (f"{i['title']} of {i['show_title']}" if i["kind"] == "season" else i["title"]): i["id"]
            for i in items
        }
        _, kid = add_member(http, admin, "Kid", max_rating="PG")
        yield Household(http, admin, kid, ids)


def test_the_fixture_hides_what_it_means_to(home: Household) -> None:
    """The admin sees everything, and a collection's poster is its oldest film's."""
    sea = home.item("Sea Stories", home.admin)
    assert sea["child_count"] == 2
    assert home.image(sea["poster_url"], home.admin) == home.poster("Storm Front", home.admin)
    assert home.item(SHOW, home.admin)["child_count"] == 2
    assert home.item(f"Season 1 of {SHOW}", home.admin)["child_count"] == 2
    for title in ("Storm Front", "Dark Deep", "Fog Warning", "Wreck Night"):
        assert home.get(f"/api/v1/items/{home.ids[title]}", home.kid).status_code == 404, title


def test_a_collection_counts_and_lists_only_the_films_the_viewer_may_see(
    home: Household,
) -> None:
    listed = home.get("/api/v1/items", home.kid, kind="collection").json()
    assert [(c["title"], c["child_count"]) for c in listed["items"]] == [("Sea Stories", 1)]
    assert listed["total"] == 1
    sea = home.ids["Sea Stories"]
    assert home.item("Sea Stories", home.kid)["child_count"] == 1
    children = home.get(f"/api/v1/items/{sea}/children", home.kid).json()["items"]
    assert [c["title"] for c in children] == ["Tide Pool"]
    found = home.get("/api/v1/items", home.kid, q="sea").json()["items"]
    assert [(i["title"], i["child_count"]) for i in found] == [("Sea Stories", 1)]
    page = home.get(f"/items/{sea}", {**home.kid, "accept": "text/html"}).text
    assert "(1 film)" in page and "Tide Pool" in page and "Storm Front" not in page
    start = home.get("/", {**home.kid, "accept": "text/html"}).text
    collections = " ".join(start.split('id="collections"')[1].split("</section>")[0].split())
    assert "Sea Stories" in collections and '<div class="card-sub"> 1 film </div>' in collections
    assert "2 films" not in collections and "Deep Trilogy" not in start


def test_a_collection_poster_never_shows_a_hidden_film(home: Household) -> None:
    hidden = home.poster("Storm Front", home.admin)
    shown = home.poster("Tide Pool", home.admin)
    assert hidden != shown
    sea = home.item("Sea Stories", home.kid)
    assert home.image(sea["poster_url"], home.kid) == shown
    assert home.poster("Sea Stories", home.kid) == shown  # the collection's own address too
    small = f"/api/v1/items/{home.ids['Sea Stories']}/image/poster?width=40"
    assert home.image(small, home.kid) != home.image(small, home.admin)
    card = home.get("/", {**home.kid, "accept": "text/html"}).text.split('id="collections"')[1]
    assert f"/api/v1/items/{home.ids['Tide Pool']}/image/poster" in card.split("</section>")[0]


def test_a_collection_of_hidden_films_is_not_there(home: Household) -> None:
    deep = home.ids["Deep Trilogy"]
    for route in ("/api/v1/items/{}", "/api/v1/items/{}/children", "/items/{}",
                  "/api/v1/items/{}/image/poster"):  # fmt: skip
        assert home.get(route.format(deep), home.kid).status_code == 404, route
    assert home.get("/api/v1/items", home.kid, q="deep").json()["items"] == []
    assert home.get("/api/v1/items", home.admin, q="deep").json()["total"] == 2


def test_shows_and_seasons_count_only_the_episodes_the_viewer_may_see(home: Household) -> None:
    show = home.item(SHOW, home.kid)
    assert show["child_count"] == 1
    seasons = home.get(f"/api/v1/items/{show['id']}/children", home.kid).json()["items"]
    assert [(s["title"], s["child_count"]) for s in seasons] == [("Season 1", 1)]
    second = home.ids[f"Season 2 of {SHOW}"]
    assert home.get(f"/api/v1/items/{second}", home.kid).status_code == 404
    first = home.ids[f"Season 1 of {SHOW}"]
    episodes = home.get(f"/api/v1/items/{first}/children", home.kid).json()["items"]
    assert [e["title"] for e in episodes] == ["Calm Water"]
    page = home.get(f"/items/{show['id']}", {**home.kid, "accept": "text/html"}).text
    assert 'Season 1 <span class="muted">(1 episode)</span>' in page and "Season 2" not in page
    counts = {
        lib["name"]: lib["counts"]
        for lib in home.get("/api/v1/libraries", home.kid).json()["libraries"]
    }
    assert counts == {
        "Household": {"movie": 1, "collection": 1, "show": 1, "season": 1, "episode": 1}
    }
    start = home.get("/", {**home.kid, "accept": "text/html"}).text
    assert "<span>2 titles</span>" in start
    assert home.get("/api/v1/genres", home.kid).json()["genres"] == ["Family"]


def test_show_and_season_posters_never_show_a_hidden_episode(home: Household) -> None:
    hidden = home.poster("Fog Warning", home.admin)
    shown = home.poster("Calm Water", home.admin)
    assert hidden != shown
    assert home.poster(f"Season 1 of {SHOW}", home.admin) == hidden  # the first episode's
    for title in (SHOW, f"Season 1 of {SHOW}"):
        item = home.item(title, home.kid)
        assert home.image(item["poster_url"], home.kid) == shown, title
        assert home.poster(title, home.kid) == shown, title


def test_marking_a_season_watched_marks_what_the_viewer_sees(home: Household) -> None:
    first = home.ids[f"Season 1 of {SHOW}"]
    marked = home.http.post(f"/api/v1/items/{first}/watched", headers=home.kid)
    assert marked.status_code == 200 and marked.json()["items"] == 1
    seasons = home.get(f"/api/v1/items/{home.ids[SHOW]}/children", home.kid).json()["items"]
    assert seasons[0]["user_data"]["watched"] is True  # every episode Kid may see
    page = home.get(f"/items/{home.ids[SHOW]}", {**home.kid, "accept": "text/html"}).text
    assert 'aria-pressed="true"' in page
    home.http.delete(f"/api/v1/items/{first}/watched", headers=home.kid)


def test_tvs_count_and_show_what_the_dlna_user_may_see(home: Household) -> None:
    tv = home.http
    shows, total = browse(tv, "shows")
    assert titles(shows) == [SHOW] and total == 1
    assert shows[0].get("childCount") == "1"
    seasons, total = browse(tv, f"i{home.ids[SHOW]}")
    assert titles(seasons) == ["Season 1"] and total == 1
    assert seasons[0].get("childCount") == "1"
    episodes, _ = browse(tv, f"i{home.ids[f'Season 1 of {SHOW}']}")
    assert titles(episodes) == ["02. Calm Water"]
    second = home.ids[f"Season 2 of {SHOW}"]
    meta = soap(tv, CD, "Browse", ObjectID=f"i{second}", BrowseFlag="BrowseMetadata",
                Filter="*", StartingIndex=0, RequestedCount=0, SortCriteria="")  # fmt: skip
    assert fault(meta) == 701
    season_art = tv.get(f"/dlna/items/{home.ids[f'Season 1 of {SHOW}']}/poster.jpg")
    episode_art = tv.get(f"/dlna/items/{home.ids['Calm Water']}/poster.jpg")
    assert season_art.status_code == episode_art.status_code == 200
    assert season_art.content == episode_art.content
    assert tv.get(f"/dlna/items/{home.ids['Fog Warning']}/poster.jpg").status_code == 404
    movies, total = browse(tv, "movies")
    assert titles(movies) == ["Tide Pool"] and total == 1
