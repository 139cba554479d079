"""The media-stream handshake: no model work until the stream proves who it is.

Twilio opens the WebSocket, sends ``connected`` then ``start``. The ``start``
message carries the CallSid and our one-time token (as a custom parameter).
The token must have been issued for that very CallSid and not used before;
otherwise the socket is closed with 1008 (policy violation).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket

from voicebot.errors import StreamTokenError, TelephonyError

HANDSHAKE_TIMEOUT_S = 10.0
CLOSE_POLICY_VIOLATION = 1008


@dataclass(frozen=True)
class StreamStart:
    """What the ``start`` message told us."""

    stream_sid: str
    call_sid: str
    account_sid: str
    parameters: dict[str, str]


def parse_start(message: dict[str, Any]) -> StreamStart:
    start = message.get("start") or {}
    try:
        return StreamStart(
            stream_sid=str(message.get("streamSid") or start["streamSid"]),
            call_sid=str(start["callSid"]),
            account_sid=str(start.get("accountSid", "")),
            parameters={str(k): str(v) for k, v in (start.get("customParameters") or {}).items()},
        )
    except (KeyError, TypeError) as e:
        raise TelephonyError(f"malformed start message: {e!r}") from e


async def read_start(websocket: WebSocket) -> StreamStart:
    """Read up to the ``start`` message (``connected`` comes first)."""

    async def _read() -> StreamStart:
        while True:
            raw = await websocket.receive()
            if raw["type"] == "websocket.disconnect":
                raise TelephonyError("stream closed before start")
            text = raw.get("text")
            if text is None:
                raise TelephonyError("binary message before start")
            try:
                message = json.loads(text)
            except json.JSONDecodeError as e:
                raise TelephonyError("invalid JSON before start") from e
            if message.get("event") == "start":
                return parse_start(message)
            if message.get("event") != "connected":
                raise TelephonyError(f"unexpected {message.get('event')!r} before start")

    try:
        return await asyncio.wait_for(_read(), HANDSHAKE_TIMEOUT_S)
    except TimeoutError as e:
        raise TelephonyError("no start message in time") from e


def require_token(start: StreamStart) -> str:
    token = start.parameters.get("token", "")
    if not token:
        raise StreamTokenError("no stream token")
    return token
