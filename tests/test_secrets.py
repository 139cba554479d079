"""No repr, log line or error page prints a secret from the settings.

Every secret gets a known value; whatever the process shows of itself (the
settings' repr and JSON, a refused setting, the 500 of a request that fails on
a database whose URL holds a password, the log of that failure, /readyz) must
not contain any of them.
"""

from __future__ import annotations

import io
import logging
import secrets
import sys
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from loguru import logger
from pydantic import SecretStr

from tests.conftest import PUBLIC_URL, SUPERVISOR_KEY
from tests.outcomes.helpers import unused_url
from voicebot.app import create_app
from voicebot.config import SECRETS, Settings, get_settings
from voicebot.errors import ConfigError
from voicebot.logs import configure_logging

TOKEN = "tw-" + secrets.token_hex(8)
WEBHOOK = "whsec_" + secrets.token_hex(8)
LLM_KEY = "sk-" + secrets.token_hex(8)
METRICS = "mt-" + secrets.token_hex(8)
DB_PASSWORD = "dbpw-" + secrets.token_hex(8)
REDIS_PASSWORD = "rdpw-" + secrets.token_hex(8)
KNOWN = (TOKEN, WEBHOOK, LLM_KEY, METRICS, DB_PASSWORD, REDIS_PASSWORD)


def _port() -> int:
    return int(unused_url().split(":")[2].split("/")[0])


def secret_settings(settings: Settings) -> Settings:
    """The session's settings with every secret known, Redis and SQL on closed ports."""
    return Settings(
        **{
            **{k: v for k, v in settings.model_dump().items() if k not in SECRETS},
            "twilio_auth_token": TOKEN,
            "outcome_webhook_secret": WEBHOOK,
            "outcome_webhook_url": "",
            "llm_api_key": LLM_KEY,
            "metrics_token": METRICS,
            "database_url": f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:{_port()}/test",
            "redis_url": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{_port()}/0",
        }
    )


def assert_no_secret(text: str) -> None:
    leaked = [s for s in KNOWN if s in text]
    assert not leaked, f"secrets shown: {leaked}"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Text logs, as a server writes them, into a buffer; loguru's default after."""
    stream = io.StringIO()
    configure_logging(level="DEBUG", log_format="text", stream=stream)
    yield stream
    logger.remove()
    logger.add(sys.stderr)
    logging.basicConfig(handlers=[], level=logging.WARNING, force=True)


def test_the_secrets_are_every_setting_that_carries_a_credential() -> None:
    """The API key hashes and webhook URLs are not secrets (see voicebot/config.py)."""
    assert {
        "twilio_auth_token",
        "outcome_webhook_secret",
        "llm_api_key",
        "metrics_token",
        "database_url",
        "redis_url",
    } == SECRETS


def test_repr_str_and_json_of_the_settings_show_no_secret(settings: Settings) -> None:
    s = secret_settings(settings)
    for shown in (repr(s), str(s), f"{s}", s.model_dump_json(), repr(s.model_dump())):
        assert_no_secret(shown)
    # Where they are used, they are whole.
    assert s.twilio_auth_token.get_secret_value() == TOKEN
    assert DB_PASSWORD in s.database_url.get_secret_value()


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{DB_PASSWORD}@db/v")
    monkeypatch.setenv("VOICEBOT_METRICS_TOKEN", METRICS)
    s = Settings()
    assert s.twilio_auth_token.get_secret_value() == TOKEN
    assert s.database_url.get_secret_value() == f"postgresql://u:{DB_PASSWORD}@db/v"
    assert s.metrics_token.get_secret_value() == METRICS
    assert_no_secret(repr(s))


def test_a_derived_copy_keeps_its_secrets_secret(settings: Settings) -> None:
    """``model_copy`` does not validate: a plain string given for a secret is wrapped."""
    copy = settings.model_copy(update={"database_url": f"sqlite:///{DB_PASSWORD}.db"})
    assert isinstance(copy.database_url, SecretStr)
    assert_no_secret(repr(copy))


def test_a_refused_setting_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret pasted into the wrong variable must not end up in the start-up error."""
    monkeypatch.setenv("VOICEBOT_MAX_CALLS_PER_DAY", TOKEN)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as refused:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert "max_calls_per_day" in str(refused.value)
    assert_no_secret(str(refused.value))


def test_a_failing_request_shows_no_secret_in_its_page_or_its_log(
    settings: Settings, log_lines: io.StringIO
) -> None:
    """SQL is unreachable (a closed port) with a password in DATABASE_URL: a 500."""
    app = create_app(secret_settings(settings), preload_models=False)
    headers = {"Authorization": f"Bearer {SUPERVISOR_KEY}"}
    # No lifespan (it would fail at once): the request is the first to reach for SQL.
    page = TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False).get(
        "/v1/calls", headers=headers
    )
    assert page.status_code == 500
    assert_no_secret(page.text)

    # The same failure logged with its traceback, through loguru and the standard
    # library, as a server logs an exception in the app: the driver's frames hold
    # the connection string in their locals, which loguru would print by default.
    with pytest.raises(Exception) as failed:
        TestClient(app, base_url=PUBLIC_URL).get("/v1/calls", headers=headers)
    logger.opt(exception=failed.value).error("request failed")
    logging.getLogger("some.server").error("Exception in ASGI application", exc_info=failed.value)
    logged = log_lines.getvalue()
    assert "request failed" in logged and "Exception in ASGI application" in logged
    assert logged.count("Traceback") >= 2 and "OperationalError" in logged
    assert_no_secret(logged)


def test_the_probes_and_metrics_show_no_secret(settings: Settings) -> None:
    app = create_app(secret_settings(settings), preload_models=False)
    client = TestClient(app, base_url=PUBLIC_URL)  # no lifespan: Redis and SQL unreachable
    ready = client.get("/readyz")
    assert ready.status_code == 503
    metrics = client.get("/metrics")
    assert metrics.status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert wrong.status_code == 401
    for response in (ready, metrics, wrong):
        assert_no_secret(response.text)
