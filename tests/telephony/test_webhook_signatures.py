"""Every Twilio webhook is checked against the configured public URL; fail closed."""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.conftest import PUBLIC_URL
from voicebot.config import Settings

PARAMS = {
    "AccountSid": "AC0123",
    "CallSid": "CAunknown0001",
    "CallStatus": "ringing",
    "SequenceNumber": "1",
}


def twilio_signature(token: SecretStr, url: str, params: dict[str, str]) -> str:
    """Twilio's algorithm, written out here so the test does not trust our own code."""
    payload = url + "".join(k + params[k] for k in sorted(params))
    key = token.get_secret_value().encode()
    digest = hmac.new(key, payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def post(
    client: TestClient, path: str, params: dict[str, str], signature: str | None, **kwargs: object
) -> int:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    headers |= kwargs.pop("headers", {})  # type: ignore[arg-type]
    return client.post(path, data=params, headers=headers, **kwargs).status_code  # type: ignore[arg-type]


def test_valid_signature_passes(client: TestClient, settings: Settings) -> None:
    sig = twilio_signature(settings.twilio_auth_token, f"{PUBLIC_URL}/twilio/status", PARAMS)
    assert post(client, "/twilio/status", PARAMS, sig) == 204


def test_tampered_parameter_fails(client: TestClient, settings: Settings) -> None:
    sig = twilio_signature(settings.twilio_auth_token, f"{PUBLIC_URL}/twilio/status", PARAMS)
    assert post(client, "/twilio/status", {**PARAMS, "CallStatus": "completed"}, sig) == 403


def test_signature_for_another_url_fails(client: TestClient, settings: Settings) -> None:
    sig = twilio_signature(settings.twilio_auth_token, "https://evil.example/twilio/status", PARAMS)
    assert post(client, "/twilio/status", PARAMS, sig) == 403


def test_http_instead_of_https_fails(client: TestClient, settings: Settings) -> None:
    http_url = PUBLIC_URL.replace("https://", "http://") + "/twilio/status"
    sig = twilio_signature(settings.twilio_auth_token, http_url, PARAMS)
    assert post(client, "/twilio/status", PARAMS, sig) == 403


def test_missing_header_fails(client: TestClient) -> None:
    assert post(client, "/twilio/status", PARAMS, None) == 403


def test_wrong_token_fails(client: TestClient) -> None:
    sig = twilio_signature(SecretStr("not-the-token"), f"{PUBLIC_URL}/twilio/status", PARAMS)
    assert post(client, "/twilio/status", PARAMS, sig) == 403


def test_query_string_is_signed(client: TestClient, settings: Settings) -> None:
    signed = f"{PUBLIC_URL}/twilio/voice?call_id=call_a"
    sig = twilio_signature(settings.twilio_auth_token, signed, PARAMS)
    assert post(client, "/twilio/voice?call_id=call_a", PARAMS, sig) == 200
    assert post(client, "/twilio/voice?call_id=call_b", PARAMS, sig) == 403


def test_behind_a_proxy_validates_against_public_url(
    client: TestClient, settings: Settings
) -> None:
    """The proxy talks plain HTTP to us on an internal host and says X-Forwarded-Proto: https."""
    internal = "http://10.0.0.7:8000"
    proxy_headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "voice.example.test"}
    good = twilio_signature(settings.twilio_auth_token, f"{PUBLIC_URL}/twilio/status", PARAMS)
    seen_by_server = twilio_signature(
        settings.twilio_auth_token, f"{internal}/twilio/status", PARAMS
    )
    url = f"{internal}/twilio/status"
    assert post(client, url, PARAMS, good, headers=proxy_headers) == 204
    assert post(client, url, PARAMS, seen_by_server, headers=proxy_headers) == 403


def test_unknown_call_is_hung_up(client: TestClient, settings: Settings) -> None:
    url = f"{PUBLIC_URL}/twilio/voice?call_id=call_nobody"
    sig = twilio_signature(settings.twilio_auth_token, url, PARAMS)
    response = client.post(
        "/twilio/voice?call_id=call_nobody", data=PARAMS, headers={"X-Twilio-Signature": sig}
    )
    assert response.status_code == 200
    assert "<Hangup" in response.text and "<Stream" not in response.text
