"""Outbox fixtures: tables of their own in the real PostgreSQL, and a real receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.outcomes.helpers import Receiver, isolated_schema
from voicebot.config import Settings
from voicebot.records.db import Database

SECRET = "whsec_test_only"


@pytest.fixture
def db_url(settings: Settings) -> Iterator[str]:
    with isolated_schema(settings.database_url) as url:
        yield url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.create_tables()
    yield database
    database.engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def outcome_settings(settings: Settings, receiver: Receiver) -> Settings:
    """Short timeouts and backoff, so retries happen within a test."""
    return settings.model_copy(
        update={
            "outcome_webhook_url": receiver.url,
            "outcome_webhook_secret": SECRET,
            "outcome_webhook_timeout_s": 2.0,
            "outcome_retry_max_s": 0.2,
            "outcome_poll_s": 60.0,
        }
    )
