"""Comparing secrets in constant time, whatever text a client sends.

``hmac.compare_digest`` raises TypeError for a ``str`` with a character outside ASCII, so
a two-factor code typed as "١٢٣٤٥٦" or a token with an "é" in it was a 500.  Comparing
the UTF-8 bytes instead keeps the constant time and makes such input merely wrong.
"""

from __future__ import annotations

import hmac

__all__ = ["same_secret"]


def same_secret(given: str | bytes, wanted: str | bytes) -> bool:
    """Whether ``given`` equals ``wanted``, in time that does not depend on where they differ."""
    return hmac.compare_digest(_bytes(given), _bytes(wanted))


def _bytes(text: str | bytes) -> bytes:
    # surrogatepass: a lone surrogate (from "\udc80" in JSON) is bytes too, never an error
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
