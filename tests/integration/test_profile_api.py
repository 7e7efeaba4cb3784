"""Profiles over HTTP: pictures (bad-input point 7), password changes, pairing a TV by code
(point 10 for pairing codes), and scaled posters."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.integration.conftest import auth_headers, wait_for_scan

PASSWORD = "a long household password"


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
    hearth_library: Path,
    clip_cache: Path,
) -> Iterator[tuple[httpx.Client, dict[str, str]]]:
    data = tmp_path_factory.mktemp("profile-data")
    languages = tmp_path_factory.mktemp("profile-media")
    shutil.copyfile(clip_cache / "two_audio_sub.mkv", languages / "Two Tongues (2021).mkv")
    libraries = [hearth_library, languages]
    with hearth_server(data, libraries) as url, httpx.Client(base_url=url, timeout=30) as c:
        admin = auth_headers(url)
        wait_for_scan(httpx.Client(base_url=url, headers=admin, timeout=30))
        yield c, admin


def member(client: httpx.Client, admin: dict[str, str], name: str) -> tuple[int, dict[str, str]]:
    made = client.post("/api/v1/users", json={"name": name, "password": PASSWORD}, headers=admin)
    assert made.status_code == 201, made.text
    login = client.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return made.json()["id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


def _png(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height), (200, 40, 40))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _claimed_png(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


def _upload(client: httpx.Client, user_id: int, headers: dict[str, str], data: bytes, name: str):
    return client.put(
        f"/api/v1/users/{user_id}/avatar",
        files={"data": (name, data, "application/octet-stream")},
        headers=headers,
    )


def test_a_profile_picture_is_stored_square_and_small(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    user_id, headers = member(client, admin, "Pat")
    assert client.get(f"/api/v1/users/{user_id}/avatar", headers=headers).status_code == 404
    uploaded = _upload(client, user_id, headers, _png(900, 600), "me.png")
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["has_avatar"] is True
    picture = client.get(f"/api/v1/users/{user_id}/avatar", headers=headers)
    assert picture.status_code == 200
    assert picture.headers["content-type"].startswith("image/")
    assert Image.open(io.BytesIO(picture.content)).size == (256, 256)
    again = client.get(
        f"/api/v1/users/{user_id}/avatar",
        headers={**headers, "if-none-match": picture.headers["etag"]},
    )
    assert again.status_code == 304
    assert client.delete(f"/api/v1/users/{user_id}/avatar", headers=headers).status_code == 204
    assert client.get(f"/api/v1/users/{user_id}/avatar", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (_claimed_png(65535, 65535), "megapixels"),
        (b"GIF89a" + b"\0" * 40, ""),
        (b"", ""),
    ],
)
def test_bad_pictures_are_refused_before_decoding(
    server: tuple[httpx.Client, dict[str, str]], data: bytes, message: str
) -> None:
    client, admin = server
    user_id, headers = member(client, admin, f"Bad{len(data)}{message[:2]}")
    answer = _upload(client, user_id, headers, data, "evil.png")
    assert answer.status_code == 400, answer.text
    assert message in answer.json()["detail"]
    assert client.get(f"/api/v1/users/{user_id}/avatar", headers=headers).status_code == 404
    assert client.get("/health").status_code == 200


def test_an_oversized_picture_is_refused_unread(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    user_id, headers = member(client, admin, "Big")
    answer = _upload(client, user_id, headers, b"\xff" * (6 * 1024 * 1024), "big.jpg")
    assert answer.status_code == 413


@pytest.mark.parametrize("width", ["1e6", "-5", "0", "5000", "abc", "300.5"])
def test_a_bad_image_width_is_a_400(
    server: tuple[httpx.Client, dict[str, str]], width: str
) -> None:
    client, admin = server
    items = client.get("/api/v1/items?kind=movie", headers=admin).json()["items"]
    poster = next(i["poster_url"] for i in items if i["poster_url"])
    answer = client.get(f"{poster}?width={width}", headers=admin)
    assert answer.status_code == 400, answer.text
    assert "width" in answer.json()["detail"]


def test_a_poster_is_scaled_down_on_request(server: tuple[httpx.Client, dict[str, str]]) -> None:
    client, admin = server
    items = client.get("/api/v1/items?kind=movie", headers=admin).json()["items"]
    poster = next(i["poster_url"] for i in items if i["poster_url"])
    original = Image.open(io.BytesIO(client.get(poster, headers=admin).content))
    scaled = client.get(f"{poster}?width=100", headers=admin)
    assert scaled.status_code == 200 and scaled.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(scaled.content)).width == min(100, original.width)


def test_a_password_change_ends_other_sign_ins_and_keeps_this_one(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    _, first = member(client, admin, "Quinn")
    other = client.post("/api/v1/auth/login", json={"username": "Quinn", "password": PASSWORD})
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    wrong = client.post(
        "/api/v1/auth/password",
        json={"current_password": "not it at all", "new_password": "a brand new long phrase"},
        headers=first,
    )
    assert wrong.status_code == 401
    weak = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "password1"},
        headers=first,
    )
    assert weak.status_code == 400
    changed = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a brand new long phrase"},
        headers=first,
    )
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=other_headers).status_code == 401
    assert client.get("/api/v1/auth/me", headers=first).status_code == 401
    assert client.get("/api/v1/auth/me", headers=fresh).status_code == 200
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other.json()["refresh_token"]}
    )
    assert refreshed.status_code == 401


def test_a_tv_pairs_with_a_code_a_person_approves(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    user_id, headers = member(client, admin, "Robin")
    started = client.post("/api/v1/auth/pair", json={"device": "Living room TV"})
    assert started.status_code == 201, started.text
    pairing = started.json()
    assert len(pairing["code"]) == 6 and pairing["verify_url"] == f"/pair?code={pairing['code']}"
    poll = {"poll_token": pairing["poll_token"]}
    assert client.post("/api/v1/auth/pair/poll", json=poll).status_code == 202
    typed = pairing["code"][:3].lower() + "-" + pairing["code"][3:].lower()  # as a person types
    approved = client.post("/api/v1/auth/pair/approve", json={"code": typed}, headers=headers)
    assert approved.status_code == 200 and approved.json()["device"] == "Living room TV"
    tokens = client.post("/api/v1/auth/pair/poll", json=poll)
    assert tokens.status_code == 200, tokens.text
    tv = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=tv).json()["id"] == user_id
    sessions = client.get("/api/v1/auth/sessions", headers=headers).json()["sessions"]
    assert "Living room TV" in [s["device"] for s in sessions]
    # Used once: the same poll token, a made-up one and an approved code again are refused.
    assert client.post("/api/v1/auth/pair/poll", json=poll).status_code == 401
    fake = {"poll_token": pairing["poll_token"][:-2] + "xx"}
    assert client.post("/api/v1/auth/pair/poll", json=fake).status_code == 401
    reused = client.post("/api/v1/auth/pair/approve", json={"code": typed}, headers=headers)
    assert reused.status_code == 404


def test_guessing_pairing_codes_locks_the_guesser_out(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    _, headers = member(client, admin, "Guesser")
    statuses = [
        client.post(
            "/api/v1/auth/pair/approve", json={"code": f"ZZZZZ{i}"}, headers=headers
        ).status_code
        for i in range(2, 9)
    ]
    assert statuses[:5] == [404] * 5 and statuses[-1] == 429
    unauthenticated = client.post("/api/v1/auth/pair/approve", json={"code": "ABCDEF"})
    assert unauthenticated.status_code == 401


def test_playback_starts_with_the_viewers_languages(
    server: tuple[httpx.Client, dict[str, str]],
) -> None:
    client, admin = server
    user_id, headers = member(client, admin, "Camille")
    film = client.get("/api/v1/items?q=two tongues", headers=headers).json()["items"][0]
    streams = client.get(f"/api/v1/items/{film['id']}", headers=headers).json()["files"][0]
    by_language = {s["language"]: s["idx"] for s in streams["streams"] if s["type"] == "audio"}
    subtitle = next(s["idx"] for s in streams["streams"] if s["type"] == "subtitle")

    def decision(query: str = "") -> dict[str, Any]:
        answer = client.get(f"/api/v1/items/{film['id']}/playback?{query}", headers=headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["decision"])

    assert decision()["audio_index"] == by_language["eng"]  # the file's default
    saved = client.put(
        f"/api/v1/users/{user_id}/preferences",
        json={"audio_language": "French", "subtitle_language": "en", "subtitle_mode": "always"},
        headers=headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json() == {
        "audio_language": "fra",
        "subtitle_language": "eng",
        "subtitle_mode": "always",
        "autoplay_next": True,  # not given: the default
    }
    off = client.put(
        f"/api/v1/users/{user_id}/preferences",
        json={**saved.json(), "autoplay_next": False},
        headers=headers,
    )
    assert off.status_code == 200 and off.json()["autoplay_next"] is False
    chosen = decision()
    assert (chosen["audio_index"], chosen["subtitle_index"]) == (by_language["fra"], subtitle)
    # What the client picks wins, "subtitle=" (off) included.
    picked = decision(f"audio={by_language['eng']}&subtitle=")
    assert (picked["audio_index"], picked["subtitle_index"]) == (by_language["eng"], None)
    bad = client.put(
        f"/api/v1/users/{user_id}/preferences",
        json={"audio_language": "Klingonese"},
        headers=headers,
    )
    assert bad.status_code == 400 and "not a language" in bad.json()["detail"]
    _, other = member(client, admin, "Dominique")
    assert client.get(f"/api/v1/users/{user_id}/preferences", headers=other).status_code == 404
