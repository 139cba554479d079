"""Signatures of our webhooks, the Standard Webhooks way (https://www.standardwebhooks.com).

Each signed request carries three headers::

    webhook-id         the message's id: its Idempotency-Key, the same on every retry
    webhook-timestamp  when this attempt was sent, in Unix seconds
    webhook-signature  "v1," + base64(HMAC-SHA256(key, f"{id}.{timestamp}." + body))

The id, the time and the exact body are signed together: a receiver can tell
the body is ours and unchanged, refuses a captured request replayed later by its
timestamp, and a replay under a new id (to get past its de-duplication) no
longer matches the signature.

The key is the secret as the standard writes it, ``whsec_`` and the key's bytes
in base64, or else any other string, whose UTF-8 bytes are the key. A receiver
may use the ``standardwebhooks`` package: ``Webhook(secret)`` for the first
form, ``Webhook(secret.encode())`` for the second; or ``verify`` here.

Until the next release the old header is sent as well (``HEADER``,
``X-Voicebot-Signature: t=<unix>,v1=<hex HMAC-SHA256 of f"{t}." + body>``, keyed
with the secret's UTF-8 bytes), and ``verify`` still checks its value when given
that string instead of the headers. It signs no id, so it cannot tell a replay
under a new idempotency key: move to the headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
HEADER = "X-Voicebot-Signature"  # the old scheme; deprecated, removed in the next release
TOLERANCE_S = 300
SECRET_PREFIX = "whsec_"


def signing_key(secret: str) -> bytes:
    """The HMAC key: ``whsec_<base64>`` decoded, as the standard says; else the UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        try:
            key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if key:
            return key
    return secret.encode()


def _signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _legacy_digest(secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, msg_id: str, timestamp: int) -> dict[str, str]:
    """The headers that sign ``body`` as message ``msg_id``, sent at ``timestamp`` (Unix s).

    The old ``X-Voicebot-Signature`` is among them until the next release.
    """
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: "v1," + _signature(signing_key(secret), msg_id, timestamp, body),
        HEADER: f"t={timestamp},v1={_legacy_digest(secret, body, timestamp)}",
    }


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str] | str,
    now: float,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """Whether ``headers`` sign ``body`` with ``secret``, sent within ``tolerance_s`` of ``now``.

    ``headers`` are the request's (any case); given a string instead, it is the
    old ``X-Voicebot-Signature`` value, checked the old way (deprecated).
    Several signatures may be given (a sender rotating secrets signs with both):
    one match suffices. Never raises on malformed input: it is simply not valid.
    """
    if not secret:
        return False
    if isinstance(headers, str):
        return _verify_legacy(secret, body, headers, now, tolerance_s)
    given = {name.lower(): value for name, value in headers.items()}
    msg_id = given.get(ID_HEADER, "")
    timestamp = _unix(given.get(TIMESTAMP_HEADER, ""))
    if not msg_id or timestamp is None or abs(now - timestamp) > tolerance_s:
        return False
    expected = _signature(signing_key(secret), msg_id, timestamp, body)
    candidates = [
        value
        for version, _, value in (s.partition(",") for s in given.get(SIGNATURE_HEADER, "").split())
        if version == "v1"
    ]
    return _any_equal(candidates, expected)


def _verify_legacy(secret: str, body: bytes, header: str, now: float, tolerance_s: float) -> bool:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = _unix(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_s:
        return False
    return _any_equal(candidates, _legacy_digest(secret, body, timestamp))


def _unix(value: str) -> int | None:
    """Unix seconds written as ASCII digits, else None (no sign, no fraction, no "²")."""
    return int(value) if value.isascii() and value.isdigit() else None


def _any_equal(candidates: list[str], expected: str) -> bool:
    """Whether any candidate equals ``expected``; every one compared in constant time."""
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode(), expected.encode())
    return matched
