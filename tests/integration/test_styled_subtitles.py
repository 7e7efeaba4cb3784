"""Styled subtitles over HTTP: ASS/SSA tracks as they are (``subtitles/<n>.ass``), the fonts a
film carries (``fonts``), the playback answer that points at both, who may fetch them, and
the worker policy that lets the browser's libass compile WebAssembly and nothing more."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mediaserver.api.security import CONTENT_SECURITY_POLICY, WASM_WORKER_POLICY
from tests.integration.conftest import add_member, auth_headers, wait_for_scan
from tests.styled_media import FONT, STYLED_ASS, make_styled_film

STYLED, SIDECAR, PLAIN = "Styled Film", "Sidecar Film", "Plain Film"
VENDOR = "/static/vendor/libass-wasm-4.2.4"


@dataclass
class Films:
    client: httpx.Client  # the admin's
    url: str
    ids: dict[str, int]

    def playback(self, title: str, headers: dict[str, str] | None = None) -> dict:
        answer = self.client.get(f"/api/v1/items/{self.ids[title]}/playback", headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def films(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    clip_cache: Path,
    ffmpeg_binary: str,
) -> Iterator[Films]:
    media = tmp_path_factory.mktemp("styled-media")
    notes = media.parent / "notes.txt"
    notes.write_text("Typeset by the household.\n", encoding="utf-8")
    styled = make_styled_film(
        media / f"{STYLED} (2020).mkv",
        ffmpeg_binary,
        attachments=((FONT, "application/x-truetype-font"), (notes, "text/plain")),
    )
    styled.with_suffix(".nfo").write_text(
        f"<movie><title>{STYLED}</title><mpaa>R</mpaa></movie>", encoding="utf-8"
    )
    shutil.copyfile(clip_cache / "h264_aac.mp4", media / f"{SIDECAR} (2021).mp4")
    (media / f"{SIDECAR} (2021).nfo").write_text(
        f"<movie><title>{SIDECAR}</title><mpaa>G</mpaa></movie>", encoding="utf-8"
    )
    (media / f"{SIDECAR} (2021).en.ass").write_bytes(STYLED_ASS.encode("utf-8"))
    shutil.copyfile(clip_cache / "two_audio_sub.mkv", media / f"{PLAIN} (2019).mkv")
    with hearth_server(tmp_path_factory.mktemp("styled-data"), [media]) as url:
        admin = auth_headers(url)
        with httpx.Client(base_url=url, headers=admin, timeout=30) as client:
            wait_for_scan(client)
            items = client.get("/api/v1/items", params={"limit": 50}).json()["items"]
            yield Films(client, url, {item["title"]: item["id"] for item in items})


def _subtitle(answer: dict) -> dict:
    (track,) = answer["subtitle_tracks"]
    return track


def test_the_playback_answer_points_at_the_styled_track_and_the_fonts(films: Films) -> None:
    styled = films.playback(STYLED)
    track = _subtitle(styled)
    base = f"/api/v1/items/{films.ids[STYLED]}/subtitles/{track['index']}"
    assert track["url"] == f"{base}.vtt?file_id={styled['file_id']}"  # the fallback
    assert track["ass_url"] == f"{base}.ass?file_id={styled['file_id']}"
    assert (
        styled["fonts_url"]
        == f"/api/v1/items/{films.ids[STYLED]}/fonts?file_id={styled['file_id']}"
    )
    sidecar = films.playback(SIDECAR)
    assert _subtitle(sidecar)["ass_url"].endswith(".ass?file_id=" + str(sidecar["file_id"]))
    assert sidecar["fonts_url"] is None  # no attachments
    plain = films.playback(PLAIN)
    assert _subtitle(plain)["ass_url"] is None and _subtitle(plain)["url"]  # SubRip: WebVTT only


def test_the_styled_track_is_served_as_it_is_and_revalidated(films: Films) -> None:
    for title in (STYLED, SIDECAR):
        response = films.client.get(_subtitle(films.playback(title))["ass_url"])
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/x-ssa; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert "Style: Default,Hearth Blocks,24" in response.text
        assert "{\\an8}{\\c&H0000FF&}Top red" in response.text
        again = films.client.get(
            _subtitle(films.playback(title))["ass_url"],
            headers={"If-None-Match": response.headers["etag"]},
        )
        assert again.status_code == 304


def test_a_track_that_is_not_ass_or_a_wrong_name_is_a_404(films: Films) -> None:
    plain = films.playback(PLAIN)
    vtt_url = _subtitle(plain)["url"]
    refused = films.client.get(vtt_url.replace(".vtt?", ".ass?"))
    assert refused.status_code == 404
    assert "not ASS or SSA; ask for .vtt" in refused.json()["detail"]
    assert films.client.get(vtt_url).status_code == 200  # the same track as WebVTT
    item = films.ids[STYLED]
    for name in ("99.ass", "2.ssa", "02.ass", "2.ass.vtt"):
        assert films.client.get(f"/api/v1/items/{item}/subtitles/{name}").status_code == 404


def test_the_fonts_of_the_file_are_listed_and_served(films: Films) -> None:
    listed = films.client.get(films.playback(STYLED)["fonts_url"])
    assert listed.status_code == 200
    (font,) = listed.json()["fonts"]  # the text attachment is not a font
    assert font["file_name"] == "HearthBlocks.ttf"
    assert font["size"] == FONT.stat().st_size and font["content_type"] == "font/ttf"
    served = films.client.get(font["url"])
    assert served.status_code == 200 and served.content == FONT.read_bytes()
    assert served.headers["content-type"] == "font/ttf"
    assert served.headers["cache-control"] == "no-cache"
    assert (
        films.client.get(font["url"], headers={"If-None-Match": served.headers["etag"]}).status_code
        == 304
    )
    notes = font["url"].replace(f"/fonts/{font['index']}?", f"/fonts/{font['index'] + 1}?")
    assert films.client.get(notes).status_code == 404  # an attachment, but not a font


def test_only_the_files_own_attachments_are_reachable(films: Films) -> None:
    index = films.client.get(films.playback(STYLED)["fonts_url"]).json()["fonts"][0]["index"]
    other = films.ids[SIDECAR]
    assert films.client.get(f"/api/v1/items/{other}/fonts").json()["fonts"] == []
    wrong = films.client.get(f"/api/v1/items/{other}/fonts/{index}")
    assert wrong.status_code == 404 and "no font attachment" in wrong.json()["detail"]
    styled_file = films.playback(STYLED)["file_id"]  # another item's file, named by id
    assert (
        films.client.get(f"/api/v1/items/{other}/fonts/{index}?file_id={styled_file}").status_code
        == 404
    )


def test_a_film_hidden_from_a_viewer_hides_its_track_and_fonts(films: Films) -> None:
    _, child = add_member(films.client, auth_headers(films.url), "Pip", max_rating="PG")
    answer = films.playback(STYLED)
    font_url = films.client.get(answer["fonts_url"]).json()["fonts"][0]["url"]
    urls = [_subtitle(answer)["ass_url"], _subtitle(answer)["url"], answer["fonts_url"], font_url]
    for url in urls:
        assert films.client.get(url).status_code == 200, url  # the admin
        hidden = films.client.get(url, headers=child)
        assert hidden.status_code == 404, url
        assert "Hearth Blocks" not in hidden.text and "HearthBlocks" not in hidden.text
    sidecar = _subtitle(films.playback(SIDECAR))["ass_url"]
    assert films.client.get(sidecar, headers=child).status_code == 200  # rated G: allowed


def test_the_renderer_is_served_with_a_policy_that_allows_webassembly_only(films: Films) -> None:
    worker = films.client.get("/static/subtitles-ass-worker.js")
    assert worker.status_code == 200
    assert worker.headers["content-security-policy"] == WASM_WORKER_POLICY
    policy = dict(part.split(" ", 1) for part in WASM_WORKER_POLICY.split("; "))
    assert policy == {
        "default-src": "'none'",
        "script-src": "'self' 'wasm-unsafe-eval'",
        "connect-src": "'self'",
    }
    wasm = films.client.get(f"{VENDOR}/subtitles-octopus-worker.wasm")
    assert wasm.headers["content-type"] == "application/wasm"  # compiled as it streams in
    assert wasm.content[:4] == b"\0asm"
    names = ("subtitles-octopus.js", "subtitles-octopus-worker.js", "default.woff2", "LICENSE")
    for name in (*names, "COPYRIGHT", "FONT-LICENSE"):
        response = films.client.get(f"{VENDOR}/{name}")
        assert response.status_code == 200, name
        assert "content-security-policy" not in response.headers, name
    page = films.client.get(f"/items/{films.ids[SIDECAR]}", headers={"accept": "text/html"})
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self' 'wasm-unsafe-eval';" in CONTENT_SECURITY_POLICY
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY
