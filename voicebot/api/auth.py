"""API keys and roles: one key per client, configured only as SHA-256 hashes.

Keys are random (``new_api_key``: 256 bits), so a fast hash is enough; what the
configuration leaks is never a usable key. Every configured hash is compared in
constant time, and all of them every time, so timing tells nothing about which
client (or how much of a hash) matched.

Each client has roles (``Settings.roles_of``): the wallet's ``backend`` asks for
calls and records consent; a ``supervisor`` watches calls live and reads them
whole; the ``product`` team reviews transcripts and feedback with phone numbers
masked. A valid key without the role a route needs gets 403, not 401.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from voicebot.config import Role, Settings
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


@dataclass(frozen=True)
class Principal:
    """Who is calling the API, and what they may do."""

    client: str
    roles: frozenset[Role]


def authenticate(settings: Settings, authorization: str | None) -> Principal:
    """The principal behind an ``Authorization`` header's value; 401 if there is none.

    Shared by HTTP routes and WebSockets, which have no ``HTTPBearer``.
    """
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized(
            "missing API key: send the header 'Authorization: Bearer <key>'", 'Bearer realm="v1"'
        )
    client = client_for_key(settings.api_keys, key.strip())
    if client is None:
        raise _unauthorized("invalid API key", 'Bearer realm="v1", error="invalid_token"')
    return Principal(client=client, roles=settings.roles_of(client))


def authorize(principal: Principal, allowed: tuple[Role, ...]) -> Principal:
    """``principal`` if it holds one of ``allowed``; 403 saying which roles would do."""
    if principal.roles.isdisjoint(allowed):
        have = ", ".join(sorted(principal.roles))
        need = " or ".join(allowed)
        raise HTTPException(
            status_code=403, detail=f"this key's roles ({have}) do not include {need}"
        )
    return principal


def requires(*allowed: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the authenticated principal, if it holds one of ``allowed``."""

    async def dependency(
        services: ServicesDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        header = f"Bearer {credentials.credentials}" if credentials else None
        return authorize(authenticate(services.settings, header), allowed)

    return dependency


async def api_client(principal: Annotated[Principal, Depends(requires("backend"))]) -> str:
    """The calling backend client's name: callbacks and consent are scoped by it."""
    return principal.client


ApiClient = Annotated[str, Depends(api_client)]
Reviewer = Annotated[Principal, Depends(requires("supervisor", "product"))]
Supervisor = Annotated[Principal, Depends(requires("supervisor"))]
