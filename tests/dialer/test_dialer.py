"""The dialer workers on real PostgreSQL and Redis, with a fake carrier.

Job functions run directly (with ``now`` where the test moves the clock); one
test runs a real arq worker. What is asserted is what the carrier was asked to
do and what SQL says, never the internals.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import select

from tests.dialer.helpers import FakeDialer, flush_own_keys, new_callback, new_phone
from tests.outcomes.helpers import Receiver
from voicebot.config import REPO_ROOT, Settings
from voicebot.dialer import jobs, ledger
from voicebot.dialer.worker import build_worker
from voicebot.outcomes.signing import verify
from voicebot.records import calls as call_records
from voicebot.records.callbacks import Callback, get_callback
from voicebot.records.db import Database
from voicebot.records.models import CallbackRecord
from voicebot.records.opt_outs import record_opt_out
from voicebot.simulator.campaign import NIGHT, zone_at_local_hour


def state(db: Database, callback_id: str) -> str:
    return get_callback(db, client="wallet", callback_id=callback_id).state


def attempts(db: Database, callback_id: str) -> list[str]:
    return [a.status for a in get_callback(db, client="wallet", callback_id=callback_id).attempts]


async def due_at(runtime: jobs.Runtime, callback_id: str) -> list[datetime]:
    """When the pending dial jobs of this callback are due."""
    head = runtime.queue.dial_prefix(callback_id)
    found = []
    for raw, score in await runtime.queue.redis.zrange(runtime.queue.name, 0, -1, withscores=True):
        if raw.decode().startswith(head + ":"):
            found.append(datetime.fromtimestamp(score / 1000, UTC))
    return found


async def test_a_dialed_call_asks_twilio_for_everything_the_webhooks_need(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer, dial_settings: Settings
) -> None:
    callback = new_callback(db)
    assert await jobs.dial(runtime, callback.id) == "dialed"
    [call] = dialer.calls
    base = dial_settings.public_base_url
    assert call.url == f"{base}/twilio/voice?call_id={call.call_id}"
    assert call.status_callback == f"{base}/twilio/status?call_id={call.call_id}"
    assert call.machine_detection == "Enable"
    assert call.from_ == dial_settings.caller_ids[0]
    stored = get_callback(db, client="wallet", callback_id=callback.id)
    assert stored.state == "dialing"
    assert [(a.attempt, a.call_id, a.status) for a in stored.attempts] == [
        (1, call.call_id, "dialed")
    ]
    [decision] = stored.gate_decisions
    assert decision.allowed and decision.reasons == []
    context = await runtime.store.context(call.call_id)
    assert context.metadata == {"callback_id": callback.id, "attempt": "1"}
    assert context.transaction is not None and context.transaction.amount == "912.40"
    record = call_records.get_call(db, call.call_id)
    assert record is not None and record["call_sid"] is not None


async def test_a_gate_refusal_is_stored_with_its_reasons_and_rescheduled(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer
) -> None:
    callback = new_callback(db, timezone=zone_at_local_hour(NIGHT))
    assert await jobs.dial(runtime, callback.id) == "refused"
    assert dialer.calls == []
    stored = get_callback(db, client="wallet", callback_id=callback.id)
    assert stored.state == "queued"  # it waits for the window, it is not refused for good
    [decision] = stored.gate_decisions
    assert not decision.allowed
    assert decision.reasons == ["outside_calling_hours"]
    assert decision.retry_at is not None and decision.retry_at > datetime.now(UTC)
    due = await due_at(runtime, callback.id)
    assert [int(d.timestamp()) for d in due] == [int(decision.retry_at.timestamp())]


async def test_an_opt_out_blocks_the_next_queued_callback_to_that_number(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer
) -> None:
    phone = new_phone()
    first, second = new_callback(db, phone=phone), new_callback(db, phone=phone)
    assert await jobs.dial(runtime, first.id) == "dialed"
    # "Stop calling me", said on the first call.
    record_opt_out(db, phone=phone, call_id=dialer.calls[0].call_id, source="call")
    assert await jobs.dial(runtime, second.id) == "refused"
    assert len(dialer.calls) == 1
    stored = get_callback(db, client="wallet", callback_id=second.id)
    assert stored.state == "refused"
    [decision] = stored.gate_decisions
    assert "opted_out" in decision.reasons and decision.retry_at is None
    assert await due_at(runtime, second.id) == []


async def test_two_workers_racing_on_one_callback_place_one_call(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer, dial_settings: Settings
) -> None:
    other = jobs.Runtime.create(dial_settings, dialer=dialer)  # a second process, in effect
    try:
        for _ in range(5):
            callback = new_callback(db)
            before = len(dialer.calls)
            results = await asyncio.gather(
                jobs.dial(runtime, callback.id), jobs.dial(other, callback.id)
            )
            assert sorted(results).count("dialed") == 1, results
            assert len(dialer.calls) == before + 1
            assert attempts(db, callback.id) == ["dialed"]
    finally:
        await other.close()


def test_only_one_reservation_of_an_attempt_commits(db: Database) -> None:
    """The ledger itself, from threads: the unique row and the state change let one through."""
    from concurrent.futures import ThreadPoolExecutor

    callback = new_callback(db)
    now = datetime.now(UTC)
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda _: ledger.reserve(db, callback.id, 1, now), range(8)))
    assert won.count(True) == 1


async def test_a_worker_killed_inside_the_twilio_request_never_causes_a_second_call(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer, dial_settings: Settings, tmp_path: Path
) -> None:
    callback = new_callback(db)
    marker = tmp_path / "placed.json"
    fields = {
        name: getattr(dial_settings, name)
        for name in (
            "database_url",
            "redis_url",
            "redis_prefix",
            "public_base_url",
            "twilio_auth_token",
            "dial_calls_per_second",
        )
    }
    fields = {k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in fields.items()}
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.dialer.blocked_worker",
        json.dumps(fields),
        callback.id,
        str(marker),
        cwd=REPO_ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert worker.returncode is None, "the worker ended before dialing"
            assert time.monotonic() < deadline, "the worker never dialed"
            await asyncio.sleep(0.05)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        await asyncio.wait_for(worker.wait(), 10)
    call_id = json.loads(marker.read_text())["url"].split("call_id=")[1]
    assert attempts(db, callback.id) == ["reserved"]

    # Long after: the sweep gives the reservation up as unknown, and nothing dials again.
    later = datetime.now(UTC) + timedelta(seconds=dial_settings.dial_reserve_timeout_s + 1)
    await jobs.sweep(runtime, now=later)
    assert attempts(db, callback.id) == ["unknown"]
    assert await jobs.dial(runtime, callback.id, now=later) == "skipped"
    await jobs.sweep(runtime, now=later)
    assert dialer.calls == []

    # Twilio's status callback arrives (the call was placed): the attempt is settled from it.
    call_records.apply_status(db, call_id, "no-answer", 4)
    await jobs.sweep(runtime, now=later)
    assert attempts(db, callback.id) == ["no-answer"]
    assert state(db, callback.id) == "queued"
    assert await jobs.dial(runtime, callback.id, now=later) == "waiting"  # the backoff
    assert dialer.calls == []  # one call in all: the killed worker's


async def test_a_reservation_that_never_reached_twilio_is_dialed_again(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer, dial_settings: Settings
) -> None:
    """A worker that died before binding a call id certainly placed nothing."""
    callback = new_callback(db)
    now = datetime.now(UTC)
    assert ledger.reserve(db, callback.id, 1, now)
    later = now + timedelta(seconds=dial_settings.dial_reserve_timeout_s + 1)
    await jobs.sweep(runtime, now=later)
    assert attempts(db, callback.id) == ["abandoned"]
    assert state(db, callback.id) == "queued"
    assert await jobs.dial(runtime, callback.id) == "dialed"
    assert attempts(db, callback.id) == ["abandoned", "dialed"]
    assert len(dialer.calls) == 1


async def test_busy_is_retried_with_backoff_then_the_fallback_sms_and_failed(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer
) -> None:
    callback = new_callback(db)
    now = datetime.now(UTC)
    for n, (status, wait) in enumerate([("busy", 120), ("no-answer", 600)], start=1):
        assert await jobs.dial(runtime, callback.id, now=now) == "dialed"
        assert await jobs.call_ended(runtime, dialer.calls[-1].call_id, status, now=now) == "retry"
        assert state(db, callback.id) == "queued"
        due = max(await due_at(runtime, callback.id))  # (no worker takes the older ones here)
        assert abs((due - now).total_seconds() - wait) < 1
        # Too early (a job run twice, or the sweep): it waits for the backoff.
        assert await jobs.dial(runtime, callback.id, now=now + timedelta(seconds=wait - 5)) == (
            "waiting"
        )
        assert len(dialer.calls) == n
        now += timedelta(seconds=wait + 1)
    assert await jobs.dial(runtime, callback.id, now=now) == "dialed"
    call_id = dialer.calls[-1].call_id
    assert await jobs.call_ended(runtime, call_id, "failed", now=now) == "failed"
    assert await jobs.call_ended(runtime, call_id, "failed", now=now) == "settled"  # a repeat
    assert state(db, callback.id) == "failed"
    assert attempts(db, callback.id) == ["busy", "no-answer", "failed", "fallback_sms_sent"]
    [(to, _from, body)] = dialer.texts
    assert to == callback.request["customer"]["phone"] and "Nova Wallet" in body
    assert len(dialer.calls) == 3


async def test_a_recorded_outcome_completes_the_callback(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer
) -> None:
    callback = new_callback(db)
    assert await jobs.dial(runtime, callback.id) == "dialed"
    call_id = dialer.calls[0].call_id
    # Completed before the record is written: it waits for the outcome.
    assert await jobs.call_ended(runtime, call_id, "completed") == "waiting-for-outcome"
    call_records.finish_call(
        db, call_id, outcome="confirmed", escalated=False, fields={}, evidence=None, turns=[]
    )
    assert await jobs.call_ended(runtime, call_id, "completed", 1) == "completed"
    assert state(db, callback.id) == "completed"
    assert attempts(db, callback.id) == ["completed"]
    assert await jobs.dial(runtime, callback.id) == "skipped"


def _follow_ups(db: Database, event_id: str) -> list[Callback]:
    with db.session() as s:
        ids = s.scalars(
            select(CallbackRecord.id).where(CallbackRecord.event_id.startswith(event_id + "+"))
        ).all()
    return [get_callback(db, client="wallet", callback_id=i) for i in ids]


async def _asked_to_call_back(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer, fields: dict[str, str]
) -> tuple[Callback, str]:
    """A callback dialed, whose call ended with "call me back" (and these fields)."""
    callback = new_callback(db)
    assert await jobs.dial(runtime, callback.id) == "dialed"
    call_id = dialer.calls[0].call_id
    call_records.finish_call(
        db,
        call_id,
        outcome="callback_requested",
        escalated=False,
        fields=fields,
        evidence=None,
        turns=[],
    )
    return callback, call_id


async def test_call_me_back_at_a_time_queues_one_follow_up_then(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer
) -> None:
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    callback, call_id = await _asked_to_call_back(
        runtime, db, dialer, {"callback_at": when.isoformat()}
    )
    assert await jobs.call_ended(runtime, call_id, "completed") == "completed"
    assert await jobs.call_ended(runtime, call_id, "completed") == "settled"  # a repeat
    [follow_up] = _follow_ups(db, callback.event_id)
    assert follow_up.event_id == callback.event_id + jobs.FOLLOW_UP
    assert follow_up.state == "queued"
    assert follow_up.earliest_at == when
    assert follow_up.request["transaction"] == callback.request["transaction"]
    assert await due_at(runtime, follow_up.id) == [when]
    assert state(db, callback.id) == "completed"


async def test_call_me_back_later_without_a_time_waits_the_default_delay(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer
) -> None:
    callback, call_id = await _asked_to_call_back(runtime, db, dialer, {})
    before = datetime.now(UTC)
    assert await jobs.call_ended(runtime, call_id, "completed") == "completed"
    [follow_up] = _follow_ups(db, callback.event_id)
    delay = timedelta(seconds=runtime.settings.callback_default_delay_s)
    assert follow_up.earliest_at is not None
    assert before + delay <= follow_up.earliest_at <= datetime.now(UTC) + delay


async def test_after_a_redis_flush_the_sweep_enqueues_again_and_nothing_is_lost(
    runtime: jobs.Runtime,
    db: Database,
    dialer: FakeDialer,
    dial_settings: Settings,
    redis: Redis,
) -> None:
    callbacks = [new_callback(db) for _ in range(4)]
    for callback in callbacks:
        await runtime.queue.new_callback(callback.id, None)
    assert await runtime.queue.pending_dials() == {c.id for c in callbacks}
    assert await flush_own_keys(redis, dial_settings) > 0  # Redis restarted empty
    assert await runtime.queue.pending_dials() == set()

    later = datetime.now(UTC) + timedelta(seconds=dial_settings.dial_sweep_grace_s + 1)
    assert (await jobs.sweep(runtime, now=later))["requeued"] == 4
    assert (await jobs.sweep(runtime, now=later))["requeued"] == 0  # pending now: no doubles
    worker = build_worker(dial_settings, dialer=dialer, burst=True)
    try:
        await asyncio.wait_for(worker.async_run(), 60)
    finally:
        await worker.close()
    assert sorted(c.to for c in dialer.calls) == sorted(
        c.request["customer"]["phone"] for c in callbacks
    )
    for callback in callbacks:
        assert attempts(db, callback.id) == ["dialed"]


async def test_the_calls_per_second_limit_defers_rather_than_drops(
    db: Database, dialer: FakeDialer, dial_settings: Settings, redis: Redis
) -> None:
    # One call per 2 s window; the dials start just after a window opens (on Redis's
    # clock, which the limiter uses), so a slow machine cannot spread them over two.
    slow = dial_settings.model_copy(update={"dial_calls_per_second": 0.5})
    runtime = jobs.Runtime.create(slow, dialer=dialer)
    try:
        callbacks = [new_callback(db) for _ in range(3)]
        seconds, micros = await redis.time()
        now = seconds + micros / 1e6
        await asyncio.sleep(2 - now % 2 + 0.05)
        results = [await jobs.dial(runtime, c.id) for c in callbacks]
        assert results == ["dialed", "deferred", "deferred"], results
        for callback in callbacks[1:]:
            assert state(db, callback.id) == "queued"
            [due] = await due_at(runtime, callback.id)
            assert 0 <= (due - datetime.now(UTC)).total_seconds() <= 2.1
        await asyncio.sleep(2.1)
        assert await jobs.dial(runtime, callbacks[1].id) == "dialed"
        assert len(dialer.calls) == 2
    finally:
        await runtime.close()


async def test_the_concurrent_call_cap_defers_until_a_call_ends(
    db: Database, dialer: FakeDialer, dial_settings: Settings, redis: Redis
) -> None:
    one_line = dial_settings.model_copy(update={"dial_max_concurrent": 1})
    runtime = jobs.Runtime.create(one_line, dialer=dialer)
    try:
        first, second = new_callback(db), new_callback(db)
        assert await jobs.dial(runtime, first.id) == "dialed"
        assert await jobs.dial(runtime, second.id) == "deferred"
        assert len(await due_at(runtime, second.id)) == 1
        call_records.finish_call(
            db,
            dialer.calls[0].call_id,
            outcome="confirmed",
            escalated=False,
            fields={},
            evidence=None,
            turns=[],
        )
        assert await jobs.call_ended(runtime, dialer.calls[0].call_id, "completed") == "completed"
        assert await jobs.dial(runtime, second.id) == "dialed"
    finally:
        await runtime.close()


async def test_a_status_callback_of_a_callbacks_call_enqueues_its_ending(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer
) -> None:
    callback = new_callback(db)
    await jobs.dial(runtime, callback.id)
    call_id = dialer.calls[0].call_id
    await runtime.queue.call_status(runtime.store, call_id, "ringing")
    await runtime.queue.call_status(runtime.store, call_id, "busy")
    await runtime.queue.call_status(runtime.store, call_id, "busy")  # Twilio retried
    jobs_queued = await runtime.queue.redis.zrange(runtime.queue.name, 0, -1)
    assert [j.decode() for j in jobs_queued] == [
        f"{runtime.settings.redis_prefix}:ended:{call_id}:0"
    ]


async def test_the_callbacks_api_enqueues_a_dial_for_each_new_callback(
    runtime: jobs.Runtime, db: Database, dial_settings: Settings
) -> None:
    from fastapi.testclient import TestClient

    from tests.conftest import PUBLIC_URL
    from voicebot.api.auth import hash_key, new_api_key
    from voicebot.app import create_app

    key = new_api_key()
    app = create_app(
        dial_settings.model_copy(update={"api_keys": {"wallet": hash_key(key)}}),
        preload_models=False,
    )
    earliest = datetime.now(UTC) + timedelta(hours=1)
    body = new_callback(db).request | {
        "event_id": "evt_api_1",
        "earliest_at": earliest.isoformat(),
    }
    with TestClient(app, base_url=PUBLIC_URL, headers={"Authorization": f"Bearer {key}"}) as c:
        created = await asyncio.to_thread(c.post, "/v1/callbacks", json=body)
        again = await asyncio.to_thread(c.post, "/v1/callbacks", json=body)
    assert (created.status_code, again.status_code) == (202, 200)
    callback_id = created.json()["id"]
    [due] = await due_at(runtime, callback_id)  # once, though asked twice
    assert abs((due - earliest).total_seconds()) < 1


async def test_a_call_request_that_failed_midway_is_never_redialed_until_reconciled(
    runtime: jobs.Runtime, db: Database, dialer: FakeDialer, dial_settings: Settings
) -> None:
    """A timeout from Twilio: maybe placed. No trace for DIAL_UNKNOWN_TIMEOUT_S -> lost, retried."""
    from voicebot.errors import DialerError

    class TimingOut(FakeDialer):
        def create_call(self, *_: str) -> str:
            raise DialerError("read timeout")

    callback = new_callback(db)
    runtime.dialer = TimingOut()
    now = datetime.now(UTC)
    assert await jobs.dial(runtime, callback.id, now=now) == "unknown"
    runtime.dialer = dialer
    assert await jobs.dial(runtime, callback.id, now=now) == "skipped"
    await jobs.sweep(runtime, now=now + timedelta(seconds=60))
    assert attempts(db, callback.id) == ["unknown"]
    later = now + timedelta(seconds=dial_settings.dial_unknown_timeout_s + 1)
    await jobs.sweep(runtime, now=later)
    assert attempts(db, callback.id) == ["lost"]
    retry_at = later + timedelta(seconds=dial_settings.dial_retry_backoff_s[0])
    assert await jobs.dial(runtime, callback.id, now=retry_at) == "dialed"
    assert len(dialer.calls) == 1


async def test_the_fallback_webhook_is_signed_the_standard_webhooks_way(
    dial_settings: Settings, db: Database, dialer: FakeDialer, redis: Redis
) -> None:
    with Receiver() as backend:
        settings = dial_settings.model_copy(
            update={"dial_max_attempts": 1, "fallback_webhook_url": backend.url}
        )
        rt = jobs.Runtime.create(settings, dialer=dialer)
        try:
            callback = new_callback(db)
            assert await jobs.dial(rt, callback.id) == "dialed"
            assert await jobs.call_ended(rt, dialer.calls[-1].call_id, "failed") == "failed"
        finally:
            await rt.close()
    [request] = backend.requests
    secret = settings.outcome_webhook_secret.get_secret_value()
    assert request.headers["webhook-id"] == request.headers["idempotency-key"]
    assert request.headers["webhook-id"] == f"fallback:{callback.id}"
    assert verify(secret, request.body, request.headers, now=request.at)
    assert not verify(secret, request.body, request.headers | {"webhook-id": "x"}, request.at)
    assert attempts(db, callback.id) == ["failed", "fallback_webhook_sent"]
