"""What the dialer workers do: dial a callback, settle a call that ended, sweep.

Each function reads the truth from SQL when it runs, so a job that runs late,
twice, or after a Redis flush does the right thing: a job only says when to look.

- ``dial``: the consent gate at dial time (every refusal stored with its
  reasons, and the "allowed" that a call follows), then the shared limits, then
  the attempt reserved in SQL *before* the carrier is asked.
- ``call_ended``: from the status webhook; the outcome completes the callback
  (a "call me back" also queues a follow-up callback at the time said),
  busy / no-answer / failed retries after a backoff, the last failure sends the
  fallback (a webhook or an SMS) and fails it.
- ``sweep`` (periodic): gives up reservations of dead workers, settles calls
  whose end was missed, and re-enqueues queued callbacks that have no job.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from loguru import logger

from voicebot import redis_client
from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.calls.outbound import prepare_call
from voicebot.calls.state import CallStore
from voicebot.config import Settings
from voicebot.consent.gate import DialRequest, GateDecision, GatePolicy, evaluate
from voicebot.consent.registry import consent_facts
from voicebot.dialer import ledger
from voicebot.dialer.carrier import Dialer, TwilioDialer
from voicebot.dialer.limits import ACTIVE_MAX_S, DialLimits
from voicebot.dialer.queue import DialQueue
from voicebot.errors import CallbackConflictError, CallNotFoundError, DialRefusedError
from voicebot.outcomes.signing import sign
from voicebot.records.callbacks import create_callback
from voicebot.records.calls import get_call
from voicebot.records.db import Database
from voicebot.records.opt_outs import is_opted_out

CALLBACK_REQUESTED = "callback_requested"
FOLLOW_UP = "+callback"  # appended to the event id of a callback the customer asked for
MAX_FOLLOW_UPS = 2
FOLLOW_UP_WINDOW = timedelta(days=1)  # the follow-up's deadline, after the time said
OUTCOME_CHECKS = 12  # a completed call's outcome is looked for this many times...
OUTCOME_CHECK_S = 5.0  # ...this far apart (the record is written as the stream closes)


@dataclass
class Runtime:
    """Everything a worker process needs, built once at start-up."""

    settings: Settings
    db: Database
    store: CallStore
    queue: DialQueue
    limits: DialLimits
    dialer: Dialer
    policy: GatePolicy
    _owned: list[Any] = field(default_factory=list)

    @classmethod
    def create(
        cls, settings: Settings, *, dialer: Dialer | None = None, queue: DialQueue | None = None
    ) -> Runtime:
        redis = redis_client.connect(settings.redis_url)
        own_queue = queue is None
        queue = queue or DialQueue.from_settings(settings)
        runtime = cls(
            settings=settings,
            db=Database(settings.database_url),
            store=CallStore(redis, settings.redis_prefix),
            queue=queue,
            limits=DialLimits(
                redis,
                settings.redis_prefix,
                calls_per_second=settings.dial_calls_per_second,
                max_concurrent=settings.dial_max_concurrent,
            ),
            dialer=dialer or TwilioDialer.from_settings(settings),
            policy=GatePolicy.from_settings(settings),
        )
        runtime._owned = [redis, queue] if own_queue else [redis]
        return runtime

    async def close(self) -> None:
        for owned in self._owned:
            if isinstance(owned, DialQueue):
                await owned.close()
            else:
                await owned.aclose()
        self.db.engine.dispose()

    def backoff(self, placed: int) -> timedelta:
        """The wait after the ``placed``-th failed call (the last configured value repeats)."""
        delays = self.settings.dial_retry_backoff_s
        return timedelta(seconds=delays[min(placed, len(delays)) - 1])

    @property
    def caller_id(self) -> str:
        return self.settings.caller_ids[0]


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _slot(callback_id: str, attempt: int) -> str:
    return f"{callback_id}:{attempt}"


def call_context(target: ledger.Target, attempt: int) -> CallContext:
    """What the bot needs to know on the call, from the request the client sent."""
    request = target.request
    customer = request["customer"]
    transaction = request.get("transaction")
    return CallContext(
        purpose=request["purpose"],
        customer=Customer(
            first_name=customer["first_name"],
            last_name=customer.get("last_name") or "",
            phone=customer["phone"],
            timezone=customer.get("timezone") or "UTC",
        ),
        transaction=Transaction.model_validate(transaction) if transaction else None,
        case_id=request.get("case_id"),
        metadata={"callback_id": target.id, "attempt": str(attempt)},
    )


async def dial(rt: Runtime, callback_id: str, *, now: datetime | None = None) -> str:
    """Place the callback's next call if everything allows it now; returns what happened."""
    now = _now(now)
    target = await asyncio.to_thread(ledger.load, rt.db, callback_id)
    if target is None or target.state != "queued":
        return "skipped"  # cancelled, ended, or a call is already on the line
    placed = target.placed
    if target.deadline is not None and now >= target.deadline:
        await _fail_with_fallback(rt, target, now, from_="queued", send=bool(placed))
        return "expired"
    if len(placed) >= rt.settings.dial_max_attempts:
        await _fail_with_fallback(rt, target, now, from_="queued", send=True)
        return "exhausted"
    not_before = target.earliest_at
    if placed and placed[-1].status in ledger.RETRYABLE:
        due = target.updated_at + rt.backoff(len(placed))  # updated when that call ended
        not_before = due if not_before is None else max(not_before, due)
    if not_before is not None and now < not_before:
        await rt.queue.enqueue_dial(callback_id, at=not_before)
        return "waiting"

    # The gate first: a refusal never waits for a free line. Its "allowed" is
    # stored only once the limits let the call go (else it is asked again then).
    decision = await _ask_gate(rt, target, now)
    if not decision.allowed:
        await _refused(rt, target, decision, now)
        return "refused"
    attempt = target.next_attempt
    slot = _slot(callback_id, attempt)
    if not await rt.limits.take_call_slot(slot):
        await _defer(rt, callback_id, rt.settings.dial_limit_defer_s)
        return "deferred"
    wait = await rt.limits.take_rate_token()
    if wait:
        await rt.limits.release_call_slot(slot)
        await _defer(rt, callback_id, wait)
        return "deferred"
    await asyncio.to_thread(ledger.store_decision, rt.db, target.id, decision, now)
    if not await asyncio.to_thread(ledger.reserve, rt.db, callback_id, attempt, now):
        await rt.limits.release_call_slot(slot)
        return "lost-race"  # another worker reserved this attempt, or it was cancelled
    return await _place(rt, target, attempt, now)


