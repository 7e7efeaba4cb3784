"""Sorting, filtering, A-Z and favourites over HTTP: ``/api/v1/items``, the favourite
routes and the library page, on a real Hearth that scanned real clips.

Four films with NFOs; "Quiet Hills" is a 1280x720 clip tagged HLG, so the resolution and
HDR filters read what the probe stored, not what a test wrote.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from html import unescape
from typing import Any

import httpx
import pytest

from mediaserver.testing import make_clip
from tests.integration.conftest import (
    ADMIN_NAME,
    ADMIN_PASSWORD,
    add_member,
    auth_headers,
    wait_for_scan,
)

# title: (year, rating, content rating, genre, clip options)
FILMS: dict[str, tuple[int, float | None, str, str, dict[str, Any]]] = {
    "Harbour Lights": (1998, 7.1, "PG", "Comedy", {}),
    "Quiet Hills": (
        2005,
        8.2,
        "R",
        "Drama",
        {
            "size": "1280x720",
            "output": {"color_trc": "arib-std-b67", "color_primaries": "bt2020"},
        },
    ),
    "Meadow Lane": (2012, None, "G", "Drama", {}),
    "9 Lives": (2016, 5.5, "", "Comedy", {}),
}


@dataclass
class Shelf:
    client: httpx.Client
    admin: dict[str, str]
    library: int
    ids: dict[str, int]

    def titles(self, headers: dict[str, str] | None = None, **params: Any) -> list[str]:
        answer = self.client.get(
            "/api/v1/items", params={"kind": "movie", **params}, headers=headers or self.admin
        )
        assert answer.status_code == 200, answer.text
        return [i["title"] for i in answer.json()["items"]]


@pytest.fixture(scope="module")
def shelf(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Shelf]:
    media = tmp_path_factory.mktemp("browse-media") / "Shelf"
    for title, (year, rating, mpaa, genre, clip) in FILMS.items():
        folder = media / f"{title} ({year})"
        make_clip(folder / f"{title} ({year}).mkv", seconds=1, **clip)
        score = f"<rating>{rating}</rating>" if rating else ""
        (folder / f"{title} ({year}).nfo").write_text(
            f"<movie><title>{title}</title><year>{year}</year>{score}<mpaa>{mpaa}</mpaa>"
            f"<genre>{genre}</genre></movie>",
            encoding="utf-8",
        )
    data = tmp_path_factory.mktemp("browse-data")
    with hearth_server(data, [media]) as url, httpx.Client(base_url=url, timeout=30) as client:
        admin = auth_headers(url)
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        (library,) = client.get("/api/v1/libraries", headers=admin).json()["libraries"]
        items = client.get("/api/v1/items", headers=admin).json()["items"]
        yield Shelf(client, admin, int(library["id"]), {i["title"]: i["id"] for i in items})


def test_the_api_filters_on_what_the_scan_found(shelf: Shelf) -> None:
    assert shelf.titles(resolution="720p") == ["Quiet Hills"]
    assert shelf.titles(resolution="sd") == ["9 Lives", "Harbour Lights", "Meadow Lane"]
    assert shelf.titles(hdr="true") == ["Quiet Hills"]
    assert shelf.titles(hdr="false", genre="Drama") == ["Meadow Lane"]
    assert shelf.titles(decade="1990") == ["Harbour Lights"]
    assert shelf.titles(decade="2010", sort="-year") == ["9 Lives", "Meadow Lane"]
    assert shelf.titles(content_rating="PG") == ["Harbour Lights"]
    assert shelf.titles(sort="-rating") == [
        "Quiet Hills",
        "Harbour Lights",
        "9 Lives",
        "Meadow Lane",
    ]
    assert shelf.titles(sort="runtime", year="", decade="")[0] in FILMS  # empty: no filter


def test_a_letter_jump_is_an_offset_that_paging_carries_on_from(shelf: Shelf) -> None:
    jump = shelf.client.get("/api/v1/items", params={"starts": "m"}, headers=shelf.admin).json()
    assert [i["title"] for i in jump["items"]] == ["Meadow Lane", "Quiet Hills"]
    assert (jump["offset"], jump["total"]) == (2, 4)
    on = shelf.client.get(
        "/api/v1/items", params={"starts": "M", "offset": 1, "limit": 5}, headers=shelf.admin
    ).json()
    assert ([i["title"] for i in on["items"]], on["offset"]) == (["Quiet Hills"], 3)
    assert shelf.titles(starts="#") == ["9 Lives", "Harbour Lights", "Meadow Lane", "Quiet Hills"]
    assert shelf.titles(starts="N") == ["Quiet Hills"]  # no N: the first after it
    assert shelf.titles(starts="R") == []


def test_favourites_and_watching_are_the_viewers_own(shelf: Shelf) -> None:
    quiet, meadow = shelf.ids["Quiet Hills"], shelf.ids["Meadow Lane"]
    _, ann = add_member(shelf.client, shelf.admin, "ann")
    put = shelf.client.put(f"/api/v1/items/{quiet}/favourite", headers=ann)
    assert put.status_code == 200, put.text
    assert put.json()["favourite"] is True and put.json()["updated_at"].endswith("Z")
    got = shelf.client.get(f"/api/v1/items/{quiet}", headers=ann).json()
    assert got["user_data"]["favourite"] is True
    assert shelf.titles(ann, favourite="true") == ["Quiet Hills"]
    assert shelf.titles(shelf.admin, favourite="true") == []  # Ann's, not the admin's
    home = shelf.client.get("/api/v1/home", headers=ann).json()
    assert [i["title"] for i in home["favourites"]] == ["Quiet Hills"]
    assert home["favourites"][0]["user_data"]["favourite"] is True

    gone = shelf.client.delete(f"/api/v1/items/{quiet}/favourite", headers=ann)
    assert gone.status_code == 200 and gone.json()["favourite"] is False
    assert shelf.titles(ann, favourite="true") == []
    assert shelf.titles(ann, favourite="false")[0] == "9 Lives"

    shelf.client.post(f"/api/v1/items/{meadow}/watched", headers=ann)
    report = {"position_s": 0.5, "state": "paused"}  # of 1 s: past the first 5 %
    shelf.client.post(f"/api/v1/items/{quiet}/progress", json=report, headers=ann)
    assert shelf.titles(ann, status="watched") == ["Meadow Lane"]
    assert shelf.titles(ann, status="in_progress") == ["Quiet Hills"]
    assert shelf.titles(ann, status="unwatched") == ["9 Lives", "Harbour Lights", "Quiet Hills"]
    assert shelf.titles(ann, sort="-played")[:2] == ["Quiet Hills", "Meadow Lane"]
    assert shelf.titles(shelf.admin, status="watched") == []


def test_a_hidden_or_missing_item_cannot_be_a_favourite(shelf: Shelf) -> None:
    _, kid = add_member(shelf.client, shelf.admin, "kid", max_rating="PG", show_unrated=False)
    hidden = shelf.ids["Quiet Hills"]  # rated R
    for method in ("PUT", "DELETE"):
        refused = shelf.client.request(method, f"/api/v1/items/{hidden}/favourite", headers=kid)
        assert refused.status_code == 404, refused.text
        missing = shelf.client.request(method, "/api/v1/items/99999/favourite", headers=kid)
        assert missing.status_code == 404
    assert shelf.titles(kid, favourite="false") == ["Harbour Lights", "Meadow Lane"]
    assert shelf.titles(kid, hdr="true") == []


def _pressed(html: str) -> str:
    """The favourite button's aria-pressed in a page or fragment."""
    button = re.search(r'<button type="submit" class="favourite"[^>]*aria-pressed="(\w+)"', html)
    assert button is not None, html[:300]
    return button[1]


