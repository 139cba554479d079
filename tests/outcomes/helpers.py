"""A stand-in wallet backend and an isolated PostgreSQL schema, for outbox tests."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI, Request, Response
from pydantic import SecretStr
from sqlalchemy import text

from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.config import reveal
from voicebot.records import calls as call_records
from voicebot.records.db import Database


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float = 0.0  # when it arrived (unix time): a receiver checks freshness then


class Receiver:
    """A real HTTP server on a free loopback port that records every request.

    It answers the statuses queued in ``statuses`` in order, then 200.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: list[int] = []
        app = FastAPI()

        @app.post("/outcomes")
        async def outcomes(request: Request) -> Response:
            body = await request.body()
            self.requests.append(Received(dict(request.headers), body, time.time()))
            return Response(status_code=self.statuses.pop(0) if self.statuses else 200)

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}/outcomes"
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise TimeoutError("receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def unused_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/outcomes"


@contextmanager
def isolated_schema(database_url: SecretStr | str) -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards; yields a URL that uses it.

    The test database is shared and keeps rows between runs; a dispatcher works on
    every due row it can see, so each test gets tables of its own.
    """
    database_url = reveal(database_url)
    name = f"outbox_{secrets.token_hex(6)}"
    admin = Database(database_url)
    with admin.engine.begin() as c:
        c.execute(text(f"CREATE SCHEMA {name}"))
    separator = "&" if "?" in database_url else "?"
    try:
        yield f"{database_url}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.engine.begin() as c:
            c.execute(text(f"DROP SCHEMA {name} CASCADE"))
        admin.engine.dispose()


def new_call(db: Database, *, case_id: str | None = None) -> tuple[str, str]:
    """A call registered and answered, as the telephony edge leaves it; (call_id, call_sid)."""
    call_id, call_sid = secrets.token_hex(8), "CA" + secrets.token_hex(16)
    context = CallContext(
        purpose="transaction_confirmation",
        customer=Customer(first_name="Alice", phone="+14155550100"),
        transaction=Transaction(
            id="tx_42", amount="912.40", merchant="Amazon", time=datetime.now(UTC)
        ),
        case_id=case_id,
    )
    call_records.create_call(db, call_id, context)
    call_records.attach_call_sid(db, call_id, call_sid)
    return call_id, call_sid


def finish(db: Database, call_id: str, deliver_to: str | None) -> None:
    """End a call the way the pipeline does, with a confirmed outcome."""
    call_records.finish_call(
        db,
        call_id,
        outcome="confirmed",
        escalated=False,
        fields={"confirmed": True},
        evidence={"state": "confirm", "text": "yes", "confidence": 0.93, "source": "speech"},
        turns=[call_records.Turn("bot", "Hello", "prompt", 0.0)],
        failure=None,
        deliver_to=deliver_to,
    )
