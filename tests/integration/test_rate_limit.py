"""The general API rate limit: per user (or per address before signing in), 429 with
Retry-After, and media never counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from mediaserver.app import create_app
from mediaserver.config import load_settings
from mediaserver.testing import user_credentials
from tests.integration.conftest import make_admin

LIMIT = 8


@pytest.fixture(scope="module")
def server(
    server_runner: Callable[..., AbstractContextManager[str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    data = tmp_path_factory.mktemp("rate-data")
    media = tmp_path_factory.mktemp("rate-media")
    config = data / "hearth.toml"
    config.write_text(
        f"[server]\nrate_limit_per_minute = {LIMIT}\n"
        "[library]\nwatch = false\nscan_interval_minutes = 0\n"
        '[streaming]\ntrickplay = false\n[logging]\nlevel = "warning"\n',
        encoding="utf-8",
    )
    settings = load_settings(
        config, {"MEDIASERVER_DATA_DIR": str(data), "MEDIASERVER_MEDIA_DIRS": str(media)}
    )
    key = make_admin(settings)
    other = second_user_key(settings)
    with server_runner(create_app(settings)) as url:
        yield url, {"Authorization": f"Bearer {key}"}, {"Authorization": f"Bearer {other}"}


def second_user_key(settings: Any) -> str:
    return user_credentials(settings.data_path, "second", "another household member")[0]


def test_a_user_over_the_limit_gets_429_with_retry_after(
    server: tuple[str, dict[str, str], dict[str, str]],
) -> None:
    url, headers, _ = server
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        statuses = [client.get("/api/v1/libraries").status_code for _ in range(LIMIT + 3)]
        assert statuses[:LIMIT] == [200] * LIMIT
        assert set(statuses[LIMIT:]) == {429}
        refused = client.get("/api/v1/libraries")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["detail"]
        # Media and static files never count: a seek makes many Range requests at once.
        for _ in range(LIMIT + 2):
            assert client.get("/static/app.css").status_code == 200
            assert client.get("/api/v1/items/1/file").status_code == 404  # routed, not 429
        assert client.get("/health").status_code in (200, 503)  # public, not limited by user


def test_another_user_has_their_own_allowance(
    server: tuple[str, dict[str, str], dict[str, str]],
) -> None:
    url, admin, other = server
    with httpx.Client(base_url=url, timeout=10) as client:
        assert client.get("/api/v1/libraries", headers=admin).status_code == 429  # spent above
        statuses = [
            client.get("/api/v1/libraries", headers=other).status_code for _ in range(LIMIT)
        ]
        assert statuses == [200] * LIMIT


def test_an_address_is_limited_before_any_credential_is_looked_at(
    server: tuple[str, dict[str, str], dict[str, str]],
) -> None:
    url, _, _ = server
    budget = LIMIT * 4  # an address carries several people's allowance
    with httpx.Client(base_url=url, timeout=10) as client:
        statuses = []
        for attempt in range(budget + 2):
            forged = {
                "Authorization": f"Bearer hak_made-up-{attempt}",
                "X-Forwarded-For": f"203.0.113.{attempt}",  # no trusted proxy: ignored
            }
            statuses.append(client.get("/api/v1/libraries", headers=forged).status_code)
        assert set(statuses) <= {401, 429}
        assert statuses[-1] == 429, statuses
        refused = client.get("/api/v1/libraries")
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
        assert client.get("/health").status_code in (200, 503)  # public routes go on
