"""Signing in over HTTP: users made with the CLI, tokens, refresh, lockout with 429."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pyotp
import pytest

PASSWORD = "correct horse battery staple"


def cli(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEDIASERVER_DATA_DIR": str(data_dir)}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "mediaserver", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def server(
    hearth_server: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, Path]]:
    data_dir = tmp_path_factory.mktemp("auth-data")
    empty = tmp_path_factory.mktemp("auth-media")
    with hearth_server(data_dir, [empty]) as url, httpx.Client(base_url=url, timeout=30) as client:
        added = cli(
            data_dir, "user", "add", "Alice", "--admin", "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert added.returncode == 0, added.stderr
        assert "added Alice (an admin" in added.stdout
        yield client, data_dir


def login(client: httpx.Client, name: str = "Alice", password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": name, "password": password})


def test_the_cli_refuses_weak_passwords_and_duplicates(server: tuple[httpx.Client, Path]) -> None:
    _, data_dir = server
    weak = cli(data_dir, "user", "add", "bob", "--password-stdin", stdin="password123\n")
    assert weak.returncode == 1 and "too weak" in weak.stderr
    again = cli(data_dir, "user", "add", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "already a user" in again.stderr
    listed = cli(data_dir, "user", "list")
    rows = [line.split("\t")[1:] for line in listed.stdout.splitlines()]
    assert ["Alice", "admin"] in rows
    piped = cli(data_dir, "user", "add", "carol")  # no tty and no --password-stdin
    assert piped.returncode != 0 and "--password-stdin" in piped.stderr


def test_sign_in_use_the_token_and_refresh(server: tuple[httpx.Client, Path]) -> None:
    client, _ = server
    answer = login(client)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert body["user"]["name"] == "Alice" and body["user"]["is_admin"] is True
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["name"] == "Alice"
    assert client.get("/api/v1/auth/me").status_code == 401
    bad = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer hat_1.1.x"})
    assert bad.status_code == 401
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    reused = client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert reused.status_code == 401  # each refresh token works once
    new = renewed.json()["refresh_token"]
    assert client.post("/api/v1/auth/logout", json={"refresh_token": new}).status_code == 204
    gone = client.post("/api/v1/auth/refresh", json={"refresh_token": new})
    assert gone.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "Alice"},
        {"username": "", "password": "x"},
        {"username": "Alice", "password": "x" * 300},
        {"username": "Alice", "password": PASSWORD, "admin": True},
        {"username": ["Alice"], "password": PASSWORD},
    ],
)
def test_malformed_sign_ins_are_400(server: tuple[httpx.Client, Path], body: object) -> None:
    client, _ = server
    answer = client.post("/api/v1/auth/login", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"]


def bearer_for(client: httpx.Client, name: str, password: str) -> dict[str, str]:
    answer = login(client, name, password)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_api_keys_are_shown_once_and_belong_to_their_owner(
    server: tuple[httpx.Client, Path],
) -> None:
    client, data_dir = server
    made = cli(
        data_dir, "user", "add", "Frank", "--password-stdin", stdin="frank says hello there\n"
    )
    assert made.returncode == 0, made.stderr
    alice = bearer_for(client, "Alice", PASSWORD)
    frank = bearer_for(client, "Frank", "frank says hello there")
    created = client.post("/api/v1/auth/keys", json={"name": "backup script"}, headers=alice)
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert key.startswith("hak_") and len(key) >= 4 + 43  # 256 random bits
    listed = client.get("/api/v1/auth/keys", headers=alice).json()["keys"]
    assert [k["name"] for k in listed] == ["backup script"]
    assert key not in str(listed)  # never shown again
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["name"] == "Alice"
    # Frank cannot see or revoke Alice's key: it answers like one that does not exist.
    assert client.get("/api/v1/auth/keys", headers=frank).json()["keys"] == []
    key_id = created.json()["id"]
    theirs = client.delete(f"/api/v1/auth/keys/{key_id}", headers=frank)
    missing = client.delete("/api/v1/auth/keys/999999", headers=frank)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["detail"] == missing.json()["detail"]
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    assert client.delete(f"/api/v1/auth/keys/{key_id}", headers=alice).status_code == 204
    assert (
        client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    )
    assert client.get("/api/v1/auth/keys").status_code == 401  # and nothing without a token


def test_a_device_can_be_signed_out(server: tuple[httpx.Client, Path]) -> None:
    client, _ = server
    tv = client.post(
        "/api/v1/auth/login",
        json={"username": "Alice", "password": PASSWORD, "device": "Living room TV"},
    ).json()
    alice = bearer_for(client, "Alice", PASSWORD)
    sessions = client.get("/api/v1/auth/sessions", headers=alice).json()["sessions"]
    (entry,) = [s for s in sessions if s["device"] == "Living room TV"]
    assert entry["kind"] == "refresh" and entry["address"] == "127.0.0.1"
    assert client.delete(f"/api/v1/auth/sessions/{entry['id']}", headers=alice).status_code == 204
    dead = client.post("/api/v1/auth/refresh", json={"refresh_token": tv["refresh_token"]})
    assert dead.status_code == 401


def test_two_factor_over_the_api(server: tuple[httpx.Client, Path]) -> None:
    client, data_dir = server
    made = cli(data_dir, "user", "add", "Gina", "--password-stdin", stdin="gina keeps it safe\n")
    assert made.returncode == 0, made.stderr
    gina = bearer_for(client, "Gina", "gina keeps it safe")
    enrolment = client.post("/api/v1/auth/totp", headers=gina)
    assert enrolment.status_code == 201, enrolment.text
    body = enrolment.json()
    assert "<svg" in body["qr_svg"] and body["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(body["secret"])
    bad = client.post("/api/v1/auth/totp/confirm", json={"code": "12345x"}, headers=gina)
    assert bad.status_code == 400
    confirmed = client.post("/api/v1/auth/totp/confirm", json={"code": totp.now()}, headers=gina)
    assert confirmed.status_code == 200, confirmed.text
    recovery = confirmed.json()["recovery_codes"]
    assert len(recovery) == 10
    needed = login(client, "Gina", "gina keeps it safe")
    assert needed.status_code == 401 and needed.json()["totp_required"] is True
    with_recovery = client.post(
        "/api/v1/auth/login",
        json={"username": "Gina", "password": "gina keeps it safe", "totp": recovery[0]},
    )
    assert with_recovery.status_code == 200, with_recovery.text
    off = client.post("/api/v1/auth/totp/disable", json={"password": "nope"}, headers=gina)
    assert off.status_code == 401
    off = client.post(
        "/api/v1/auth/totp/disable", json={"password": "gina keeps it safe"}, headers=gina
    )
    assert off.status_code == 200 and off.json() == {"enabled": False}
    assert login(client, "Gina", "gina keeps it safe").status_code == 200


def test_two_factor_sign_in_takes_the_code_without_the_password_again(
    server: tuple[httpx.Client, Path],
) -> None:
    client, data_dir = server
    made = cli(data_dir, "user", "add", "Hana", "--password-stdin", stdin="hana keeps it safe\n")
    assert made.returncode == 0, made.stderr
    hana = bearer_for(client, "Hana", "hana keeps it safe")
    secret = client.post("/api/v1/auth/totp", headers=hana).json()["secret"]
    totp = pyotp.TOTP(secret)
    earlier = totp.at(time.time() - totp.interval)  # leaves this step's code unused
    confirmed = client.post("/api/v1/auth/totp/confirm", json={"code": earlier}, headers=hana)
    assert confirmed.status_code == 200, confirmed.text
    first = client.post(
        "/api/v1/auth/login",
        json={"username": "Hana", "password": "hana keeps it safe", "device": "Hana's tablet"},
    )
    assert first.status_code == 401 and first.json()["totp_required"] is True
    ticket = first.json()["ticket"]
    assert first.json()["ticket_expires_in"] == 300
    wrong_code = "000000" if totp.now() != "000000" else "111111"
    wrong = client.post("/api/v1/auth/login/code", json={"ticket": ticket, "code": wrong_code})
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["totp_required"] is True and wrong.json()["tries_left"] == 4
    made_up = client.post("/api/v1/auth/login/code", json={"ticket": "h2f_x", "code": totp.now()})
    assert made_up.status_code == 401 and "password again" in made_up.json()["detail"]
    right = client.post("/api/v1/auth/login/code", json={"ticket": ticket, "code": totp.now()})
    assert right.status_code == 200, right.text
    assert right.json()["user"]["name"] == "Hana" and right.json()["token_type"] == "Bearer"
    signed = {"Authorization": f"Bearer {right.json()['access_token']}"}
    sessions = client.get("/api/v1/auth/sessions", headers=signed).json()["sessions"]
    assert "Hana's tablet" in {s["device"] for s in sessions}
    again = client.post("/api/v1/auth/login/code", json={"ticket": ticket, "code": totp.now()})
    assert again.status_code == 401  # a ticket works once
    bad = client.post("/api/v1/auth/login/code", json={"ticket": ticket})
    assert bad.status_code == 400 and "code" in bad.json()["detail"]


# The lockout tests come last: they leave 127.0.0.1 locked for a while.


def test_wrong_passwords_lock_the_account_with_429(server: tuple[httpx.Client, Path]) -> None:
    client, data_dir = server
    made = cli(
        data_dir, "user", "add", "Dave", "--password-stdin", stdin="another long phrase here\n"
    )
    assert made.returncode == 0, made.stderr
    statuses = [login(client, "Dave", "wrong guess number").status_code for _ in range(5)]
    assert statuses == [401] * 5
    locked = login(client, "Dave", "another long phrase here")
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) >= 1
    assert "try again" in locked.json()["detail"]


def test_a_forged_forwarded_for_does_not_dodge_the_lock(server: tuple[httpx.Client, Path]) -> None:
    """No proxy is trusted here: rotating X-Forwarded-For changes neither lock."""
    client, data_dir = server
    made = cli(
        data_dir, "user", "add", "Erin", "--password-stdin", stdin="yet another fine phrase\n"
    )
    assert made.returncode == 0, made.stderr
    statuses = []
    for n in range(20):
        headers = {"X-Forwarded-For": f"203.0.113.{n}", "X-Real-IP": f"198.51.100.{n}"}
        answer = client.post(
            "/api/v1/auth/login",
            json={"username": "Erin", "password": f"wrong guess {n}"},
            headers=headers,
        )
        statuses.append(answer.status_code)
    # At most five tries get to check a password (fewer if an earlier test already locked
    # this address); every later one is refused before that, whatever the header says.
    assert set(statuses) <= {401, 429} and statuses.count(401) <= 5
    assert statuses[5:] == [429] * 15
    right = client.post(
        "/api/v1/auth/login",
        json={"username": "Erin", "password": "yet another fine phrase"},
        headers={"X-Forwarded-For": "192.0.2.200"},
    )
    assert right.status_code == 429  # still locked: the header was not believed
