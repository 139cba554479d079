"""POST /twilio/sms through the real app: a signed STOP opts the sender out, a forged one not."""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from tests.telephony.helpers import services_of, signed_post
from voicebot.consent.sms import is_stop_request
from voicebot.records.opt_outs import is_opted_out
from voicebot.telephony.signatures import sign

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def new_phone() -> str:
    """A number no earlier run has used (the test database keeps its rows)."""
    return f"+1{secrets.randbelow(10**10):010d}"


def text(client: TestClient, sender: str, body: str) -> object:
    params = {"MessageSid": "SM" + secrets.token_hex(16), "From": sender, "Body": body}
    return signed_post(client, "/twilio/sms", params)


def opted_out(client: TestClient, phone: str) -> bool:
    return is_opted_out(services_of(client).db, phone)


@pytest.mark.parametrize(
    "body", ["STOP", " stop ", "StopAll", "unsubscribe", "CANCEL\n", "End", "quit"]
)
def test_a_stop_word_opts_the_sender_out(client: TestClient, body: str) -> None:
    phone = new_phone()
    response = text(client, phone, body)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.text == EMPTY_TWIML  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/xml")  # type: ignore[attr-defined]
    assert opted_out(client, phone)


@pytest.mark.parametrize("body", ["Hello", "stop calling at 5", "STOP!", "", "S T O P"])
def test_other_texts_change_nothing(client: TestClient, body: str) -> None:
    phone = new_phone()
    response = text(client, phone, body)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.text == EMPTY_TWIML  # type: ignore[attr-defined]
    assert not opted_out(client, phone)


def test_a_stop_twice_is_fine(client: TestClient) -> None:
    phone = new_phone()
    for _ in range(2):
        assert text(client, phone, "STOP").status_code == 200  # type: ignore[attr-defined]
    assert opted_out(client, phone)


def test_a_stop_from_a_short_code_is_answered_and_not_stored(client: TestClient) -> None:
    response = text(client, "12345", "STOP")
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.text == EMPTY_TWIML  # type: ignore[attr-defined]


def test_a_forged_signature_is_403_and_stores_nothing(client: TestClient) -> None:
    phone = new_phone()
    params = {"From": phone, "Body": "STOP"}
    forged = sign("not-the-auth-token", "https://voice.example.test/twilio/sms", params)
    response = client.post("/twilio/sms", data=params, headers={"X-Twilio-Signature": forged})
    assert response.status_code == 403
    assert client.post("/twilio/sms", data=params).status_code == 403  # no signature at all
    assert not opted_out(client, phone)


def test_a_signature_for_another_sender_is_403(client: TestClient) -> None:
    """Signed for one number, sent for another: someone cannot opt out a stranger."""
    mine, victim = new_phone(), new_phone()
    token = services_of(client).settings.twilio_auth_token
    url = "https://voice.example.test/twilio/sms"
    signature = sign(token, url, {"From": mine, "Body": "STOP"})
    response = client.post(
        "/twilio/sms",
        data={"From": victim, "Body": "STOP"},
        headers={"X-Twilio-Signature": signature},
    )
    assert response.status_code == 403
    assert not opted_out(client, victim) and not opted_out(client, mine)


def test_stop_words() -> None:
    assert is_stop_request("  sToP\t")
    assert not is_stop_request("please stop")