def test_a_browser_needs_its_csrf_token_to_change_a_favourite(shelf: Shelf) -> None:
    item = shelf.ids["Harbour Lights"]
    with httpx.Client(base_url=str(shelf.client.base_url), timeout=30) as browser:
        browser.post("/login", data={"username": ADMIN_NAME, "password": ADMIN_PASSWORD})
        page = browser.get(f"/items/{item}").text
        token = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page)
        assert token is not None
        assert _pressed(page) == "false"
        assert browser.put(f"/api/v1/items/{item}/favourite").status_code == 403
        ok = browser.put(f"/api/v1/items/{item}/favourite", headers={"x-csrf-token": token[1]})
        assert ok.status_code == 200, ok.text
        # The page's own button: a form post, answered with the button as it now is.
        form = {"favourite": "false", "csrf_token": token[1]}
        fragment = browser.post(
            f"/items/{item}/favourite", data=form, headers={"hx-request": "true"}
        )
        assert fragment.status_code == 200
        assert _pressed(fragment.text) == "false" and "<html" not in fragment.text
        plain = browser.post(
            f"/items/{item}/favourite", data={**form, "favourite": "true"}, follow_redirects=True
        )
        assert plain.status_code == 200 and str(plain.url).endswith(f"/items/{item}")
        assert _pressed(plain.text) == "true"  # the item page, after the 303
        assert (
            browser.post(f"/items/{item}/favourite", data={"favourite": "true"}).status_code == 403
        )
    shelf.client.delete(f"/api/v1/items/{item}/favourite", headers=shelf.admin)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("decade=1995", "decade: “1995” is not the start of a decade; use 1990."),
        ("decade=old", "decade: “old” is not a year; type one like 1999."),
        ("year=1799", "year: “1799” is not a year; type one like 1999."),
        ("resolution=8k", "resolution: “8k” is not one of 4k, 1080p, 720p, sd."),
        ("hdr=maybe", "hdr: “maybe” is neither true nor false."),
        ("status=seen", "status: “seen” is not one of watched, unwatched, in_progress."),
        ("favourite=2", "favourite: “2” is neither true nor false."),
        ("starts=AB", "starts: “AB” is not a letter; use A to Z, or # for digits."),
        ("starts=M&sort=-year", "starts: jumping to a letter needs sort=title."),
        ("starts=M&q=quiet", "starts: jumping to a letter does not go with a search (q)."),
    ],
)
def test_bad_values_are_a_400_in_words(shelf: Shelf, query: str, words: str) -> None:
    answer = shelf.client.get(f"/api/v1/items?{query}", headers=shelf.admin)
    assert answer.status_code == 400
    assert answer.json()["detail"] == words
    if "q=" not in query:  # the page takes the same words
        page = shelf.client.get(f"/libraries/{shelf.library}?{query}", headers=shelf.admin)
        assert page.status_code == 400 and words in unescape(page.text)


