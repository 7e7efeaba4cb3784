"""The OpenAPI document tells the truth: schemathesis against a real Hearth on 127.0.0.1.

Every operation of ``/schema/openapi.json`` is called with generated requests, as an admin
and as a member limited to one library, and every answer must be no server error, with a
status code, content type and body the schema documents.  The run is bounded and
reproducible (``derandomize``, a few examples per operation: docs/decisions.md says why) so
it fits ``make test``.  The endless ``/api/v1/events`` stream is left out (test_watch.py
reads it).

The fuzzer must not sign itself out: a ``filter_case`` hook keeps it from deleting,
demoting or resetting the two accounts it runs as, revoking their credentials, or removing
the one library the member may see.  Everything else it may do, and does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from tests.integration.conftest import add_member, auth_headers

EXAMPLES = 25  # per operation and account: ~95 operations x 2 accounts in about a minute
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "allow_header_conformance",
)
NOT_FUZZED = "^/api/v1/events$"  # an endless event stream; test_watch.py reads it


@dataclass(frozen=True)
class Fuzzed:
    url: str
    admin: dict[str, str]
    member: dict[str, str]
    own_users: frozenset[int]
    own_credentials: frozenset[int]
    library_id: int
    real_ids: dict[str, list[int]]  # ids that exist, by path parameter name


@pytest.fixture(scope="module")
def fuzzed(
    hearth_server: Callable[..., AbstractContextManager[str]],
    hearth_library: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scan_waiter: Callable[..., dict[str, Any]],
) -> Iterator[Fuzzed]:
    with hearth_server(tmp_path_factory.mktemp("fuzz-data"), [hearth_library]) as url:
        admin = auth_headers(url)
        with httpx.Client(base_url=url, headers=admin, timeout=30) as client:
            scan_waiter(client)
            library = client.get("/api/v1/libraries").json()["libraries"][0]["id"]
            member_id, member = add_member(client, admin, "kid", libraries=[library])
            me = client.get("/api/v1/auth/me").json()["id"]
            credentials = {
                c["id"]
                for who in (me, member_id)
                for c in client.get(f"/api/v1/users/{who}/credentials").json()["credentials"]
            }
            items = client.get("/api/v1/items", params={"limit": 500}).json()["items"]
            files = [
                file["id"]
                for item in items
                for file in client.get(f"/api/v1/items/{item['id']}").json()["files"]
            ]
            real = {
                "item_id": [item["id"] for item in items],
                "file_id": files,
                "library_id": [library],
                "user_id": [me, member_id],
                "position": [0, 1],
                "index": [0],
            }
        own = frozenset({me, member_id})
        yield Fuzzed(url, admin, member, own, frozenset(credentials), library, real)


@pytest.fixture(scope="module")
def api_schema(fuzzed: Fuzzed) -> Any:
    url = f"{fuzzed.url}/schema/openapi.json"
    schema: Any = schemathesis.openapi.from_url(url, headers=fuzzed.admin)
    schema = schema.exclude(path_regex=NOT_FUZZED)

    @schema.hook
    def filter_case(context: Any, case: Any) -> bool:
        return not _signs_itself_out(fuzzed, case)

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        """Half the cases use ids that exist, so answers with a body (posters, files,
        playlists) are checked too, not only the 404s of made-up ids."""
        real = {
            name: st.sampled_from(fuzzed.real_ids[name])
            for name in path_parameters or {}
            if fuzzed.real_ids.get(name)
        }
        if not real:
            return st.just(path_parameters)
        existing = st.fixed_dictionaries(real).map(lambda ids: {**(path_parameters or {}), **ids})
        return st.one_of(st.just(path_parameters), existing)

    return schema


def _signs_itself_out(fuzzed: Fuzzed, case: Any) -> bool:
    """Whether ``case`` would delete, demote or lock out an account the fuzzer runs as, or
    take away the member's library (then later calls would test nothing but 401s)."""
    method, path, ids = case.method.upper(), case.operation.path, case.path_parameters or {}
    if path.startswith("/api/v1/users/{user_id}") and method != "GET":
        return ids.get("user_id") in fuzzed.own_users
    if path.startswith("/api/v1/auth/") and "{credential_id}" in path:
        return ids.get("credential_id") in fuzzed.own_credentials
    if path == "/api/v1/libraries/{library_id}" and method in ("DELETE", "PATCH"):
        return ids.get("library_id") == fuzzed.library_id
    return False


_CHECKS = [not_a_server_error, *(getattr(openapi_checks, name) for name in CHECK_NAMES[1:])]
_BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
    database=None,
    phases=[Phase.explicit, Phase.generate],  # the first failing case is reported as it is
)


def _fuzz(api_schema: Any, headers: dict[str, str]) -> list[str]:
    """Every operation, a bounded number of cases each; what failed, in schemathesis's words.

    Driven through the Python API by hand (schemathesis's pytest plugin does not run under
    pytest 9), one Hypothesis test per operation, so one failure does not hide the others.
    """
    failures = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 80  # the schema really was read
    for operation in operations:

        @given(case=operation.as_strategy())
        @_BOUNDED
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=_CHECKS)

        try:
            call()
        except (Exception, BaseExceptionGroup) as exc:  # failed checks, with a reproduction
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures


def test_the_schema_holds_for_an_admin(api_schema: Any, fuzzed: Fuzzed) -> None:
    failures = _fuzz(api_schema, fuzzed.admin)
    assert not failures, "\n\n".join(failures)


def test_the_schema_holds_for_a_member(api_schema: Any, fuzzed: Fuzzed) -> None:
    failures = _fuzz(api_schema, fuzzed.member)
    assert not failures, "\n\n".join(failures)


def test_allow_lists_every_documented_method(fuzzed: Fuzzed) -> None:
    """Litestar answered OPTIONS for a path with the methods of the first handlers it
    registered there (``OPTIONS /api/v1/users/1`` said only PATCH); a 405 lists them too."""
    with httpx.Client(base_url=fuzzed.url, headers=fuzzed.admin, timeout=30) as client:
        paths = client.get("/schema/openapi.json").json()["paths"]
        wrong = []
        for template, operations in paths.items():
            path = re.sub(r"\{[^}]+\}", "1", template)
            documented = {method.upper() for method in operations} | {"OPTIONS"}
            allowed = client.options(path).headers.get("allow", "")
            if {m.strip() for m in allowed.split(",")} != documented:
                wrong.append(f"{template}: Allow {allowed!r}, documented {sorted(documented)}")
        assert wrong == []
        put_on_get = client.put("/api/v1/libraries")
        assert put_on_get.status_code == 405
        assert set(put_on_get.headers["allow"].split(", ")) == {"GET", "OPTIONS", "POST"}


def test_the_main_operations_show_an_example(fuzzed: Fuzzed) -> None:
    with httpx.Client(base_url=fuzzed.url, headers=fuzzed.admin, timeout=30) as client:
        paths = client.get("/schema/openapi.json").json()["paths"]
    login = paths["/api/v1/auth/login"]["post"]
    assert login["requestBody"]["content"]["application/json"]["example"]["username"]
    for path in ("/api/v1/auth/login", "/api/v1/items", "/api/v1/items/{item_id}/playback"):
        operation = paths[path].get("get") or paths[path]["post"]
        assert operation["responses"]["200"]["content"]["application/json"]["example"], path
    failed = login["responses"]["401"]["content"]["application/json"]
    assert failed["examples"], "an error answer shows its shape too"
