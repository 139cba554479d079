"""Twilio webhook signatures, checked against the configured public URL.

Twilio signs the URL it called plus the POST parameters. Behind a proxy or a
tunnel the Host header and scheme we see are not what Twilio used, so the URL
is rebuilt from PUBLIC_BASE_URL and the request path, never from headers
(X-Forwarded-Proto included). Any mismatch is a 403: fail closed.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr
from starlette.requests import Request
from twilio.request_validator import RequestValidator

from voicebot.config import reveal
from voicebot.errors import SignatureError


def public_url(public_base_url: str, request: Request) -> str:
    """The URL Twilio called: our public base, the path and the query string."""
    url = public_base_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    return url


def check_signature(
    auth_token: SecretStr | str, url: str, params: Mapping[str, str], signature: str | None
) -> None:
    """Raise ``SignatureError`` unless ``signature`` is Twilio's for this request."""
    if not signature:
        raise SignatureError("missing X-Twilio-Signature")
    if not RequestValidator(reveal(auth_token)).validate(url, dict(params), signature):
        raise SignatureError("X-Twilio-Signature does not match")


def sign(auth_token: SecretStr | str, url: str, params: Mapping[str, str]) -> str:
    """Compute the signature Twilio would send (used by the phone simulator)."""
    return str(RequestValidator(reveal(auth_token)).compute_signature(url, dict(params)))