async def _defer(rt: Runtime, callback_id: str, seconds: float) -> None:
    """Over a limit: look again shortly, never drop the job."""
    await rt.queue.enqueue_dial(callback_id, at=datetime.now(UTC) + timedelta(seconds=seconds))


async def _ask_gate(rt: Runtime, target: ledger.Target, now: datetime) -> GateDecision:
    """The consent gate's answer for this callback now, from SQL."""
    facts = await asyncio.to_thread(consent_facts, rt.db, target.phone, target.purpose, now)
    history = await asyncio.to_thread(ledger.history, rt.db, target)
    request = DialRequest(
        phone=target.phone,
        purpose=target.purpose,
        customer_timezone=target.request["customer"].get("timezone"),
        event_id=target.event_id,
        caller_id=rt.caller_id,
    )
    return evaluate(request, facts, history, rt.policy, now)


async def _refused(
    rt: Runtime, target: ledger.Target, decision: GateDecision, now: datetime
) -> None:
    """Store the refusal with its reasons; reschedule it if time may lift it, else end it."""
    await asyncio.to_thread(ledger.store_decision, rt.db, target.id, decision, now)
    retry_at = decision.retry_at
    if retry_at is not None and (target.deadline is None or retry_at < target.deadline):
        await rt.queue.enqueue_dial(target.id, at=retry_at)
        logger.info(f"{target.id}: gate refused ({decision.reasons}), again at {retry_at}")
    else:
        await asyncio.to_thread(ledger.set_state, rt.db, target.id, "refused", now, from_="queued")
        logger.info(f"{target.id}: gate refused for good ({decision.reasons})")


