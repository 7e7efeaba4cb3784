"""``/api/v1/auth/pair``: sign in a TV or app by a code shown on its screen (Quick Connect).

1. The device: ``POST /api/v1/auth/pair`` with ``{"device": "Living room TV"}`` (no sign-in)
   gets ``code`` to show, ``poll_token`` to keep, and where to send the person
   (``verify_url``, the ``/pair`` page).
2. A signed-in person approves the code on the ``/pair`` page, or with
   ``POST /api/v1/auth/pair/approve`` ``{"code": "K7M4QX"}``.
3. The device polls ``POST /api/v1/auth/pair/poll`` ``{"poll_token": ...}`` every
   ``interval`` seconds: 202 while waiting, then 200 with access and refresh tokens exactly
   as from ``/login``; 401 once the pairing is expired, unknown or already used.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_429_TOO_MANY_REQUESTS

from mediaserver.accounts.auth import LockedOut
from mediaserver.accounts.pairing import PairingError
from mediaserver.api.access import viewer
from mediaserver.api.auth import PUBLIC, answer
from mediaserver.api.clients import request_address
from mediaserver.api.openapi import problem
from mediaserver.context import AppContext

__all__ = ["POLL_INTERVAL_S", "PairingController"]

POLL_INTERVAL_S = 2


class StartBody(msgspec.Struct, forbid_unknown_fields=True):
    device: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class PollBody(msgspec.Struct, forbid_unknown_fields=True):
    poll_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class ApproveBody(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


class _TooMany(HTTPException):
    status_code = HTTP_429_TOO_MANY_REQUESTS


class PairingController(Controller):
    path = "/api/v1/auth/pair"
    tags = ["auth"]

    @post("/", status_code=201, sync_to_thread=False, opt=PUBLIC, summary="A device asks to pair")
    def start(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[StartBody],
    ) -> dict[str, Any]:
        address = request_address(request, ctx.settings.server.trusted_proxies)
        limiter = ctx.rate_limiter
        if limiter is not None and (wait := limiter.take(f"pair:{address}")):
            raise _TooMany(
                detail="too many pairing requests; slow down a little",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        try:
            started = ctx.pairing.start(data.device.strip() or "Device", address)
        except PairingError as exc:
            raise _TooMany(detail=str(exc), headers={"Retry-After": "60"}) from None
        return {
            "code": started.code,
            "poll_token": started.poll_token,
            "expires_in": started.expires_in,
            "interval": POLL_INTERVAL_S,
            "verify_url": f"/pair?code={started.code}",
        }

    @post(
        "/poll",
        sync_to_thread=True,
        opt=PUBLIC,
        summary="The device waits for approval",
        responses={401: problem(401, "This pairing is unknown, expired or already used.")},
    )
    def poll(self, ctx: NamedDependency[AppContext], data: JSONBody[PollBody]) -> Response[Any]:
        try:
            login = ctx.pairing.poll(data.poll_token)
        except PairingError as exc:
            raise NotAuthorizedException(detail=str(exc)) from None
        if login is None:
            body = {"status": "pending", "interval": POLL_INTERVAL_S}
            return Response(body, status_code=202)
        return Response({"status": "approved", **answer(login)}, status_code=200)

    @post(
        "/approve",
        status_code=200,
        sync_to_thread=False,
        summary="Let a waiting device in",
        responses={404: problem(404, "No device is waiting with that code.")},
    )
    def approve(
        self,
        request: Request[Any, Any, Any],
        ctx: NamedDependency[AppContext],
        data: JSONBody[ApproveBody],
    ) -> dict[str, Any]:
        try:
            pairing = ctx.pairing.approve(data.code, viewer(request))
        except LockedOut as exc:
            raise _TooMany(detail=str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
        except PairingError as exc:
            raise NotFoundException(detail=str(exc)) from None
        return {"device": pairing.device, "approved": True}
