"""Two-factor sign-in with time-based codes (TOTP, RFC 6238, via pyotp) and recovery codes.

Enrolling makes a secret and shows it as an ``otpauth://`` link and a QR code (segno, SVG);
it takes effect only when the first code from the authenticator app confirms it, and then
ten one-time recovery codes are shown, once.  A code is accepted one step early or late
(clock drift) and only once: the last step used is remembered, so a code seen over a
shoulder cannot be replayed.  Recovery codes are stored as HMACs with the server secret;
the secrets themselves sealed with the key beside the catalog (``db/sealing.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
import time
from typing import Any

import pyotp
import segno

from mediaserver.constant_time import same_secret
from mediaserver.db import Database
from mediaserver.db.sealing import Sealer, check_catalog, load_sealer

__all__ = ["RECOVERY_CODES", "TwoFactor"]

RECOVERY_CODES = 10
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are typed from paper


class TwoFactor:
    def __init__(self, db: Database, secret: bytes, *, issuer: str = "Hearth") -> None:
        self.db = db
        self.secret = secret
        self.issuer = issuer
        self._sealer: Sealer | None = None

    @property
    def sealer(self) -> Sealer:
        """The key in ``totp.key`` beside the catalog (see :meth:`check_key`)."""
        return self._sealer or self.check_key()

    def check_key(self) -> Sealer:
        """SealingError, saying what to do, unless the key opens every sealed secret; made
        now when the catalog has none, so that a missing key later means a lost one."""
        check_catalog(self.db.path)
        self._sealer = load_sealer(self.db.path.parent)
        return self._sealer

    def enabled(self, user_id: int) -> bool:
        row = self.db.query_one("SELECT totp_secret FROM users WHERE id = ?", [user_id])
        return bool(row and row["totp_secret"])

    def enrol(self, user_id: int, name: str) -> dict[str, str]:
        """A new pending secret: the link and QR code for the authenticator app."""
        key = pyotp.random_base32()
        self.db.write(
            lambda db: db.execute(
                "UPDATE users SET totp_pending = ? WHERE id = ?", [self.sealer.seal(key), user_id]
            )
        )
        uri = pyotp.TOTP(key).provisioning_uri(name=name, issuer_name=self.issuer)
        return {"secret": key, "otpauth_uri": uri, "qr_svg": _qr_svg(uri)}

    def pending_secret(self, user_id: int) -> str | None:
        """The secret being enrolled (until its first code confirms it)."""
        row = self.db.query_one("SELECT totp_pending FROM users WHERE id = ?", [user_id])
        return self.sealer.open(row["totp_pending"]) if row and row["totp_pending"] else None

    def pending_qr(self, user_id: int, name: str) -> str | None:
        """The QR code (SVG) of the secret being enrolled, for the profile page's <img>."""
        secret = self.pending_secret(user_id)
        if secret is None:
            return None
        return _qr_svg(pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=self.issuer))

    def confirm(self, user_id: int, code: str) -> list[str] | None:
        """Turn two-factor on if ``code`` matches the pending secret; the recovery codes."""
        pending = self.pending_secret(user_id)
        step = self._matching_step(pending, code, after=0) if pending else None
        if step is None:
            return None
        codes = ["-".join(_random_code(4) for _ in range(2)) for _ in range(RECOVERY_CODES)]
        hashes = [self._hash(c) for c in codes]

        def enable(db: Any) -> None:
            db.execute(
                "UPDATE users SET totp_secret = totp_pending, totp_pending = NULL, "
                "totp_last_step = ? WHERE id = ?",
                [step, user_id],
            )
            db.execute("DELETE FROM recovery_codes WHERE user_id = ?", [user_id])
            db["recovery_codes"].insert_all({"user_id": user_id, "code_hash": h} for h in hashes)

        self.db.write(enable)
        return codes

    def disable(self, user_id: int) -> None:
        def off(db: Any) -> None:
            db.execute(
                "UPDATE users SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0 "
                "WHERE id = ?",
                [user_id],
            )
            db.execute("DELETE FROM recovery_codes WHERE user_id = ?", [user_id])

        self.db.write(off)

    def check(self, user_id: int, code: str) -> bool:
        """A current code not used before, or an unused recovery code (then spent)."""
        row = self.db.query_one(
            "SELECT totp_secret, totp_last_step FROM users WHERE id = ?", [user_id]
        )
        if row is None or not row["totp_secret"]:
            return False
        code = code.strip().replace(" ", "")
        if code.isdigit() and len(code) == 6:
            secret = self.sealer.open(row["totp_secret"])
            step = self._matching_step(secret, code, after=int(row["totp_last_step"]))
            if step is None:
                return False
            self.db.write(
                lambda db: db.execute(
                    "UPDATE users SET totp_last_step = ? WHERE id = ?", [step, user_id]
                )
            )
            return True
        digest = self._hash(code)

        def spend(db: Any) -> int:
            return int(
                db.execute(
                    "UPDATE recovery_codes SET used_at = strftime('%Y-%m-%dT%H:%M:%fZ') "
                    "WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
                    [user_id, digest],
                ).rowcount
            )

        return bool(self.db.write(spend))

    def recovery_left(self, user_id: int) -> int:
        row = self.db.query_one(
            "SELECT count(*) AS n FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
            [user_id],
        )
        return int(row["n"]) if row else 0

    def _matching_step(self, key: str, code: str, *, after: int) -> int | None:
        totp = pyotp.TOTP(key)
        now = totp.timecode(time.time())
        for step in (now - 1, now, now + 1):
            if step > after and same_secret(totp.generate_otp(step), code):
                return step
        return None

    def _hash(self, code: str) -> bytes:
        normal = code.strip().upper().replace("-", "").replace(" ", "")
        return hmac.new(
            self.secret, f"recovery\n{normal}".encode("utf-8", "surrogatepass"), hashlib.sha256
        ).digest()


def _qr_svg(uri: str) -> str:
    svg = io.BytesIO()
    segno.make(uri, error="m").save(svg, kind="svg", scale=4, border=2)
    return svg.getvalue().decode()


def _random_code(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
