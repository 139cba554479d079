"""Shared fixtures: real Redis and a real SQL database, the real app and models.

Tests use the PostgreSQL and Redis servers the README names (CI has both on
loopback); override with TEST_DATABASE_URL / TEST_REDIS_URL. Each test session
gets its own Redis key prefix so parallel runs never see each other's calls.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.outcomes.helpers import Receiver
from voicebot.api.auth import hash_key, new_api_key
from voicebot.app import create_app
from voicebot.config import REPO_ROOT, Settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PUBLIC_URL = "https://voice.example.test"
SCENARIOS = REPO_ROOT / "tests" / "scenarios"


WEBHOOK_SECRET = secrets.token_hex(16)
# API keys of the session's server: a supervisor and the product team (roles).
SUPERVISOR_KEY = new_api_key()
PRODUCT_KEY = new_api_key()


@pytest.fixture(scope="session")
def wallet_backend() -> Iterator[Receiver]:
    """A real HTTP server standing in for the wallet backend: receives outcome webhooks."""
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, wallet_backend: Receiver) -> Settings:
    return Settings(
        env="development",
        twilio_auth_token=secrets.token_hex(16),
        public_base_url=PUBLIC_URL,
        database_url=TEST_DATABASE_URL,
        redis_url=TEST_REDIS_URL,
        redis_prefix=f"voicebot-test-{secrets.token_hex(4)}",
        output_dir=tmp_path_factory.mktemp("out"),
        outcome_webhook_url=wallet_backend.url,
        outcome_webhook_secret=WEBHOOK_SECRET,
        api_keys={"supervisors": hash_key(SUPERVISOR_KEY), "product": hash_key(PRODUCT_KEY)},
        api_roles={"supervisors": ["supervisor"], "product": ["product"]},
    )


@pytest.fixture(scope="session")
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app (real Redis, real SQL); models load on the first call only."""
    with TestClient(create_app(settings, preload_models=False), base_url=PUBLIC_URL) as c:
        yield c


@pytest.fixture(scope="session")
async def simulator(settings: Settings) -> AsyncIterator[object]:
    """The phone simulator with the real server in-process: started once per session."""
    from voicebot.simulator.runner import Simulator

    async with Simulator(settings) as sim:
        yield sim


def scenario_files() -> list[Path]:
    return sorted(SCENARIOS.glob("*.yaml"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the scenario suite's response latency (a figure, not an assertion) and flakes."""
    from tests.e2e.test_scenarios import FLAKY, LATENCIES

    if LATENCIES:
        from voicebot.cli import latency_summary

        terminalreporter.write_sep("-", "scenario response latency")
        terminalreporter.write_line(latency_summary(LATENCIES))
    if FLAKY:
        terminalreporter.write_sep("-", "scenarios that passed only on their second call")
        for name, failures in sorted(FLAKY.items()):
            terminalreporter.write_line(f"{name}: first call: {failures}")
