"""/healthz and /readyz through the real app: real Redis and PostgreSQL, or none reachable."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import PUBLIC_URL
from tests.outcomes.helpers import unused_url
from voicebot import cli
from voicebot.app import create_app
from voicebot.config import Settings
from voicebot.health import DrainingServer
from voicebot.services import Services


def _closed_port() -> int:
    return int(unused_url().split(":")[2].split("/")[0])


@asynccontextmanager
async def probe(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``app`` without its lifespan: nothing is connected or loaded first."""
    services: Services = app.state.services
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
            yield client
    finally:
        await services.close()


@pytest.fixture
def unreachable(settings: Settings) -> Settings:
    """Settings whose Redis and PostgreSQL are ports nobody listens on."""
    return settings.model_copy(
        update={
            "redis_url": f"redis://127.0.0.1:{_closed_port()}/0",
            "database_url": f"postgresql://postgres@127.0.0.1:{_closed_port()}/test",
            "outcome_webhook_url": "",
        }
    )


async def test_healthz_answers_without_a_key_and_asks_no_dependency(unreachable: Settings) -> None:
    async with probe(create_app(unreachable, preload_models=False)) as client:
        response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_200_when_redis_sql_and_models_are_ready(client: TestClient) -> None:
    response = client.get("/readyz")  # no key: probes carry none
    assert response.status_code == 200, response.text
    assert response.json() == {
        "ready": True,
        "not_ready": [],
        "checks": {"redis": "ok", "sql": "ok", "models": "ok", "draining": "ok"},
    }


async def test_readyz_is_503_naming_redis_and_sql_when_they_are_unreachable(
    unreachable: Settings,
) -> None:
    async with probe(create_app(unreachable, preload_models=False)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False and body["not_ready"] == ["redis", "sql"]
    assert body["checks"]["models"] == body["checks"]["draining"] == "ok"
    # Said to anyone who reaches the port: what failed, never where it lives.
    assert "127.0.0.1" not in response.text and "postgres" not in response.text


async def test_readyz_is_503_until_the_models_are_loaded(settings: Settings) -> None:
    app = create_app(settings, preload_models=True)  # the lifespan would load them: not run here
    async with probe(app) as client:
        response = await client.get("/readyz")
        assert (response.status_code, response.json()["not_ready"]) == (503, ["models"])
        app.state.services.health.models = "loaded"
        assert (await client.get("/readyz")).status_code == 200


async def test_draining_turns_readyz_false_for_good_and_healthz_stays_true(
    settings: Settings,
) -> None:
    app = create_app(settings, preload_models=False)
    async with probe(app) as client:
        assert (await client.get("/readyz")).status_code == 200
        app.state.services.health.start_draining()
        for _ in range(2):
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["not_ready"] == ["draining"]
            assert response.json()["checks"]["draining"] == "draining"
        assert (await client.get("/healthz")).status_code == 200


def test_the_probes_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/healthz" not in paths and "/readyz" not in paths and "/metrics" not in paths


def test_sigterm_to_the_server_drains_before_uvicorn_shuts_down(settings: Settings) -> None:
    app = create_app(settings, preload_models=False)
    health = app.state.services.health
    server = DrainingServer(uvicorn.Config(app), health)
    server.handle_exit(signal.SIGTERM, None)
    assert health.draining and server.should_exit


def test_voicebot_serve_runs_the_draining_server(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(settings, preload_models=False)
    ran: list[DrainingServer] = []
    monkeypatch.setattr("voicebot.app.create_app", lambda _settings: app)
    monkeypatch.setattr(DrainingServer, "run", lambda self, sockets=None: ran.append(self))
    monkeypatch.setattr(uvicorn, "run", lambda *_, **__: pytest.fail("served without draining"))
    assert cli._serve("127.0.0.1", 0) == 0
    assert [server.health for server in ran] == [app.state.services.health]
