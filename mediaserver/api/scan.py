"""``/api/v1/scan``: start a scan, watch it, cancel it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.openapi.spec import Operation, RequestBody
from litestar.params import JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED

from mediaserver.api.access import admin_only
from mediaserver.api.libraries import require_library
from mediaserver.api.openapi import problem
from mediaserver.api.params import Id
from mediaserver.context import AppContext

__all__ = ["ScanController", "ScanRequest"]


class ScanRequest(msgspec.Struct, forbid_unknown_fields=True):
    library_ids: list[Id] | None = None


@dataclass
class _OptionalBodyOperation(Operation):
    """Litestar 2 marks every request body required in OpenAPI, even ``data: X | None = None``."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


class ScanController(Controller):
    path = "/api/v1/scan"
    tags = ["scan"]
    guards = [admin_only]  # a scan costs the whole machine's disk and CPU for a while

    @post(
        "/",
        status_code=HTTP_202_ACCEPTED,
        sync_to_thread=True,
        summary="Start a scan (all libraries by default)",
        operation_class=_OptionalBodyOperation,
        responses={404: problem(404, "There is no library with one of those ids.")},
    )
    def start(
        self, ctx: NamedDependency[AppContext], data: JSONBody[ScanRequest | None] = None
    ) -> dict[str, Any]:
        ids = data.library_ids if data else None
        for library_id in ids or []:
            require_library(ctx, library_id)
        return ctx.library.request_scan(ids).as_dict()

    @get("/status", sync_to_thread=False, summary="What the scanner is doing now")
    def status(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        return ctx.library.status().as_dict()

    @post(
        "/cancel",
        status_code=HTTP_202_ACCEPTED,
        sync_to_thread=False,
        summary="Cancel the running scan",
    )
    def cancel(self, ctx: NamedDependency[AppContext]) -> dict[str, Any]:
        ctx.library.cancel()
        return ctx.library.status().as_dict()
