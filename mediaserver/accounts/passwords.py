"""Password hashing (argon2id, argon2-cffi) and the rules a new password must meet.

A password is refused when it is shorter than ``MIN_LENGTH`` or when zxcvbn, which knows
the common-password lists and keyboard walks, rates it weak ("password123", "qwertyuiop");
the refusal says why, with zxcvbn's advice.

zxcvbn refuses more than 72 characters (its matching grows steeply with length), but a long
passphrase is welcome up to ``MAX_LENGTH``: it is judged in pieces of 72, and is as strong
as its strongest piece (the rest can only add to it).  The whole password is hashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import argon2

__all__ = [
    "MIN_LENGTH",
    "WeakPassword",
    "check_strength",
    "hash_password",
    "needs_rehash",
    "verify",
]

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a megabyte "password" is just a slow request
_CHECKED_LENGTH = 72  # what zxcvbn accepts at a time (it raises ValueError beyond)
_hasher = argon2.PasswordHasher()  # RFC 9106 "low memory" profile: 64 MiB, t=3, p=4
# Verifying against this costs what verifying a real hash costs, so a login for a name
# that does not exist takes as long as one for a name that does.
_DUMMY = _hasher.hash("no such user, but the same work")


class WeakPassword(ValueError):
    """The password is refused; the message says why, in words a person understands."""


def check_strength(password: str, *, context: Sequence[str] = ()) -> None:
    """Raise WeakPassword unless ``password`` is long and not guessable (``context``: the
    user's name and the like, which must not make up the password)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"the password must be at most {MAX_LENGTH} characters long")
    inputs = [c for c in context if c]
    for start in range(0, len(password), _CHECKED_LENGTH):
        verdict = zxcvbn(password[start : start + _CHECKED_LENGTH], user_inputs=inputs)
        if verdict["score"] >= 3:  # one strong piece settles it
            return
    feedback = verdict["feedback"]  # every piece is weak: the advice for the last one
    reason = feedback.get("warning") or "it is too easy to guess"
    advice = " ".join(feedback.get("suggestions") or [])
    raise WeakPassword(f"the password is too weak: {reason.rstrip('.')}. {advice}".strip())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; None (no such user) costs the same time."""
    try:
        return _hasher.verify(stored or _DUMMY, password[:MAX_LENGTH]) and stored is not None
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """The hash was made with weaker parameters than today's: store a new one at login."""
    return _hasher.check_needs_rehash(stored)


def zxcvbn(password: str, user_inputs: Sequence[str]) -> dict[str, Any]:
    """zxcvbn's verdict.  Its word lists take 12 MB: they load with the first password
    checked, not in every server that never sees one."""
    from zxcvbn import zxcvbn as judge  # type: ignore[import-untyped]

    verdict: dict[str, Any] = judge(password, user_inputs=user_inputs)
    return verdict