async def _place(rt: Runtime, target: ledger.Target, attempt: int, now: datetime) -> str:
    """The attempt is ours: register the call, bind it, ask the carrier, record the answer.

    Until the carrier is asked, a failure frees the call slot (no call can be on
    the line); the reservation left behind is given up by the sweep.
    """
    slot = _slot(target.id, attempt)
    try:
        call_id = await prepare_call(rt.store, rt.db, call_context(target, attempt))
        bound = await asyncio.to_thread(ledger.bind_call, rt.db, target.id, attempt, call_id)
    except Exception:
        await rt.limits.release_call_slot(slot)
        raise
    if not bound:
        await rt.limits.release_call_slot(slot)
        return "given-up"  # the sweep took this reservation for a dead worker's
    base = rt.settings.public_base_url
    try:
        call_sid = await asyncio.to_thread(
            rt.dialer.create_call,
            target.phone,
            rt.caller_id,
            f"{base}/twilio/voice?call_id={call_id}",
            f"{base}/twilio/status?call_id={call_id}",
            "Enable",
        )
    except DialRefusedError as e:
        logger.warning(f"{target.id}: attempt {attempt} refused by the carrier: {e}")
        await rt.limits.release_call_slot(slot)
        await settle(rt, target.id, attempt, ledger.REJECTED, now)
        return "rejected"
    except Exception:
        # Maybe placed, maybe not: never dial this attempt again; the sweep reconciles it.
        logger.exception(f"{target.id}: attempt {attempt}: the call request failed")
        await asyncio.to_thread(ledger.mark_unknown, rt.db, target.id, attempt)
        return "unknown"
    await asyncio.to_thread(ledger.mark_dialed, rt.db, target.id, attempt, call_sid)
    logger.info(f"{target.id}: attempt {attempt} dialed as {call_id} ({call_sid})")
    return "dialed"


async def call_ended(
    rt: Runtime, call_id: str, status: str, check: int = 0, *, now: datetime | None = None
) -> str:
    """A call reached a final carrier status: move its callback on (at most once)."""
    link = await asyncio.to_thread(ledger.attempt_for_call, rt.db, call_id)
    if link is None:
        return "not-ours"
    await rt.limits.release_call_slot(_slot(link.callback_id, link.attempt))
    if link.status not in ledger.LIVE:
        return "settled"
    if status == "completed":
        trace = await asyncio.to_thread(ledger.call_trace, rt.db, call_id)
        outcome = trace.outcome if trace is not None else None
        if outcome is None:
            outcome = await _live_outcome(rt, call_id)
        if outcome == CALLBACK_REQUESTED:
            # Before the attempt is settled: a crash in between repeats this, not loses it.
            await _follow_up(rt, link.callback_id, call_id, _now(now))
        if outcome is not None:
            result = ledger.COMPLETED
        elif check < OUTCOME_CHECKS:
            await rt.queue.enqueue_call_ended(
                call_id, status, check=check + 1, defer_s=OUTCOME_CHECK_S
            )
            return "waiting-for-outcome"
        else:
            result = ledger.NO_OUTCOME
    else:
        result = status if status in ledger.RETRYABLE else "failed"
    return await settle(rt, link.callback_id, link.attempt, result, _now(now))


