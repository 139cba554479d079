"""The FastAPI application: telephony webhooks, media streams, the callbacks and consent APIs."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from loguru import logger
from redis.exceptions import RedisError

from voicebot import metrics
from voicebot.api.callbacks import router as callbacks_router
from voicebot.api.consent import router as consent_router
from voicebot.api.errors import install_error_handlers
from voicebot.api.live import router as live_router
from voicebot.api.review import router as review_router
from voicebot.config import Settings, get_settings
from voicebot.deps import ServicesDep
from voicebot.health import readiness
from voicebot.services import Services
from voicebot.telephony.limits import WebSocketMessageLimit
from voicebot.telephony.routes import router as twilio_router


def create_app(settings: Settings | None = None, *, preload_models: bool = True) -> FastAPI:
    """Build the app. Misconfiguration fails here, before any call is taken."""
    settings = settings or get_settings()
    services = Services.create(settings)
    services.health.models = "loading" if preload_models else "on first call"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(services.db.create_tables)
        await services.redis.ping()
        warming: asyncio.Task[None] | None = None
        if preload_models:
            await asyncio.to_thread(lambda: services.models)  # first call must not wait
            services.health.models = "loaded"
            # Calls are taken meanwhile; the phrases they need most are made first.
            warming = asyncio.create_task(_warm_phrases(services), name="warm-phrases")
        if services.outcomes is not None:
            await services.outcomes.start()
        yield
        if services.outcomes is not None:
            await services.outcomes.stop()
        await services.close()
        if warming is not None:
            await warming  # close() stopped it: at most one phrase to finish

    app = FastAPI(title="voicebot", version="0.1.0", lifespan=lifespan)
    app.state.services = services
    app.include_router(twilio_router)
    app.include_router(callbacks_router)
    app.include_router(consent_router)
    app.include_router(review_router)
    app.include_router(live_router)
    install_error_handlers(app)
    app.add_middleware(WebSocketMessageLimit, max_bytes=settings.ws_max_message_bytes)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def prometheus(services: ServicesDep, request: Request) -> Response:
        """Prometheus text format; the queue depth is read from Redis now."""
        token = services.settings.metrics_token.get_secret_value()
        given = request.headers.get("authorization", "")
        if token and not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return Response("metrics need 'Authorization: Bearer <token>'", status_code=401)
        with contextlib.suppress(RedisError):
            depth = await services.dial_queue.redis.zcard(services.dial_queue.name)
            metrics.DIAL_QUEUE_DEPTH.set(depth)
        body, content_type = metrics.generate()
        return Response(body, media_type=content_type)

    # Probes for load balancers and orchestrators (voicebot/health.py): no key, not in
    # the OpenAPI document.
    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    async def healthz() -> JSONResponse:
        """Alive: the process answers. No dependency is asked."""
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", tags=["ops"], include_in_schema=False)
    async def readyz(services: ServicesDep) -> JSONResponse:
        """200 when Redis, SQL and the models are ready and not draining; else 503 naming them."""
        checks = await readiness(services)
        not_ready = sorted(name for name, state in checks.items() if state != "ok")
        body = {"ready": not not_ready, "not_ready": not_ready, "checks": checks}
        return JSONResponse(body, status_code=503 if not_ready else 200)

    return app


async def _warm_phrases(services: Services) -> None:
    """Synthesise the fixed phrases in the background; a failure only costs speed."""
    started = time.perf_counter()
    try:
        made = await asyncio.to_thread(services.warm_phrases)
    except Exception:
        logger.exception("could not synthesise the fixed phrases in advance")
        return
    logger.info(f"{made} fixed phrases synthesised in {time.perf_counter() - started:.1f} s")
