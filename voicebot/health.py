"""Liveness, readiness and draining, for load balancers and orchestrators.

The routes are in ``voicebot.app``. ``GET /healthz`` says the process answers
and asks no dependency: a Redis outage must not get every server restarted at
once. ``GET /readyz`` says whether to send it new calls: Redis and SQL answer,
the speech models are loaded, and it is not draining; 503 names the parts that
are not ready.

Both are unauthenticated (probes carry no key) and left out of the OpenAPI
document, like ``/metrics``: they are for the infrastructure, not API clients.
A failed check says only the error's class; its message (hosts, users) goes to
the log, not to whoever can reach the port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Literal

import uvicorn
from loguru import logger
from sqlalchemy import text

from voicebot.records.db import Database

if TYPE_CHECKING:
    from voicebot.services import Services

CHECK_TIMEOUT_S = 2.0  # a probe must answer in time even when Redis retries for ~11 s

ModelsState = Literal["loading", "loaded", "on first call"]


@dataclass
class Health:
    """What readiness needs that no dependency can be asked: models and draining."""

    # "on first call": the app was built not to preload them (tests, tools); a
    # server (``create_app``'s default) loads them before it takes requests.
    models: ModelsState = "loading"
    draining: bool = False

    def start_draining(self) -> None:
        """Turn ``/readyz`` false for good: no new call should come here (SIGTERM)."""
        if not self.draining:
            logger.info("draining: /readyz is now 503, no new calls should be sent here")
        self.draining = True


def _sql_ping(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def _check(name: str, probe: Callable[[], Awaitable[object]]) -> str:
    """``"ok"``, or why ``probe`` failed (the error's class only)."""
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except TimeoutError:
        logger.warning(f"readiness: {name} did not answer within {CHECK_TIMEOUT_S:g} s")
        return f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as e:
        logger.warning(f"readiness: {name} failed: {type(e).__name__}: {e}")
        return f"unreachable ({type(e).__name__})"
    return "ok"


async def readiness(services: Services) -> dict[str, str]:
    """Each part of readiness (redis, sql, models, draining): ``"ok"`` or what is wrong."""
    redis, sql = await asyncio.gather(
        _check("redis", services.redis.ping),
        _check("sql", lambda: asyncio.to_thread(_sql_ping, services.db)),
    )
    health = services.health
    return {
        "redis": redis,
        "sql": sql,
        "models": "ok" if health.models != "loading" else "loading",
        "draining": "draining" if health.draining else "ok",
    }


class DrainingServer(uvicorn.Server):
    """uvicorn, with ``/readyz`` turned false the moment SIGTERM (or SIGINT) arrives.

    uvicorn then shuts down as it always does: it stops listening, lets open
    requests and calls finish (``timeout_graceful_shutdown``), and runs the
    lifespan's shutdown.
    """

    def __init__(self, config: uvicorn.Config, health: Health) -> None:
        super().__init__(config)
        self.health = health

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.health.start_draining()
        super().handle_exit(sig, frame)
