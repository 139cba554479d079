"""ASGI middleware that refuses oversized WebSocket messages.

Twilio's media messages are a few hundred bytes; anything near the limit is an
attack or a bug. Enforced here rather than only in uvicorn's ``ws_max_size`` so
it holds under any ASGI server that runs ``server:app``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CLOSE_TOO_BIG = 1009


class WebSocketMessageLimit:
    """Close a WebSocket with 1009 when a message exceeds ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        closed = False

        async def limited_receive() -> Message:
            nonlocal closed
            message = await receive()
            if message["type"] == "websocket.receive":
                size = len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
                if size > self.max_bytes:
                    closed = True
                    await send(
                        {
                            "type": "websocket.close",
                            "code": CLOSE_TOO_BIG,
                            "reason": "message too big",
                        }
                    )
                    return {"type": "websocket.disconnect", "code": CLOSE_TOO_BIG}
            return message

        async def guarded_send(message: Message) -> None:
            if not closed:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)
