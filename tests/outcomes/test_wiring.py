"""Configuration checks, and the app path: lifespan starts the dispatcher, hang-up nudges it."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PUBLIC_URL
from tests.outcomes.helpers import Receiver, new_call
from voicebot.app import create_app
from voicebot.config import Settings
from voicebot.errors import ConfigError
from voicebot.services import Services


def production(url: str = "", secret: str = "") -> Settings:
    return Settings(
        env="production",
        twilio_auth_token="t",
        public_base_url="https://v.example",
        outcome_webhook_url=url,
        outcome_webhook_secret=secret,
    )


def test_production_refuses_a_webhook_url_without_a_secret() -> None:
    with pytest.raises(ConfigError, match="OUTCOME_WEBHOOK_SECRET"):
        production("https://wallet.example/outcomes")


def test_production_refuses_a_plain_http_webhook_url() -> None:
    with pytest.raises(ConfigError, match="https"):
        production("http://wallet.example/outcomes", secret="s")


def test_production_accepts_https_with_a_secret_and_no_webhook_at_all() -> None:
    secret = production("https://w.example/o", secret="s").outcome_webhook_secret
    assert secret.get_secret_value() == "s"
    assert production().outcome_webhook_url == ""


def test_development_allows_a_loopback_receiver_without_a_secret() -> None:
    unsigned = Settings(outcome_webhook_url="http://127.0.0.1:9/o")
    assert unsigned.outcome_webhook_secret.get_secret_value() == ""


def test_the_webhook_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEBOT_OUTCOME_WEBHOOK_URL", "http://127.0.0.1:9/o")
    monkeypatch.setenv("VOICEBOT_OUTCOME_RETRY_MAX_S", "30")
    s = Settings()
    assert (s.outcome_webhook_url, s.outcome_retry_max_s) == ("http://127.0.0.1:9/o", 30.0)


def test_no_dispatcher_without_a_url(settings: Settings) -> None:
    off = settings.model_copy(update={"outcome_webhook_url": ""})
    assert Services.create(off).outcomes is None


def test_a_finished_call_reaches_the_receiver_through_the_app(
    db_url: str, receiver: Receiver, outcome_settings: Settings
) -> None:
    """The lifespan starts the dispatcher; _store_record queues the outcome and nudges it."""
    from voicebot.calls.context import CallContext, Customer
    from voicebot.pipeline.call import _store_record
    from voicebot.pipeline.session import CallSession

    app_settings = outcome_settings.model_copy(update={"database_url": db_url})
    app = create_app(app_settings, preload_models=False)
    services: Services = app.state.services
    assert services.outcomes is not None
    with TestClient(app, base_url=PUBLIC_URL) as client:
        call_id, call_sid = new_call(services.db)
        session = CallSession(
            call_id=call_id,
            call_sid=call_sid,
            stream_sid="MZ0",
            context=CallContext(
                purpose="transaction_confirmation",
                customer=Customer(first_name="Alice", phone="+14155550100"),
            ),
            outcome="confirmed",
            failure=None,
        )
        client.portal.call(_store_record, session, services)  # type: ignore[union-attr]
        deadline = time.monotonic() + 5  # the poll is 60 s: only the nudge can be this quick
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["idempotency-key"] == f"call-outcome:{call_id}"
    assert services.outcomes._task is None  # stopped with the app