def test_the_page_keeps_its_choices_in_every_link(shelf: Shelf) -> None:
    base = f"/libraries/{shelf.library}"
    html = unescape(shelf.client.get(f"{base}?genre=Drama&view=list", headers=shelf.admin).text)
    assert re.findall(
        r'<th scope="row"><a href="/items/\d+" data-nav="card">([^<]+)</a>', html
    ) == [
        "Meadow Lane",
        "Quiet Hills",
    ]
    letters = re.findall(r'<a href="([^"]+)" data-nav="letter" aria-label="Titles from (\w)"', html)
    assert [letter for _, letter in letters] == ["M", "Q"]  # only letters with titles
    assert dict((b, a) for a, b in letters)["Q"] == f"{base}?genre=Drama&view=list&starts=Q"
    assert f'href="{base}?genre=Drama"' in html  # the grid, same filter
    assert "Filters (1)" in html
    jumped = unescape(shelf.client.get(f"{base}?genre=Drama&starts=Q", headers=shelf.admin).text)
    assert re.findall(r'<div class="card-title">([^<]*)</div>', jumped) == ["Quiet Hills"]
    assert f'<a href="{base}?genre=Drama">Back to the first title</a>' in jumped
    none = unescape(
        shelf.client.get(
            f"{base}?sort=-year&status=watched&decade=1990&resolution=4k&hdr=1",
            headers=shelf.admin,
        ).text
    )
    assert "No titles match what you have watched, the 1990s, 4K video and HDR video." in none
    assert f'<a href="{base}?sort=-year">Show everything</a>' in none
    assert 'aria-label="Jump to a letter"' not in none  # letters go with sort=title only
