"""The cast's photos and "More like this" over HTTP, on a real Hearth over four tiny films.

- North Light (PG, Drama and Romance): Maren Holt as Ingrid (a photo in ``.actors``, 800 px wide) and
  Tomas Berg as the keeper (no photo);
- Harbour Lights (PG, Drama and Romance): Maren Holt again;
- Night Shift (R, Drama): Tomas Berg, whose photo is in its own ``.actors`` folder;
- Cold Open (PG, Comedy): nobody the others have.

A member limited to PG-13 never learns of Night Shift: not its page, not its cast's photos,
not as a film like another.  The recommendation job runs only when a test starts it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from mediaserver.testing import make_clip
from tests.integration.conftest import add_member, auth_headers, run_hearth, wait_for_scan
from tests.integration.test_recommendations_api import run_job

FILMS = {
    "North Light": (
        "PG",
        "Drama / Romance",
        [("Maren Holt", "Ingrid"), ("Tomas Berg", "The keeper")],
    ),
    "Harbour Lights": ("PG", "Drama / Romance", [("Maren Holt", "Signe")]),
    "Night Shift": ("R", "Drama", [("Tomas Berg", "The guard")]),
    "Cold Open": ("PG", "Comedy", [("Ola Dahl", "Herself")]),
}
PHOTOS = {"North Light": "Maren_Holt.jpg", "Night Shift": "Tomas_Berg.jpg"}


def _nfo(title: str) -> str:
    rating, genre, cast = FILMS[title]
    actors = "".join(f"<actor><name>{n}</name><role>{r}</role></actor>" for n, r in cast)
    return (
        f"<movie><title>{title}</title><mpaa>{rating}</mpaa><genre>{genre}</genre>{actors}</movie>"
    )


def _jpeg(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def hearth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    media = tmp_path_factory.mktemp("media") / "Films"
    for n, title in enumerate(FILMS):
        video = media / title / f"{title}.mp4"
        make_clip(video, seconds=1, size="64x36", video=("testsrc", "smptebars", "rgbtestsrc",
                                                         "pal75bars")[n])  # fmt: skip
        video.with_suffix(".nfo").write_text(_nfo(title), encoding="utf-8")
        if title in PHOTOS:
            (video.parent / ".actors").mkdir()
            (video.parent / ".actors" / PHOTOS[title]).write_bytes(_jpeg(800, 1000))
    with run_hearth(tmp_path_factory.mktemp("data"), [media]) as url:
        client = httpx.Client(base_url=url, headers=auth_headers(url), timeout=10)
        wait_for_scan(client)
        yield client
        client.close()


@pytest.fixture(scope="module")
def ids(hearth: httpx.Client) -> dict[str, int]:
    found = hearth.get("/api/v1/items", params={"kind": "movie"}).json()["items"]
    return {item["title"]: int(item["id"]) for item in found}


@pytest.fixture(scope="module")
def member(hearth: httpx.Client) -> dict[str, str]:
    """A member who may see up to PG-13 (Night Shift is R)."""
    admin = dict(hearth.headers)
    return add_member(hearth, admin, "Liv", max_rating="PG-13", show_unrated=False)[1]


def _similar(client: httpx.Client, item: int, **headers: Any) -> list[str]:
    answer = client.get(f"/api/v1/items/{item}/similar", **headers)
    assert answer.status_code == 200, answer.text
    return [i["title"] for i in answer.json()["items"]]


def test_the_item_answer_names_characters_and_links_only_photos_that_exist(
    hearth: httpx.Client, ids: dict[str, int]
) -> None:
    film = ids["North Light"]
    people = hearth.get(f"/api/v1/items/{film}").json()["people"]
    assert all(isinstance(p.pop("id"), int) for p in people)  # the person page's id
    assert people == [
        {"name": "Maren Holt", "role": "actor", "character": "Ingrid",
         "photo_url": f"/api/v1/items/{film}/cast/0/photo"},
        {"name": "Tomas Berg", "role": "actor", "character": "The keeper", "photo_url": None},
    ]  # fmt: skip


def test_a_photo_is_served_small_like_a_poster(hearth: httpx.Client, ids: dict[str, int]) -> None:
    url = f"/api/v1/items/{ids['North Light']}/cast/0/photo"
    answer = hearth.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "image/jpeg"
    poster = hearth.get(f"/api/v1/items/{ids['North Light']}/image/poster")
    assert answer.headers["cache-control"] == poster.headers["cache-control"]
    with Image.open(io.BytesIO(answer.content)) as picture:
        assert picture.size == (400, 500)  # 800 px on disk: never sent that large
    with Image.open(io.BytesIO(hearth.get(url, params={"width": 96}).content)) as picture:
        assert picture.size == (96, 120)
    head = hearth.head(url)
    assert head.status_code == 200 and head.content == b""
    too_wide = hearth.get(url, params={"width": 4000})
    assert too_wide.status_code == 400 and "width" in too_wide.json()["detail"]


def test_a_missing_photo_is_a_404_in_words(hearth: httpx.Client, ids: dict[str, int]) -> None:
    film = ids["North Light"]
    for position in (1, 7):
        answer = hearth.get(f"/api/v1/items/{film}/cast/{position}/photo")
        assert answer.status_code == 404
        assert answer.json()["detail"] == (
            f"item {film} has no photo of the actor at place {position} in its cast"
        )


def test_a_hidden_films_cast_and_likeness_are_not_there(
    hearth: httpx.Client, ids: dict[str, int], member: dict[str, str]
) -> None:
    hidden = ids["Night Shift"]
    assert hearth.get(f"/api/v1/items/{hidden}/cast/0/photo").status_code == 200  # the admin
    nowhere = max(ids.values()) + 1000
    for path in ("/cast/0/photo", "/similar", ""):
        answer = hearth.get(f"/api/v1/items/{hidden}{path}", headers=member)
        missing = hearth.get(f"/api/v1/items/{nowhere}{path}", headers=member)
        assert answer.status_code == missing.status_code == 404
        assert answer.json()["detail"] == missing.json()["detail"].replace(
            str(nowhere), str(hidden)
        )


def test_more_like_this_before_and_after_the_job(
    hearth: httpx.Client, ids: dict[str, int], member: dict[str, str]
) -> None:
    film = ids["North Light"]
    # Before any run: the catalog's answer (Harbour Lights shares both genres).
    assert _similar(hearth, film) == ["Harbour Lights", "Night Shift"]
    assert _similar(hearth, film, headers=member) == ["Harbour Lights"]
    assert _similar(hearth, ids["Cold Open"]) == []

    run_job(hearth, dict(hearth.headers))
    assert _similar(hearth, film) == ["Harbour Lights", "Night Shift"]
    assert _similar(hearth, film, headers=member) == ["Harbour Lights"]
    answer = hearth.get(f"/api/v1/items/{film}/similar", params={"limit": 1}).json()
    assert [i["title"] for i in answer["items"]] == ["Harbour Lights"]
    assert answer["items"][0]["poster_url"] and "user_data" in answer["items"][0]
    assert hearth.get(f"/api/v1/items/{film}/similar", params={"limit": 0}).status_code == 400
