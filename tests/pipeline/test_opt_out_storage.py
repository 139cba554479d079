"""An opt-out heard on a call lands where the dialing gate reads it, scoped or not."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from voicebot.calls.context import CallContext, Customer
from voicebot.config import Settings
from voicebot.consent.registry import consent_facts
from voicebot.pipeline.call import _store_opt_out
from voicebot.pipeline.session import CallSession
from voicebot.services import Services


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    services = Services.create(settings)
    services.db.create_tables()
    yield services
    await services.close()


def session_saying(scope: str) -> CallSession:
    phone = f"+1415{secrets.randbelow(10**7):07d}"
    context = CallContext(
        purpose="feedback", customer=Customer(first_name="Ada", phone=phone), case_id="case_1"
    )
    session = CallSession(call_id="call_x", call_sid="CAx", stream_sid="MZx", context=context)
    session.fields["opt_out_scope"] = scope
    return session


async def test_no_more_surveys_withdraws_feedback_calls_only(services: Services) -> None:
    session = session_saying("feedback")
    await _store_opt_out(session, services)
    phone, now = session.context.customer.phone, datetime.now(UTC)
    assert consent_facts(services.db, phone, "feedback", now).purpose_revoked
    assert not consent_facts(services.db, phone, "transaction_confirmation", now).purpose_revoked
    assert not consent_facts(services.db, phone, "feedback", now).opted_out


async def test_stop_calling_me_stops_every_purpose(services: Services) -> None:
    session = session_saying("all")
    await _store_opt_out(session, services)
    phone, now = session.context.customer.phone, datetime.now(UTC)
    for purpose in ("feedback", "transaction_confirmation"):
        assert consent_facts(services.db, phone, purpose, now).opted_out
