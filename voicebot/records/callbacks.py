"""Callbacks the wallet backend asked for (blocking; call through ``asyncio.to_thread``).

A callback is created ``queued``; the dialer workers (later) move it to
``dialing`` and on to ``completed``, ``refused`` (the consent gate said no) or
``failed``, writing its attempts and gate decisions as they go. The client can
cancel it until it has ended.

Idempotency: ``(client, event_id)`` is unique in SQL. A repeat of the same
request returns the callback already stored; two requests racing each other are
settled by the constraint (the loser catches ``IntegrityError`` and reads the
winner's row). Reusing an event id for a *different* request is a conflict, not
a silent no-op: a second payment under a recycled id must not go unconfirmed.

Intake cap: with ``max_open_per_number``, a new callback is refused
(``CallbackLimitError``) while its number already has that many ``queued`` or
``dialing``, whichever client asked: it protects the person called. The count
and the insert share one transaction, serialised per number on PostgreSQL by
an advisory lock; SQLite (development) does not serialise them.

Nothing is stored that cannot be read back: times are converted to UTC before
the row is written, so a moment with no UTC equivalent fails here, not on every
later read of the row.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from voicebot.errors import (
    CallbackConflictError,
    CallbackLimitError,
    CallbackNotFoundError,
    CallbackRequestError,
)
from voicebot.records.db import Database
from voicebot.records.models import CallbackRecord

STATES = ("queued", "dialing", "completed", "refused", "cancelled", "failed")
CANCELLABLE = ("queued", "dialing")


@dataclass(frozen=True)
class Attempt:
    attempt: int
    call_id: str | None
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Decision:
    decided_at: datetime
    allowed: bool
    reasons: list[str]
    retry_at: datetime | None


@dataclass(frozen=True)
class Callback:
    """A callback as stored, with its attempts and the gate's decisions, in order."""

    id: str
    client: str
    event_id: str
    purpose: str
    state: str
    urgency: str
    earliest_at: datetime | None
    deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    request: dict[str, Any]
    attempts: list[Attempt]
    gate_decisions: list[Decision]


def new_callback_id() -> str:
    """Unguessable, so an id alone reveals nothing; ownership is still checked on every read."""
    return f"cb_{secrets.token_hex(16)}"


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes, which are UTC here."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc(moment)


def _storable(field: str, moment: datetime | None) -> datetime | None:
    """``moment`` in UTC, computed before anything is written; refused if it has none."""
    try:
        return _utc_or_none(moment)
    except OverflowError as e:
        raise CallbackRequestError(
            field, f"{field} {moment} has no date in UTC; give a moment between years 1 and 9999"
        ) from e


def _lock_number(s: Session, phone: str) -> None:
    """Serialise intake per number until the transaction ends (PostgreSQL only)."""
    if s.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(phone.encode()).digest()[:8], "big", signed=True)
        s.execute(select(func.pg_advisory_xact_lock(key)))


def open_for_number(s: Session, phone: str) -> list[str]:
    """Ids of the callbacks to ``phone`` that are queued or being dialed.

    Rows are found by text search in the stored request, then checked in Python:
    PostgreSQL's JSON operators fail on a whole row whose JSON holds an escaped
    NUL, which requests stored before NUL was refused may hold.
    """
    query = select(CallbackRecord.id, CallbackRecord.request).where(
        CallbackRecord.state.in_(CANCELLABLE),
        cast(CallbackRecord.request, Text).contains(phone, autoescape=True),
    )
    return [
        callback_id
        for callback_id, request in s.execute(query)
        if isinstance(request, dict) and (request.get("customer") or {}).get("phone") == phone
    ]


def _view(record: CallbackRecord) -> Callback:
    return Callback(
        id=record.id,
        client=record.client,
        event_id=record.event_id,
        purpose=record.purpose,
        state=record.state,
        urgency=record.urgency,
        earliest_at=_utc_or_none(record.earliest_at),
        deadline=_utc_or_none(record.deadline),
        created_at=_utc(record.created_at),
        updated_at=_utc(record.updated_at),
        request=record.request,
        attempts=[
            Attempt(a.attempt, a.call_id, a.status, _utc(a.created_at)) for a in record.attempts
        ],
        gate_decisions=[
            Decision(_utc(d.decided_at), d.allowed, list(d.reasons), _utc_or_none(d.retry_at))
            for d in record.decisions
        ],
    )


