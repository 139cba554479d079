"""Helpers for driving the real app as Twilio would, from synchronous tests."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.conftest import PUBLIC_URL
from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.calls.outbound import prepare_call
from voicebot.services import Services
from voicebot.telephony.signatures import sign


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def register_call(client: TestClient) -> str:
    """A call about to be dialed, registered through the real store and database."""
    services = services_of(client)
    context = CallContext(
        purpose="transaction_confirmation",
        customer=Customer(first_name="Alice", phone="+14155550100", timezone="America/Los_Angeles"),
        transaction=Transaction(id="tx_1", amount="12.00", merchant="Cafe", time=datetime.now(UTC)),
    )
    return str(client.portal.call(prepare_call, services.store, services.db, context))  # type: ignore[union-attr]


def signed_post(client: TestClient, path: str, params: dict[str, str]) -> object:
    token = services_of(client).settings.twilio_auth_token
    signature = sign(token, PUBLIC_URL + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)
