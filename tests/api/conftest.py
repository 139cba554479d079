"""The real app with two API clients configured, on the real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PUBLIC_URL
from voicebot.api.auth import hash_key, new_api_key
from voicebot.app import create_app
from voicebot.config import Settings
from voicebot.records.db import Database

WALLET_KEY = new_api_key()
OTHER_KEY = new_api_key()


@pytest.fixture(scope="session")
def api_settings(settings: Settings) -> Settings:
    """The session's settings plus two backend clients' keys; no outcome dispatcher."""
    return settings.model_copy(
        update={
            "api_keys": {
                **settings.api_keys,
                "wallet": hash_key(WALLET_KEY),
                "other-team": hash_key(OTHER_KEY),
            },
            "outcome_webhook_url": "",
        }
    )


@pytest.fixture(scope="session")
def api(api_settings: Settings) -> Iterator[TestClient]:
    """The real app, authenticated as the ``wallet`` client by default."""
    app = create_app(api_settings, preload_models=False)
    with TestClient(
        app, base_url=PUBLIC_URL, headers={"Authorization": f"Bearer {WALLET_KEY}"}
    ) as c:
        yield c


@pytest.fixture(scope="session")
def db(api: TestClient) -> Database:
    database: Database = api.app.state.services.db  # type: ignore[attr-defined]
    return database
