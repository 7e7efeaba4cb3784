"""The OpenAPI document tells what the server does, so generated clients and fuzzers can
rely on it (``tests/integration/test_schema_fuzz.py`` holds it to that with schemathesis).

Litestar documents a handler's success and its parameter errors (400).  The answers that
come from around the handler are documented here, from the same facts that produce them:
401 from the sign-in middleware on every route not marked public, 403 from the admin guard
and from the CSRF check on changes, 404 for ids in the path, 413 for bodies past the size
limit, 429 from the rate limiter, 507 when a change meets a full disk.  What a handler
itself answers beyond that is declared on its decorator with :func:`problem` (``responses=``)
what it sends when that is not JSON with :func:`sends`, and the main operations show a
typical answer with :func:`example` (both ``operation_class=``).

:func:`allow_header` keeps ``Allow`` honest: Litestar builds the OPTIONS answer of a path
when its first handlers are registered and does not update it when more join that path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.types import Message, Scope
from litestar.typing import FieldDefinition

from mediaserver.api.access import admin_only
from mediaserver.api.guard import is_public

__all__ = [
    "Problem",
    "StrictBodies",
    "allow_header",
    "document_responses",
    "example",
    "problem",
    "sends",
]


class Problem(msgspec.Struct):
    """Every error answer of the JSON API (``api/errors.py``); some add fields of their
    own, such as ``totp_required``."""

    status_code: int
    detail: str


def problem(status: int, detail: str) -> ResponseSpec:
    """An error answer as ``responses={status: problem(status, "what it means")}``."""
    return ResponseSpec(
        data_container=Problem,
        description=detail,
        generate_examples=False,
        examples=[Example(value={"status_code": status, "detail": detail})],
    )


_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _around(handler: HTTPRouteHandler, has_path_ids: bool) -> dict[int, ResponseSpec]:
    """The answers a handler can get from the layers around it (see the module's doc)."""
    methods = set(handler.http_methods)
    found = {429: problem(429, "Too many requests from this address or person; see Retry-After.")}
    if not is_public(handler):
        found[401] = problem(401, "Sign in first: no valid token, API key or session.")
        if admin_only in handler.resolve_guards():
            found[403] = problem(403, "Only an admin can do this.")
        elif methods & _UNSAFE:
            found[403] = problem(403, "A change signed in by the web session needs its CSRF token.")
    if has_path_ids:
        found[404] = problem(404, "Nothing by that name or id, or nothing this viewer may see.")
    if methods & _UNSAFE:
        found[507] = problem(507, "The server's disk is full, so nothing was saved.")
        if "data" in handler.parsed_fn_signature.parameters:
            found[413] = problem(413, "The request body is too large.")
    return found


def document_responses(app: Litestar) -> None:
    """Add the answers from around each handler to its documented ones (a handler's own
    ``responses=`` win).  Call before the schema is first built."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            around = _around(handler, "{" in route.path)
            handler.responses = {**around, **(handler.responses or {})}


def sends(*media_types: str, keep_json: bool = False, ranges: bool = False) -> type[Operation]:
    """An ``operation_class``: the success answer comes as ``media_types`` (``image/*`` is
    fine), not the JSON Litestar assumes, or beside it with ``keep_json``.  With ``ranges``
    (``api/ranges.py`` serves it): 206 for a Range, 304 when the client's copy is current,
    416 for a Range outside the file."""

    @dataclass
    class _Sends(Operation):
        def __post_init__(self) -> None:
            responses: dict[str, Any] = dict(self.responses or {})
            success = next(code for code in responses if code.startswith("2"))
            answer = responses[success]
            content = dict(answer.content or {}) if keep_json else {}
            content.update({kind: OpenAPIMediaType(schema=_body(kind)) for kind in media_types})
            answer.content = content
            if ranges:
                parts = {**content, "multipart/byteranges": OpenAPIMediaType(schema=_body(""))}
                responses["206"] = OpenAPIResponse(
                    description="The parts of the file the Range header asked for.", content=parts
                )
                responses["304"] = OpenAPIResponse(description="The client's copy is current.")
                responses["416"] = OpenAPIResponse(
                    description="The Range asked for lies outside the file.",
                    content={"text/plain": OpenAPIMediaType(schema=_body("text/plain"))},
                )
            self.responses = responses

    return _Sends


def example(answer: Any, *, body: Any = None) -> type[Operation]:
    """An ``operation_class`` that shows a typical JSON answer (and request ``body``): the
    handlers of the main operations return plain dicts, which Litestar cannot illustrate."""

    @dataclass
    class _Example(Operation):
        def __post_init__(self) -> None:
            responses: dict[str, Any] = dict(self.responses or {})
            success = next(code for code in responses if code.startswith("2"))
            shown = (responses[success].content or {}).get("application/json")
            if shown is not None:
                shown.example = answer
            request = getattr(self.request_body, "content", None) or {}
            if body is not None and "application/json" in request:
                request["application/json"].example = body

    return _Example


def _body(media_type: str) -> Schema:
    if media_type.startswith("text/") or media_type.endswith("mpegurl"):
        return Schema(type=OpenAPIType.STRING)
    return Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)


class StrictBodies(StructSchemaPlugin):
    """A body type that refuses unknown fields (``forbid_unknown_fields=True``, every JSON
    body here) says so in the schema, ``additionalProperties: false``: Litestar leaves it
    open, so clients were told that a body the server refuses was fine."""

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        config = getattr(field_definition.annotation, "__struct_config__", None)
        if config is not None and config.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def allow_header(app: Litestar) -> Any:
    """A ``before_send`` hook: an OPTIONS answer (and a 405) lists every method its path has."""
    methods = {route.path_format: ", ".join(sorted(route.methods)) for route in app.routes}

    async def hook(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("type") != "http":
            return
        status = message["status"]
        if not (scope.get("method") == "OPTIONS" and status < 300) and status != 405:
            return
        allowed = methods.get(str(scope.get("path_template") or ""))
        if allowed:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
            message["headers"] = [*headers, (b"allow", allowed.encode("latin-1"))]

    return hook
