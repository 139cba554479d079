"""Live call state on the real Redis: what one call may do only once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.calls.state import CallStore
from voicebot.config import Settings
from voicebot.redis_client import connect


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[CallStore]:
    """A store under a prefix of its own, whose keys alone are deleted afterwards."""
    redis = connect(settings.redis_url)
    prefix = f"calls-test-{secrets.token_hex(6)}"
    try:
        yield CallStore(redis, prefix=prefix)
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def new_call(store: CallStore) -> str:
    context = CallContext(
        purpose="transaction_confirmation",
        customer=Customer(first_name="Alice", phone="+14155550100"),
        transaction=Transaction(id="tx_1", amount="1.00", merchant="Cafe", time=datetime.now(UTC)),
    )
    return await store.register(context)


def outcome(call_id: str, value: str) -> dict[str, object]:
    return {"call_id": call_id, "outcome": value, "escalated": False, "fields": {}}


async def test_a_stored_outcome_is_never_overwritten(store: CallStore) -> None:
    call_id = await new_call(store)
    assert await store.set_outcome(call_id, outcome(call_id, "confirmed"))
    assert not await store.set_outcome(call_id, outcome(call_id, "hung_up"))
    state = await store.get(call_id)
    assert state["outcome"] == "confirmed"
    assert '"confirmed"' in state["outcome_record"] and "hung_up" not in state["outcome_record"]


async def test_a_stream_is_claimed_once_per_call(store: CallStore) -> None:
    call_id = await new_call(store)
    claims = await asyncio.gather(*(store.claim_stream(call_id) for _ in range(20)))
    assert sorted(claims) == ["claimed"] + ["streamed"] * 19


async def test_no_stream_for_a_call_that_has_ended(store: CallStore) -> None:
    decided, completed = await new_call(store), await new_call(store)
    await store.set_outcome(decided, outcome(decided, "confirmed"))
    await store.apply_status(completed, "completed", 3)
    assert await store.claim_stream(decided) == "ended"
    assert await store.claim_stream(completed) == "ended"


async def test_no_stream_for_an_unknown_call(store: CallStore) -> None:
    assert await store.claim_stream("call_nobody") == "unknown"
