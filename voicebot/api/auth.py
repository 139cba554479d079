"""API keys for the callbacks API: one per client, configured only as SHA-256 hashes.

Keys are random (``new_api_key``: 256 bits), so a fast hash is enough; what the
configuration leaks is never a usable key. Every configured hash is compared in
constant time, and all of them every time, so timing tells nothing about which
client (or how much of a hash) matched.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voicebot.deps import ServicesDep

KEY_PREFIX = "vbk_"

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="`Authorization: Bearer <key>`; one key per client (see `voicebot api-key`).",
)


def hash_key(key: str) -> str:
    """What the configuration stores for a key (VOICEBOT_API_KEYS)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def client_for_key(api_keys: dict[str, str], key: str) -> str | None:
    """The client whose key this is, or None."""
    digest = hash_key(key)
    found: str | None = None
    for client, expected in api_keys.items():
        if hmac.compare_digest(digest, expected):
            found = client
    return found


def _unauthorized(detail: str, header: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": header})


async def api_client(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The calling client's name; 401 without a valid key (always, when none is configured)."""
    if credentials is None:
        raise _unauthorized(
            "missing API key: send the header 'Authorization: Bearer <key>'", 'Bearer realm="v1"'
        )
    client = client_for_key(services.settings.api_keys, credentials.credentials)
    if client is None:
        raise _unauthorized("invalid API key", 'Bearer realm="v1", error="invalid_token"')
    return client


ApiClient = Annotated[str, Depends(api_client)]
