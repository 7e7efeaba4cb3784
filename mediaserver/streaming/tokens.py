"""Signed, expiring, path-scoped stream tokens, and the server secret they are signed with.

A token is ``<expiry>.<signature>``: HMAC-SHA256 over the scope (one stream's URL folder)
and the expiry, so it works without cookies (TVs, ffmpeg, VLC), is useless for any other
stream, and stops working when it expires.  The secret lives in the data folder, readable
by the server's user only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from mediaserver.constant_time import same_secret

__all__ = ["TokenError", "load_secret", "sign", "verify"]


class TokenError(Exception):
    """The token is missing, forged, for another stream, or expired; the message says which."""


def load_secret(data_dir: Path) -> bytes:
    """The server's 32-byte secret, created on first use (mode 0600)."""
    path = data_dir / "secret.key"
    try:
        value = path.read_bytes()
        if len(value) >= 32:
            return value
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    os.replace(tmp, path)
    return value


def _signature(secret: bytes, scope: str, expiry: int) -> str:
    mac = hmac.new(secret, f"{scope}\n{expiry}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def sign(secret: bytes, scope: str, ttl_s: float, *, now: float | None = None) -> str:
    expiry = int((time.time() if now is None else now) + ttl_s)
    return f"{expiry}.{_signature(secret, scope, expiry)}"


def verify(secret: bytes, scope: str, token: str | None, *, now: float | None = None) -> None:
    """Raise TokenError unless ``token`` was signed for ``scope`` and has not expired."""
    if not token:
        raise TokenError("this stream link has no token")
    expiry_text, _, signature = token.partition(".")
    if not expiry_text.isdigit() or len(expiry_text) > 12 or not signature:
        raise TokenError("this stream link's token is malformed")
    expiry = int(expiry_text)
    if not same_secret(signature, _signature(secret, scope, expiry)):
        raise TokenError("this stream link's token is not valid for this stream")
    if expiry < (time.time() if now is None else now):
        raise TokenError("this stream link has expired; reload the player")
