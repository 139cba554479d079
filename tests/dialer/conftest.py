"""Dialer fixtures: tables of their own in the real PostgreSQL, keys of their own in Redis.

Each test gets a fresh schema (the gate counts every call to a number, and the
sweep looks at every queued callback) and a fresh Redis prefix and arq queue,
whose keys alone it deletes afterwards: other tests share the Redis server.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from tests.dialer.helpers import FakeDialer, flush_own_keys
from tests.outcomes.helpers import isolated_schema
from voicebot.config import Settings
from voicebot.consent.registry import import_dnc_csv
from voicebot.dialer.jobs import Runtime
from voicebot.records.db import Database


@pytest.fixture
def db_url(settings: Settings) -> Iterator[str]:
    with isolated_schema(settings.database_url) as url:
        yield url


@pytest.fixture
def dial_settings(settings: Settings, db_url: str) -> Settings:
    """Fast limits unless a test asks otherwise; a fresh DNC list keeps the gate open."""
    return settings.model_copy(
        update={
            "database_url": db_url,
            "redis_prefix": f"dialer-test-{secrets.token_hex(6)}",
            "dial_calls_per_second": 100.0,
            "dial_max_concurrent": 50,
            "dial_retry_backoff_s": [120.0, 600.0, 1800.0],
            "fallback_webhook_url": "",
        }
    )


@pytest.fixture
def db(dial_settings: Settings) -> Iterator[Database]:
    database = Database(dial_settings.database_url)
    database.create_tables()
    import_dnc_csv(database, "national", "phone\n+12025550000\n", "test", datetime.now(UTC))
    yield database
    database.engine.dispose()


@pytest.fixture
def dialer() -> FakeDialer:
    return FakeDialer()


@pytest.fixture
async def redis(dial_settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(dial_settings.redis_url.get_secret_value())
    yield client
    await flush_own_keys(client, dial_settings)
    await client.aclose()


@pytest.fixture
async def runtime(
    dial_settings: Settings, db: Database, dialer: FakeDialer, redis: Redis
) -> AsyncIterator[Runtime]:
    rt = Runtime.create(dial_settings, dialer=dialer)
    yield rt
    await rt.close()