async def _follow_up(rt: Runtime, callback_id: str, call_id: str, now: datetime) -> None:
    """The customer asked to be called back: a new callback, at the time they said.

    Idempotent: its event id derives from the parent's, so settling the call twice
    queues one follow-up. Without a time (or one already past), it waits
    ``callback_default_delay_s``. A chain stops after ``MAX_FOLLOW_UPS``: someone
    who keeps saying "later" is not called forever (the outcome still tells the
    wallet backend).
    """
    target = await asyncio.to_thread(ledger.load, rt.db, callback_id)
    if target is None or target.event_id.count(FOLLOW_UP) >= MAX_FOLLOW_UPS:
        return
    record = await asyncio.to_thread(get_call, rt.db, call_id)
    said = (record or {}).get("fields", {}).get("callback_at")
    at = _parse_time(said) if isinstance(said, str) else None
    if at is None or at <= now:
        at = now + timedelta(seconds=rt.settings.callback_default_delay_s)
    event_id = f"{target.event_id}{FOLLOW_UP}"
    request = target.request | {
        "event_id": event_id,
        "earliest_at": at.isoformat(),
        "deadline": (at + FOLLOW_UP_WINDOW).isoformat(),
    }
    try:
        child, created = await asyncio.to_thread(
            create_callback,
            rt.db,
            client=target.client,
            event_id=event_id,
            purpose=target.purpose,
            urgency=target.request.get("urgency", "normal"),
            earliest_at=at,
            deadline=at + FOLLOW_UP_WINDOW,
            request=request,
            now=now,
        )
    except CallbackConflictError:
        return  # queued by an earlier run of this job (its default time was another "now")
    if created:
        await rt.queue.new_callback(child.id, at)
        logger.info(f"{callback_id}: the customer asked for a callback: {child.id} at {at}")


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _live_outcome(rt: Runtime, call_id: str) -> str | None:
    """The outcome as the dialog decided it (Redis), before the SQL record is written."""
    try:
        return (await rt.store.get(call_id)).get("outcome")
    except CallNotFoundError:
        return None


async def settle(rt: Runtime, callback_id: str, attempt: int, result: str, now: datetime) -> str:
    """End one attempt: complete, retry after the backoff, or fail with the fallback."""
    if result == ledger.COMPLETED:
        await asyncio.to_thread(
            ledger.end_attempt, rt.db, callback_id, attempt, result, "completed", now
        )
        return "completed"
    target = await asyncio.to_thread(ledger.load, rt.db, callback_id)
    if target is None:
        return "gone"
    placed = len(target.placed)  # this attempt included
    out_of_time = target.deadline is not None and now + rt.backoff(placed) >= target.deadline
    if placed >= rt.settings.dial_max_attempts or out_of_time:
        kind = _fallback_kind(rt)
        if await asyncio.to_thread(
            ledger.end_attempt,
            rt.db,
            callback_id,
            attempt,
            result,
            "failed",
            now,
            fallback=f"{kind}_pending",
        ):
            await _send_fallback(rt, target, kind)
        return "failed"
    if await asyncio.to_thread(
        ledger.end_attempt, rt.db, callback_id, attempt, result, "queued", now
    ):
        await rt.queue.enqueue_dial(callback_id, at=now + rt.backoff(placed))
    return "retry"


def _fallback_kind(rt: Runtime) -> str:
    return "fallback_webhook" if rt.settings.fallback_webhook_url else "fallback_sms"


async def _fail_with_fallback(
    rt: Runtime, target: ledger.Target, now: datetime, *, from_: str, send: bool
) -> None:
    if not send:
        await asyncio.to_thread(ledger.set_state, rt.db, target.id, "failed", now, from_=from_)
        return
    kind = _fallback_kind(rt)
    if await asyncio.to_thread(
        ledger.claim_fallback, rt.db, target.id, f"{kind}_pending", now, from_=from_
    ):
        await _send_fallback(rt, target, kind)


async def _send_fallback(rt: Runtime, target: ledger.Target, kind: str) -> None:
    """Tell the customer (or the wallet backend) that the calls did not get through.

    Never texts a number that opted out. The row claimed for it says how it went.
    """
    status = "sent"
    try:
        if kind == "fallback_webhook":
            await _post_fallback(rt, target)
        elif await asyncio.to_thread(is_opted_out, rt.db, target.phone):
            status = "skipped_opted_out"
        else:
            text = rt.settings.fallback_sms_text.replace(
                "{business}", rt.settings.business_name
            ).replace("{callback_number}", rt.settings.callback_number)
            await asyncio.to_thread(rt.dialer.send_sms, target.phone, rt.caller_id, text)
    except Exception:
        logger.exception(f"{target.id}: the fallback ({kind}) failed")
        status = "failed"
    await asyncio.to_thread(
        ledger.set_fallback_status, rt.db, target.id, f"{kind}_pending", f"{kind}_{status}"
    )


