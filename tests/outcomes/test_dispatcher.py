"""The dispatcher against a real HTTP receiver and the real PostgreSQL outbox."""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.outcomes.conftest import SECRET
from tests.outcomes.helpers import Receiver, finish, new_call, unused_url
from voicebot.config import Settings
from voicebot.outcomes.dispatcher import OutcomeDispatcher, _claim, backoff_s
from voicebot.outcomes.signing import verify
from voicebot.records.db import Database
from voicebot.records.models import OutcomeDelivery


def row(db: Database, call_id: str) -> OutcomeDelivery:
    with db.session() as s:
        return s.get_one(OutcomeDelivery, call_id)


async def wait_until_due(db: Database, call_id: str) -> None:
    delay = (row(db, call_id).next_attempt_at - datetime.now(UTC)).total_seconds()
    await asyncio.sleep(max(delay, 0) + 0.02)


async def test_a_failed_attempt_is_retried_and_delivered_once_with_one_key(
    db: Database, receiver: Receiver, outcome_settings: Settings
) -> None:
    call_id, _ = new_call(db)
    finish(db, call_id, deliver_to=receiver.url)
    body = row(db, call_id).payload.encode()
    dispatcher = OutcomeDispatcher(db, outcome_settings)
    receiver.statuses = [500]

    before = datetime.now(UTC)
    assert await dispatcher.deliver_due() == 0
    failed = row(db, call_id)
    assert (failed.attempts, failed.delivered_at, failed.last_error) == (1, None, "HTTP 500")
    # Backoff after the first failure: 1 s, capped at 0.2 s here, plus at most 10 %.
    assert before + timedelta(seconds=0.2) <= failed.next_attempt_at
    assert failed.next_attempt_at <= datetime.now(UTC) + timedelta(seconds=0.22)

    assert await dispatcher.deliver_due() == 0  # not due yet: nothing sent
    assert len(receiver.requests) == 1

    await wait_until_due(db, call_id)
    assert await dispatcher.deliver_due() == 1
    assert await dispatcher.deliver_due() == 0  # delivered rows are never sent again

    done = row(db, call_id)
    assert done.delivered_at is not None and done.attempts == 2
    first, second = receiver.requests
    assert first.body == second.body == body
    assert json.loads(body)["call_id"] == call_id
    for n, request in enumerate(receiver.requests, start=1):
        assert request.headers["idempotency-key"] == f"call-outcome:{call_id}"
        assert request.headers["x-voicebot-attempt"] == str(n)
        assert request.headers["content-type"] == "application/json"
        # Standard Webhooks: the id is the idempotency key; each attempt is signed afresh.
        assert request.headers["webhook-id"] == f"call-outcome:{call_id}"
        assert verify(SECRET, request.body, request.headers, now=time.time())
        assert not verify("whsec_wrong", request.body, request.headers, now=time.time())
        # The old header, until the next release.
        legacy = request.headers["x-voicebot-signature"]
        assert verify(SECRET, request.body, legacy, now=time.time())
    # What the receiver sees: one key, so one outcome, however many attempts.
    assert {r.headers["idempotency-key"] for r in receiver.requests} == {f"call-outcome:{call_id}"}


async def test_an_unreachable_receiver_leaves_the_row_pending_with_growing_attempts(
    db: Database, outcome_settings: Settings
) -> None:
    url = unused_url()
    call_id, _ = new_call(db)
    finish(db, call_id, deliver_to=url)
    payload = row(db, call_id).payload
    dispatcher = OutcomeDispatcher(
        db, outcome_settings.model_copy(update={"outcome_webhook_url": url})
    )

    for attempt in (1, 2, 3):
        assert await dispatcher.deliver_due() == 0
        pending = row(db, call_id)
        assert pending.attempts == attempt and pending.delivered_at is None
        assert pending.last_error is not None and "ConnectError" in pending.last_error
        assert pending.next_attempt_at > datetime.now(UTC)
        await wait_until_due(db, call_id)

    with db.session() as s:
        [kept] = s.scalars(select(OutcomeDelivery))
    assert kept.payload == payload and kept.url == url  # nothing lost or changed


async def test_two_processes_never_send_the_same_row_at_once(
    db_url: str, db: Database, receiver: Receiver, outcome_settings: Settings
) -> None:
    call_ids = [new_call(db)[0] for _ in range(6)]
    for call_id in call_ids:
        finish(db, call_id, deliver_to=receiver.url)
    other = Database(db_url)  # a second engine and pool, as another process has
    try:
        a = OutcomeDispatcher(db, outcome_settings)
        b = OutcomeDispatcher(other, outcome_settings)
        delivered = await asyncio.gather(a.deliver_due(), b.deliver_due(), a.deliver_due())
    finally:
        other.engine.dispose()
    assert sum(delivered) == 6
    keys = [r.headers["idempotency-key"] for r in receiver.requests]
    assert sorted(keys) == sorted(f"call-outcome:{c}" for c in call_ids)
    assert all(row(db, c).attempts == 1 for c in call_ids)


def test_a_claimed_row_cannot_be_claimed_again_until_its_lease_ends(db: Database) -> None:
    call_id, _ = new_call(db)
    finish(db, call_id, deliver_to="https://wallet.example.test/outcomes")
    now = datetime.now(UTC)
    lease_end = now + timedelta(seconds=30)
    first = _claim(db, call_id, now, lease_end)
    assert first is not None and first.attempt == 1
    assert _claim(db, call_id, now, lease_end) is None
    assert _claim(db, call_id, lease_end + timedelta(seconds=1), lease_end) is not None


async def test_without_a_secret_no_signature_is_sent(
    db: Database, receiver: Receiver, outcome_settings: Settings
) -> None:
    call_id, _ = new_call(db)
    finish(db, call_id, deliver_to=receiver.url)
    unsigned = outcome_settings.model_copy(update={"outcome_webhook_secret": ""})
    assert await OutcomeDispatcher(db, unsigned).deliver_due() == 1
    [request] = receiver.requests
    signing = {"webhook-id", "webhook-timestamp", "webhook-signature", "x-voicebot-signature"}
    assert not signing & set(request.headers)


async def test_started_dispatcher_delivers_when_nudged(
    db: Database, receiver: Receiver, outcome_settings: Settings
) -> None:
    dispatcher = OutcomeDispatcher(db, outcome_settings)  # polls only every 60 s
    await dispatcher.start()
    try:
        await asyncio.sleep(0.1)  # the first pass finds nothing
        call_id, _ = new_call(db)
        finish(db, call_id, deliver_to=receiver.url)
        dispatcher.nudge()
        for _ in range(200):
            if row(db, call_id).delivered_at is not None:
                break
            await asyncio.sleep(0.025)
    finally:
        await dispatcher.stop()
    assert row(db, call_id).delivered_at is not None
    assert len(receiver.requests) == 1


def test_backoff_doubles_from_one_second_up_to_the_cap_with_small_jitter() -> None:
    rng = random.Random(7)
    for failures, base in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 256), (10, 300), (5000, 300)]:
        delay = backoff_s(failures, 300.0, rng)
        assert base <= delay <= base * 1.1, (failures, delay)
