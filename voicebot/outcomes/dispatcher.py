"""Delivers queued call outcomes to the wallet backend, at least once.

The queue is the ``outcome_deliveries`` table, filled by ``finish_call`` in the
call record's own transaction. Any number of processes may run a dispatcher on
one database: a row is claimed by a conditional UPDATE that moves its
``next_attempt_at`` past a lease, and only the process whose UPDATE changed the
row sends it. A process that dies mid-send leaves the row to be retried when the
lease runs out, so the receiver may see a request twice and must de-duplicate by
``Idempotency-Key`` (the same on every attempt). Rows are never deleted.
"""

from __future__ import annotations

import asyncio
import random
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from loguru import logger
from sqlalchemy import select, update

from voicebot.config import Settings
from voicebot.outcomes.signing import sign
from voicebot.records.db import Database
from voicebot.records.models import OutcomeDelivery

BATCH = 50  # rows looked at per pass; a full batch starts the next pass at once
BACKOFF_BASE_S = 1.0
JITTER = 0.1  # up to 10 % more, so rows that failed together do not retry in lock-step
LEASE_MARGIN_S = 30.0  # a claim outlives the HTTP timeout by this much
ERROR_MAX_CHARS = 500


@dataclass(frozen=True)
class Claimed:
    """A row this process holds the lease on, with what it needs to send it."""

    call_id: str
    url: str
    payload: str
    idempotency_key: str
    attempt: int  # 1 for the first try


def backoff_s(failures: int, cap_s: float, rng: random.Random | None = None) -> float:
    """Wait after ``failures`` failed attempts: 1 s, 2 s, 4 s... up to ``cap_s``, plus jitter."""
    delay = min(cap_s, BACKOFF_BASE_S * 2.0 ** min(max(failures - 1, 0), 32))
    return delay + (rng or random).uniform(0.0, delay * JITTER)


def _now() -> datetime:
    return datetime.now(UTC)


def _due_ids(db: Database, now: datetime, limit: int) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(
                select(OutcomeDelivery.call_id)
                .where(
                    OutcomeDelivery.delivered_at.is_(None), OutcomeDelivery.next_attempt_at <= now
                )
                .order_by(OutcomeDelivery.next_attempt_at)
                .limit(limit)
            )
        )


def _claim(db: Database, call_id: str, now: datetime, lease_until: datetime) -> Claimed | None:
    """Take the row for one attempt, unless another process took it first."""
    with db.session() as s, s.begin():
        result = s.execute(
            update(OutcomeDelivery)
            .where(
                OutcomeDelivery.call_id == call_id,
                OutcomeDelivery.delivered_at.is_(None),
                OutcomeDelivery.next_attempt_at <= now,
            )
            .values(next_attempt_at=lease_until, attempts=OutcomeDelivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = s.get_one(OutcomeDelivery, call_id)
        return Claimed(row.call_id, row.url, row.payload, row.idempotency_key, row.attempts)


def _mark_delivered(db: Database, call_id: str) -> None:
    with db.session() as s, s.begin():
        s.execute(
            update(OutcomeDelivery)
            .where(OutcomeDelivery.call_id == call_id, OutcomeDelivery.delivered_at.is_(None))
            .values(delivered_at=_now())
            .execution_options(synchronize_session=False)
        )


def _mark_failed(db: Database, claimed: Claimed, error: str, next_attempt_at: datetime) -> None:
    """Schedule the retry, unless the lease ran out and another attempt took over."""
    with db.session() as s, s.begin():
        s.execute(
            update(OutcomeDelivery)
            .where(
                OutcomeDelivery.call_id == claimed.call_id,
                OutcomeDelivery.delivered_at.is_(None),
                OutcomeDelivery.attempts == claimed.attempt,
            )
            .values(last_error=error[:ERROR_MAX_CHARS], next_attempt_at=next_attempt_at)
            .execution_options(synchronize_session=False)
        )


class OutcomeDispatcher:
    """A background task that sends due outcome rows; ``nudge`` after queueing one."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def _new_client(self) -> httpx.AsyncClient:
        # Redirects are not followed: a 3xx is a misconfigured URL, so it is retried
        # (and visible in last_error) rather than sent somewhere unplanned.
        return httpx.AsyncClient(timeout=self._settings.outcome_webhook_timeout_s)

    async def start(self) -> None:
        """Start delivering in the background (idempotent)."""
        if self._task is not None:
            return
        self._client = self._new_client()
        self._task = asyncio.create_task(self._run(), name="outcome-dispatcher")

    async def stop(self) -> None:
        """Stop; an attempt cut short stays claimed and is retried after its lease."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def nudge(self) -> None:
        """Look for due rows now instead of at the next poll (call from the event loop)."""
        self._wake.set()

    async def deliver_due(self) -> int:
        """One pass over the due rows; returns how many were delivered."""
        if self._client is not None:
            return await self._pass(self._client)
        async with self._new_client() as client:
            return await self._pass(client)

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # a nudge during the pass starts another one at once
            try:
                await self.deliver_due()
            except Exception:
                logger.exception("outcome deliveries: pass failed; trying again at the next poll")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.outcome_poll_s)

    async def _pass(self, client: httpx.AsyncClient) -> int:
        due = await asyncio.to_thread(_due_ids, self._db, _now(), BATCH)
        delivered = 0
        for call_id in due:
            if await self._attempt(client, call_id):
                delivered += 1
        if len(due) == BATCH:
            self._wake.set()
        return delivered

    async def _attempt(self, client: httpx.AsyncClient, call_id: str) -> bool:
        """Claim, send and record one attempt; True if the receiver accepted it."""
        now = _now()
        lease = timedelta(seconds=self._settings.outcome_webhook_timeout_s + LEASE_MARGIN_S)
        claimed = await asyncio.to_thread(_claim, self._db, call_id, now, now + lease)
        if claimed is None:
            return False  # another process has it, or delivered it meanwhile
        body = claimed.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": claimed.idempotency_key,
            "X-Voicebot-Attempt": str(claimed.attempt),
        }
        secret = self._settings.outcome_webhook_secret.get_secret_value()
        if secret:  # production always has one (config)
            # Standard Webhooks: the id is the idempotency key, so a replay under another fails.
            headers |= sign(
                secret, body, msg_id=claimed.idempotency_key, timestamp=int(time.time())
            )
        try:
            response = await client.post(claimed.url, content=body, headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            error = f"{type(e).__name__}: {e}"
        else:
            if response.is_success:
                await asyncio.to_thread(_mark_delivered, self._db, call_id)
                logger.info(
                    f"{call_id}: outcome delivered "
                    f"(attempt {claimed.attempt}, HTTP {response.status_code})"
                )
                return True
            error = f"HTTP {response.status_code}"
        delay = backoff_s(claimed.attempt, self._settings.outcome_retry_max_s)
        retry_at = _now() + timedelta(seconds=delay)
        await asyncio.to_thread(_mark_failed, self._db, claimed, error, retry_at)
        logger.warning(
            f"{call_id}: outcome delivery attempt {claimed.attempt} failed ({error}); "
            f"next in {delay:.1f} s"
        )
        return False
