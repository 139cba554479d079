"""The FastAPI application: telephony webhooks, media streams, the callbacks API, health."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from voicebot.api.callbacks import router as callbacks_router
from voicebot.config import Settings, get_settings
from voicebot.deps import ServicesDep
from voicebot.services import Services
from voicebot.telephony.limits import WebSocketMessageLimit
from voicebot.telephony.routes import router as twilio_router


def create_app(settings: Settings | None = None, *, preload_models: bool = True) -> FastAPI:
    """Build the app. Misconfiguration fails here, before any call is taken."""
    settings = settings or get_settings()
    services = Services.create(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(services.db.create_tables)
        await services.redis.ping()
        if preload_models:
            await asyncio.to_thread(lambda: services.models)  # first call must not wait
        if services.outcomes is not None:
            await services.outcomes.start()
        yield
        if services.outcomes is not None:
            await services.outcomes.stop()
        await services.close()

    app = FastAPI(title="voicebot", version="0.1.0", lifespan=lifespan)
    app.state.services = services
    app.include_router(twilio_router)
    app.include_router(callbacks_router)
    app.add_middleware(WebSocketMessageLimit, max_bytes=settings.ws_max_message_bytes)

    @app.get("/healthz", tags=["ops"])
    async def healthz(services: ServicesDep) -> JSONResponse:
        await services.redis.ping()
        return JSONResponse({"status": "ok"})

    return app
