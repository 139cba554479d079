"""A fake carrier that records what it was asked, and callbacks as the API stores them."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from redis.asyncio import Redis

from voicebot.config import Settings
from voicebot.records.callbacks import Callback, create_callback
from voicebot.records.db import Database
from voicebot.simulator.campaign import DAYTIME, zone_at_local_hour


@dataclass(frozen=True)
class PlacedCall:
    to: str
    from_: str
    url: str
    status_callback: str
    machine_detection: str

    @property
    def call_id(self) -> str:
        return parse_qs(urlparse(self.url).query)["call_id"][0]


@dataclass
class FakeDialer:
    """Records every call and text; thread-safe (the workers call it from threads)."""

    calls: list[PlacedCall] = field(default_factory=list)
    texts: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def create_call(
        self, to: str, from_: str, url: str, status_callback: str, machine_detection: str
    ) -> str:
        with self.lock:
            self.calls.append(PlacedCall(to, from_, url, status_callback, machine_detection))
        return "CA" + secrets.token_hex(16)

    def send_sms(self, to: str, from_: str, body: str) -> None:
        with self.lock:
            self.texts.append((to, from_, body))


def new_phone() -> str:
    """A US number (area code 415), unique enough that tests never share one."""
    return f"+1415{secrets.randbelow(10**7):07d}"


def new_callback(
    db: Database,
    *,
    phone: str | None = None,
    timezone: str | None = None,
    deadline: datetime | None = None,
    now: datetime | None = None,
) -> Callback:
    """A transaction-confirmation callback stored as the API stores one."""
    now = now or datetime.now(UTC)
    request: dict[str, Any] = {
        "event_id": f"evt_{secrets.token_hex(6)}",
        "customer": {
            "first_name": "Alice",
            "last_name": None,
            "phone": phone or new_phone(),
            "timezone": timezone or zone_at_local_hour(DAYTIME, now),
        },
        "urgency": "normal",
        "earliest_at": None,
        "deadline": None if deadline is None else deadline.isoformat(),
        "purpose": "transaction_confirmation",
        "transaction": {
            "id": "tx_42",
            "amount": "912.40",
            "currency": "USD",
            "merchant": "Amazon",
            "time": (now - timedelta(minutes=5)).isoformat(),
        },
    }
    callback, created = create_callback(
        db,
        client="wallet",
        event_id=request["event_id"],
        purpose="transaction_confirmation",
        urgency="normal",
        earliest_at=None,
        deadline=deadline,
        request=request,
        now=now,
    )
    assert created
    return callback


async def flush_own_keys(redis: Redis, settings: Settings) -> int:
    """Delete this test's keys only (its prefix, and arq's keys of its job ids): Redis is shared."""
    prefix = settings.redis_prefix
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    keys += [k async for k in redis.scan_iter(match=f"arq:*:{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    return len(keys)
