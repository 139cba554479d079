"""The dialer's SQL side: callbacks, their attempts and gate decisions (blocking).

SQL is the source of truth; every change that two workers could race on is one
conditional UPDATE or a unique INSERT, so exactly one of them wins:

- reserving attempt N inserts ``(callback_id, N)`` (unique) and moves the
  callback ``queued -> dialing`` in one committed transaction, *before* the
  carrier is asked for the call; only the worker whose transaction committed dials;
- an attempt's life: ``reserved`` (row written) -> call id bound -> ``dialed``
  (the carrier answered with a CallSid) -> an ending status. A ``reserved`` row a
  dead worker left behind becomes ``abandoned`` (no call id: it never reached the
  carrier) or ``unknown`` (it may have): an unknown attempt blocks further
  attempts until the calls table says what happened, or it is taken as ``lost``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from voicebot.consent.gate import DialHistory
from voicebot.consent.gate import GateDecision as Decision
from voicebot.records.db import Database
from voicebot.records.models import CallbackAttempt, CallbackRecord, CallRecord, GateDecision

RESERVED, UNKNOWN, DIALED = "reserved", "unknown", "dialed"
LIVE = (RESERVED, UNKNOWN, DIALED)  # a call may be on the line
ABANDONED = "abandoned"  # reserved, never reached the carrier
COMPLETED = "completed"
LOST = "lost"  # may have been placed, left no trace at all
NO_OUTCOME = "no-outcome"  # completed, yet the call recorded no outcome
REJECTED = "rejected"  # the carrier refused the request
RETRYABLE = ("busy", "no-answer", "failed", "canceled", LOST, NO_OUTCOME, REJECTED)
FALLBACK = "fallback"  # prefix of the fallback's row: fallback_sms, fallback_webhook, ...
NOT_PLACED = (ABANDONED,)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes, which are UTC here."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class AttemptRow:
    attempt: int
    call_id: str | None
    status: str
    created_at: datetime

    @property
    def placed(self) -> bool:
        """A call that may have rung (what the caps and the attempt limit count)."""
        return self.status not in NOT_PLACED and not self.status.startswith(FALLBACK)


@dataclass(frozen=True)
class Target:
    """A callback as the dialer sees it."""

    id: str
    client: str
    state: str
    purpose: str
    event_id: str
    request: dict[str, Any]
    earliest_at: datetime | None
    deadline: datetime | None
    updated_at: datetime
    attempts: tuple[AttemptRow, ...]

    @property
    def phone(self) -> str:
        return str(self.request["customer"]["phone"])

    @property
    def placed(self) -> list[AttemptRow]:
        return [a for a in self.attempts if a.placed]

    @property
    def next_attempt(self) -> int:
        return max((a.attempt for a in self.attempts), default=0) + 1


def load(db: Database, callback_id: str) -> Target | None:
    with db.session() as s:
        record = s.get(CallbackRecord, callback_id)
        if record is None:
            return None
        rows = s.scalars(
            select(CallbackAttempt)
            .where(CallbackAttempt.callback_id == callback_id)
            .order_by(CallbackAttempt.attempt)
        ).all()
        return Target(
            id=record.id,
            client=record.client,
            state=record.state,
            purpose=record.purpose,
            event_id=record.event_id,
            request=record.request,
            earliest_at=None if record.earliest_at is None else _utc(record.earliest_at),
            deadline=None if record.deadline is None else _utc(record.deadline),
            updated_at=_utc(record.updated_at),
            attempts=tuple(
                AttemptRow(a.attempt, a.call_id, a.status, _utc(a.created_at)) for a in rows
            ),
        )


def history(db: Database, target: Target) -> DialHistory:
    """Calls to the number (any purpose, any source: the calls table) and about this event."""
    with db.session() as s:
        number = s.scalars(
            select(CallRecord.created_at).where(CallRecord.customer_phone == target.phone)
        ).all()
    return DialHistory(
        number_attempts=tuple(_utc(t) for t in number),
        event_attempts=tuple(a.created_at for a in target.placed),
    )


def store_decision(db: Database, callback_id: str, decision: Decision, now: datetime) -> None:
    """Keep every gate answer with its reasons: the client sees why a call waits or never came."""
    with db.session() as s, s.begin():
        s.add(
            GateDecision(
                callback_id=callback_id,
                decided_at=now,
                allowed=decision.allowed,
                reasons=list(decision.reasons),
                retry_at=decision.retry_at,
            )
        )


def set_state(db: Database, callback_id: str, state: str, now: datetime, *, from_: str) -> bool:
    """Move a callback on only from the state the caller saw (a cancel may have won)."""
    with db.session() as s, s.begin():
        result = s.execute(
            update(CallbackRecord)
            .where(CallbackRecord.id == callback_id, CallbackRecord.state == from_)
            .values(state=state, updated_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def reserve(db: Database, callback_id: str, attempt: int, now: datetime) -> bool:
    """Claim attempt ``attempt``, committed before any call is placed; False: another worker has.

    The unique (callback_id, attempt) and the conditional ``queued -> dialing``
    each let only one of two racing workers through; a cancel also stops it here.
    """
    try:
        with db.session() as s, s.begin():
            moved = s.execute(
                update(CallbackRecord)
                .where(CallbackRecord.id == callback_id, CallbackRecord.state == "queued")
                .values(state="dialing", updated_at=now)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return False
            s.add(
                CallbackAttempt(
                    callback_id=callback_id, attempt=attempt, status=RESERVED, created_at=now
                )
            )
    except IntegrityError:
        return False
    return True


def bind_call(db: Database, callback_id: str, attempt: int, call_id: str) -> bool:
    """Record the call id before the carrier is asked; False: the sweep gave the row up."""
    with db.session() as s, s.begin():
        result = s.execute(
            update(CallbackAttempt)
            .where(
                CallbackAttempt.callback_id == callback_id,
                CallbackAttempt.attempt == attempt,
                CallbackAttempt.status == RESERVED,
                CallbackAttempt.call_id.is_(None),
            )
            .values(call_id=call_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_dialed(db: Database, callback_id: str, attempt: int, call_sid: str | None) -> None:
    """The carrier took the call: the attempt is dialed and the call record has its CallSid."""
    with db.session() as s, s.begin():
        row = s.scalar(
            select(CallbackAttempt).where(
                CallbackAttempt.callback_id == callback_id, CallbackAttempt.attempt == attempt
            )
        )
        if row is None:
            return
        if row.status in (RESERVED, UNKNOWN):
            row.status = DIALED
        if row.call_id is not None and call_sid:
            s.execute(
                update(CallRecord)
                .where(CallRecord.id == row.call_id, CallRecord.call_sid.is_(None))
                .values(call_sid=call_sid)
            )


def mark_unknown(db: Database, callback_id: str, attempt: int) -> None:
    """The call request failed midway: maybe placed, so never dialed again as such."""
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackAttempt)
            .where(
                CallbackAttempt.callback_id == callback_id,
                CallbackAttempt.attempt == attempt,
                CallbackAttempt.status == RESERVED,
            )
            .values(status=UNKNOWN)
        )


@dataclass(frozen=True)
class CallLink:
    callback_id: str
    attempt: int
    status: str


def attempt_for_call(db: Database, call_id: str) -> CallLink | None:
    with db.session() as s:
        row = s.scalar(select(CallbackAttempt).where(CallbackAttempt.call_id == call_id))
        return None if row is None else CallLink(row.callback_id, row.attempt, row.status)


@dataclass(frozen=True)
class CallTrace:
    """What the calls table knows of a call (the status and voice webhooks fill it in)."""

    call_sid: str | None
    carrier_status: str | None
    final: bool
    outcome: str | None


def call_trace(db: Database, call_id: str) -> CallTrace | None:
    with db.session() as s:
        call = s.get(CallRecord, call_id)
        if call is None:
            return None
        return CallTrace(
            call.call_sid, call.carrier_status, call.carrier_status_rank >= 4, call.outcome
        )


def end_attempt(
    db: Database,
    callback_id: str,
    attempt: int,
    status: str,
    next_state: str,
    now: datetime,
    *,
    fallback: str | None = None,
) -> bool:
    """Give a live attempt its ending and the callback its next state, at most once.

    With ``fallback`` (e.g. "fallback_sms_pending") its row is claimed in the same
    transaction, so only one worker sends it. False: another worker settled the
    attempt, or the callback was cancelled meanwhile (nothing more to do).
    """
    with db.session() as s, s.begin():
        ended = s.execute(
            update(CallbackAttempt)
            .where(
                CallbackAttempt.callback_id == callback_id,
                CallbackAttempt.attempt == attempt,
                CallbackAttempt.status.in_(LIVE),
            )
            .values(status=status)
        )
        if not ended.rowcount:  # type: ignore[attr-defined]
            return False
        moved = s.execute(
            update(CallbackRecord)
            .where(CallbackRecord.id == callback_id, CallbackRecord.state == "dialing")
            .values(state=next_state, updated_at=now)
        )
        if not moved.rowcount:  # type: ignore[attr-defined]
            return False
        if fallback is not None:
            s.add(_fallback_row(s, callback_id, fallback, now))
    return True


def claim_fallback(db: Database, callback_id: str, kind: str, now: datetime, *, from_: str) -> bool:
    """End a callback as failed and claim its fallback row in one transaction."""
    try:
        with db.session() as s, s.begin():
            moved = s.execute(
                update(CallbackRecord)
                .where(CallbackRecord.id == callback_id, CallbackRecord.state == from_)
                .values(state="failed", updated_at=now)
            )
            if not moved.rowcount:  # type: ignore[attr-defined]
                return False
            s.add(_fallback_row(s, callback_id, kind, now))
    except IntegrityError:
        return False
    return True


def _fallback_row(s: Any, callback_id: str, kind: str, now: datetime) -> CallbackAttempt:
    top = s.scalar(
        select(func.max(CallbackAttempt.attempt)).where(CallbackAttempt.callback_id == callback_id)
    )
    return CallbackAttempt(
        callback_id=callback_id, attempt=(top or 0) + 1, status=kind, created_at=now
    )


def set_fallback_status(db: Database, callback_id: str, kind: str, status: str) -> None:
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackAttempt)
            .where(CallbackAttempt.callback_id == callback_id, CallbackAttempt.status == kind)
            .values(status=status)
        )


def give_up_stale_reservations(db: Database, older_than: datetime) -> int:
    """Rows a dead worker left: no call id -> abandoned (never dialed), else unknown."""
    with db.session() as s, s.begin():
        stale = CallbackAttempt.status == RESERVED, CallbackAttempt.created_at < older_than
        abandoned = s.execute(
            update(CallbackAttempt)
            .where(*stale, CallbackAttempt.call_id.is_(None))
            .values(status=ABANDONED)
        )
        unknown = s.execute(
            update(CallbackAttempt)
            .where(*stale, CallbackAttempt.call_id.is_not(None))
            .values(status=UNKNOWN)
        )
        return int(abandoned.rowcount + unknown.rowcount)  # type: ignore[attr-defined]


def dialing_callbacks(db: Database) -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(CallbackRecord.id).where(CallbackRecord.state == "dialing")))


def queued_untouched_since(db: Database, before: datetime) -> list[str]:
    with db.session() as s:
        return list(
            s.scalars(
                select(CallbackRecord.id).where(
                    CallbackRecord.state == "queued", CallbackRecord.updated_at < before
                )
            )
        )