async def _post_fallback(rt: Runtime, target: ledger.Target) -> None:
    """The wallet backend decides how else to reach the customer; signed like outcomes."""
    body = json.dumps(
        {
            "callback_id": target.id,
            "event_id": target.event_id,
            "purpose": target.purpose,
            "customer_phone": target.phone,
            "reason": "calls_did_not_connect",
            "attempts": len(target.placed),
        },
        separators=(",", ":"),
    ).encode()
    key = f"fallback:{target.id}"
    headers = {"Content-Type": "application/json", "Idempotency-Key": key}
    secret = rt.settings.outcome_webhook_secret.get_secret_value()
    if secret:
        headers |= sign(secret, body, msg_id=key, timestamp=int(time.time()))
    async with httpx.AsyncClient(timeout=rt.settings.outcome_webhook_timeout_s) as client:
        response = await client.post(
            rt.settings.fallback_webhook_url, content=body, headers=headers
        )
        response.raise_for_status()


async def sweep(rt: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """Repair what crashes and lost jobs leave behind; SQL says what is true."""
    now = _now(now)
    settings = rt.settings
    given_up = await asyncio.to_thread(
        ledger.give_up_stale_reservations,
        rt.db,
        now - timedelta(seconds=settings.dial_reserve_timeout_s),
    )
    reconciled = 0
    for callback_id in await asyncio.to_thread(ledger.dialing_callbacks, rt.db):
        reconciled += await _reconcile(rt, callback_id, now)
    pending = await rt.queue.pending_dials()
    quiet_since = now - timedelta(seconds=settings.dial_sweep_grace_s)
    requeued = 0
    for callback_id in await asyncio.to_thread(ledger.queued_untouched_since, rt.db, quiet_since):
        if callback_id not in pending and await rt.queue.enqueue_dial(callback_id):
            requeued += 1
    if given_up or reconciled or requeued:
        logger.info(
            f"sweep: {given_up} reservations given up, {reconciled} reconciled, "
            f"{requeued} re-enqueued"
        )
    return {"given_up": given_up, "reconciled": reconciled, "requeued": requeued}


async def _reconcile(rt: Runtime, callback_id: str, now: datetime) -> int:
    """A callback in ``dialing``: find out from the calls table what became of its call."""
    target = await asyncio.to_thread(ledger.load, rt.db, callback_id)
    if target is None or target.state != "dialing":
        return 0
    live = [a for a in target.attempts if a.status in ledger.LIVE]
    if not live:  # the reservation was abandoned before any call: try again
        if await asyncio.to_thread(
            ledger.set_state, rt.db, callback_id, "queued", now, from_="dialing"
        ):
            await rt.queue.enqueue_dial(callback_id)
            return 1
        return 0
    attempt = live[-1]
    if attempt.status == ledger.RESERVED or attempt.call_id is None:
        return 0  # a worker is still at it
    trace = await asyncio.to_thread(ledger.call_trace, rt.db, attempt.call_id)
    age = now - attempt.created_at
    if trace is not None and trace.final and trace.carrier_status:
        await call_ended(rt, attempt.call_id, trace.carrier_status, now=now)
        return 1
    if trace is not None and (trace.call_sid or trace.carrier_status):
        if attempt.status == ledger.UNKNOWN:  # the carrier's webhooks prove it was placed
            await asyncio.to_thread(
                ledger.mark_dialed, rt.db, callback_id, attempt.attempt, trace.call_sid
            )
            return 1
        if age < timedelta(seconds=ACTIVE_MAX_S):
            return 0  # on the line, or its end not reported yet
    elif age < timedelta(seconds=rt.settings.dial_unknown_timeout_s):
        return 0  # no trace yet: the carrier may still report it
    await rt.limits.release_call_slot(_slot(callback_id, attempt.attempt))
    await settle(rt, callback_id, attempt.attempt, ledger.LOST, now)
    return 1
