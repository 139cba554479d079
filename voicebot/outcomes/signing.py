"""Signatures of outcome webhooks: ``X-Voicebot-Signature: t=<unix>,v1=<hex>``.

The HMAC-SHA256 covers the timestamp and the exact body (``f"{t}.".encode() + body``),
so a receiver can tell the body is ours and unchanged, and by refusing old
timestamps it refuses replays of a captured request.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Voicebot-Signature"
TOLERANCE_S = 300


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The header value for this body, sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(
    secret: str, body: bytes, header: str, now: float, tolerance_s: float = TOLERANCE_S
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``.

    Several ``v1`` entries are allowed (a sender rotating secrets may send two);
    one match suffices. Never raises on a malformed header: it is simply not valid.
    """
    if not secret:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance_s:
        return False
    expected = _digest(secret, body, timestamp)
    # No early exit: every candidate is compared in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode(), expected.encode())
    return matched