def _load(s: Session, **where: str) -> CallbackRecord | None:
    query = select(CallbackRecord).filter_by(**where)
    query = query.options(
        selectinload(CallbackRecord.attempts), selectinload(CallbackRecord.decisions)
    )
    return s.scalars(query).one_or_none()


def _find(db: Database, client: str, event_id: str) -> Callback | None:
    with db.session() as s:
        record = _load(s, client=client, event_id=event_id)
        return None if record is None else _view(record)


def _same_request(existing: Callback, request: dict[str, Any]) -> Callback:
    if existing.request != request:
        raise CallbackConflictError(
            f"event_id {existing.event_id!r} was already used for a different request "
            f"(callback {existing.id}); send a new event_id for a new request"
        )
    return existing


def create_callback(
    db: Database,
    *,
    client: str,
    event_id: str,
    purpose: str,
    urgency: str,
    earliest_at: datetime | None,
    deadline: datetime | None,
    request: dict[str, Any],
    now: datetime | None = None,
    max_open_per_number: int | None = None,
) -> tuple[Callback, bool]:
    """Queue a callback; returns it and whether it is new (False: the same event again).

    The deadline and the intake cap (``max_open_per_number``, None: no cap; the
    number is the request's ``customer.phone``) are checked only for a new
    callback: a retry that arrives after the deadline, or once the number is
    full, still gets the callback it created, not an error.
    """
    existing = _find(db, client, event_id)
    if existing is not None:
        return _same_request(existing, request), False
    now = now or datetime.now(UTC)
    earliest_at = _storable("earliest_at", earliest_at)
    deadline = _storable("deadline", deadline)
    if deadline is not None and deadline <= now:
        raise CallbackRequestError(
            "deadline", f"deadline must be in the future; {deadline.isoformat()} has passed"
        )
    record = CallbackRecord(
        id=new_callback_id(),
        client=client,
        event_id=event_id,
        purpose=purpose,
        state="queued",
        request=request,
        urgency=urgency,
        earliest_at=earliest_at,
        deadline=deadline,
        created_at=now,
        updated_at=now,
        attempts=[],
        decisions=[],
    )
    try:
        with db.session() as s, s.begin():
            if max_open_per_number is not None:
                phone = request["customer"]["phone"]
                _lock_number(s, phone)
                already = len(open_for_number(s, phone))
                if already >= max_open_per_number:
                    raise CallbackLimitError(phone, already, max_open_per_number)
            s.add(record)
    except IntegrityError:
        # Another request with this event id committed first: answer with its callback.
        existing = _find(db, client, event_id)
        if existing is None:
            raise
        return _same_request(existing, request), False
    return _view(record), True


def get_callback(db: Database, *, client: str, callback_id: str) -> Callback:
    """One of this client's callbacks; another client's is as unknown as a missing one."""
    with db.session() as s:
        record = _load(s, id=callback_id, client=client)
        if record is None:
            raise CallbackNotFoundError(f"no callback {callback_id!r}")
        return _view(record)


def cancel_callback(
    db: Database, *, client: str, callback_id: str, now: datetime | None = None
) -> Callback:
    """Cancel a callback that has not ended; cancelling twice is not an error.

    One conditional UPDATE, so a worker finishing the call at the same moment
    either sees ``cancelled`` or wins, never both. A call already ringing is not
    hung up: the workers read the state before each new attempt.
    """
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackRecord)
            .where(
                CallbackRecord.id == callback_id,
                CallbackRecord.client == client,
                CallbackRecord.state.in_(CANCELLABLE),
            )
            .values(state="cancelled", updated_at=now or datetime.now(UTC))
        )
    callback = get_callback(db, client=client, callback_id=callback_id)
    if callback.state != "cancelled":
        raise CallbackConflictError(
            f"callback {callback_id} is already {callback.state}: there is nothing left to cancel"
        )
    return callback
