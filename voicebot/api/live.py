"""``/v1/live``: supervisors follow calls as they happen, over a WebSocket.

Each message is one live event of a call (what the bot said, what it heard,
the outcome the moment it is decided, the end), as the pipeline publishes it
on Redis, with the call's id added. The text was redacted before it was
published. Authentication is the same bearer key as the rest of ``/v1``, in the
handshake's ``Authorization`` header; without the supervisor role the
handshake is refused (HTTP 403), so nothing is ever sent to the wrong person.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect
from loguru import logger

from voicebot.api.auth import authenticate, authorize
from voicebot.deps import ServicesDep

router = APIRouter(prefix="/v1", tags=["live"])

CLOSE_POLICY_VIOLATION = 1008


@router.websocket("/live")
async def live_events(
    websocket: WebSocket,
    services: ServicesDep,
    call_id: Annotated[str | None, Query(max_length=64)] = None,
) -> None:
    """Every call's live events, or one call's with ``?call_id=``, until the client leaves."""
    try:
        principal = authorize(
            authenticate(services.settings, websocket.headers.get("authorization")),
            ("supervisor",),
        )
    except HTTPException as e:
        await websocket.close(code=CLOSE_POLICY_VIOLATION, reason=str(e.detail)[:120])
        return
    prefix = f"{services.settings.redis_prefix}:events:"
    pubsub = services.redis.pubsub()
    if call_id is None:
        await pubsub.psubscribe(prefix + "*")
    else:
        await pubsub.subscribe(prefix + call_id)
    await websocket.accept()
    logger.info(f"supervisor {principal.client} follows {call_id or 'every call'} live")
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_forward, websocket, pubsub, prefix, tasks.cancel_scope)
            tasks.start_soon(_until_closed, websocket, tasks.cancel_scope)
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def _forward(websocket: WebSocket, pubsub: Any, prefix: str, done: anyio.CancelScope) -> None:
    """Each published event to the supervisor, with its call's id."""
    try:
        async for message in pubsub.listen():
            if message["type"] not in ("message", "pmessage"):
                continue
            channel = str(message["channel"])
            event = json.loads(message["data"])
            await websocket.send_json({"call_id": channel.removeprefix(prefix), **event})
    except WebSocketDisconnect:
        pass
    done.cancel()


async def _until_closed(websocket: WebSocket, done: anyio.CancelScope) -> None:
    """Read (and ignore) what the client sends, to notice when it goes."""
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        pass
    done.cancel()
