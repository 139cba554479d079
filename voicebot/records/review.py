"""Reading calls back for people: lists, whole transcripts, feedback figures.

Blocking, like the rest of ``voicebot.records``: call through ``asyncio.to_thread``.
What is read here was redacted before it was stored, so nothing more is hidden
here; hiding phone numbers from a role is the API's business.

Lists are newest first and paged by a cursor (the last row's creation time and
id), so a page never repeats or skips a call while new ones are being added.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import selectinload

from voicebot.errors import ReviewQueryError
from voicebot.records.db import Database
from voicebot.records.models import CallRecord

RATINGS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class CallFilter:
    """Which calls to list; ``None`` means any."""

    purpose: str | None = None
    outcome: str | None = None
    escalated: bool | None = None
    phone: str | None = None
    in_progress: bool | None = None  # answered and not yet ended
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class TurnView:
    speaker: str
    text: str
    source: str
    offset_s: float
    confidence: float | None


@dataclass(frozen=True)
class CallView:
    """A call as a reviewer sees it; ``turns`` only when read one at a time."""

    id: str
    call_sid: str | None
    purpose: str
    locale: str
    customer_phone: str
    transaction_id: str | None
    case_id: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    carrier_status: str | None
    outcome: str | None
    escalated: bool
    fields: dict[str, Any]
    evidence: dict[str, Any] | None
    turns: list[TurnView] | None = None


@dataclass(frozen=True)
class CallPage:
    calls: list[CallView]
    next_cursor: str | None


@dataclass(frozen=True)
class FeedbackItem:
    call_id: str
    case_id: str | None
    rating: int | None
    comment: str | None
    outcome: str | None
    ended_at: datetime | None


@dataclass(frozen=True)
class FeedbackReport:
    """Feedback calls in a period: who answered, the ratings, and every comment."""

    calls: int
    rated: int
    average_rating: float | None
    ratings: dict[int, int]
    outcomes: dict[str, int]
    items: list[FeedbackItem] = field(default_factory=list)


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; they are UTC here."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def encode_cursor(created_at: datetime, call_id: str) -> str:
    moment = created_at.replace(tzinfo=UTC) if created_at.tzinfo is None else created_at
    raw = f"{moment.astimezone(UTC).isoformat()}|{call_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (creation time, id) a cursor stands for; ReviewQueryError if it is not one of ours.

    A cursor is opaque but still input: what it decodes to goes into SQL, so it
    must be what ``encode_cursor`` makes (a UTC time and an id with no control
    characters, which PostgreSQL may refuse), not merely decodable.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, call_id = raw.split("|", 1)
        after = datetime.fromisoformat(moment)
    except (binascii.Error, UnicodeDecodeError, ValueError) as e:
        raise ReviewQueryError("cursor", "not a cursor this API returned") from e
    ours = after.utcoffset() == timedelta(0) and 0 < len(call_id) <= 64 and call_id.isprintable()
    if not ours:
        raise ReviewQueryError("cursor", "not a cursor this API returned")
    return after, call_id


def _view(record: CallRecord, with_turns: bool) -> CallView:
    transaction = record.context.get("transaction") or {}
    turns = None
    if with_turns:
        turns = [
            TurnView(t.speaker, t.text, t.source, t.offset_s, t.confidence) for t in record.turns
        ]
    return CallView(
        id=record.id,
        call_sid=record.call_sid,
        purpose=record.purpose,
        locale=record.locale,
        customer_phone=record.customer_phone,
        transaction_id=transaction.get("id"),
        case_id=record.context.get("case_id"),
        created_at=_utc(record.created_at),  # type: ignore[arg-type]
        answered_at=_utc(record.answered_at),
        ended_at=_utc(record.ended_at),
        carrier_status=record.carrier_status,
        outcome=record.outcome,
        escalated=record.escalated,
        fields=record.fields or {},
        evidence=record.evidence,
        turns=turns,
    )


def _filtered(query: Select[CallRecord], where: CallFilter) -> Select[CallRecord]:
    if where.purpose is not None:
        query = query.where(CallRecord.purpose == where.purpose)
    if where.outcome is not None:
        query = query.where(CallRecord.outcome == where.outcome)
    if where.escalated is not None:
        query = query.where(CallRecord.escalated == where.escalated)
    if where.phone is not None:
        query = query.where(CallRecord.customer_phone == where.phone)
    if where.in_progress is True:
        query = query.where(CallRecord.answered_at.is_not(None), CallRecord.ended_at.is_(None))
    elif where.in_progress is False:
        query = query.where(or_(CallRecord.answered_at.is_(None), CallRecord.ended_at.is_not(None)))
    if where.since is not None:
        query = query.where(CallRecord.created_at >= where.since)
    if where.until is not None:
        query = query.where(CallRecord.created_at < where.until)
    return query


def list_calls(
    db: Database, where: CallFilter, *, limit: int, cursor: str | None = None
) -> CallPage:
    """One page of calls matching ``where``, newest first, without their transcripts."""
    query = _filtered(select(CallRecord), where)
    if cursor is not None:
        after_at, after_id = decode_cursor(cursor)
        query = query.where(
            or_(
                CallRecord.created_at < after_at,
                and_(CallRecord.created_at == after_at, CallRecord.id < after_id),
            )
        )
    query = query.order_by(CallRecord.created_at.desc(), CallRecord.id.desc()).limit(limit + 1)
    with db.session() as s:
        records = list(s.scalars(query))
        views = [_view(r, with_turns=False) for r in records[:limit]]
    more = len(records) > limit
    next_cursor = encode_cursor(views[-1].created_at, views[-1].id) if more else None
    return CallPage(calls=views, next_cursor=next_cursor)


def call_detail(db: Database, call_id: str) -> CallView | None:
    """One call with its whole (redacted) transcript, or None."""
    query = (
        select(CallRecord).where(CallRecord.id == call_id).options(selectinload(CallRecord.turns))
    )
    with db.session() as s:
        record = s.scalars(query).one_or_none()
        return None if record is None else _view(record, with_turns=True)


def _rating(value: Any) -> int | None:
    """A stored rating as 1-5, or None; fields are JSON, so be strict about what counts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and int(value) == value and int(value) in RATINGS:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit() and int(value) in RATINGS:
        return int(value)
    return None


def feedback_report(
    db: Database, *, since: datetime | None, until: datetime | None, limit: int
) -> FeedbackReport:
    """Figures over every feedback call in the period; the newest ``limit`` items listed."""
    where = CallFilter(purpose="feedback", since=since, until=until)
    query = _filtered(select(CallRecord), where).order_by(
        CallRecord.created_at.desc(), CallRecord.id.desc()
    )
    ratings: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    items: list[FeedbackItem] = []
    calls = 0
    with db.session() as s:
        for record in s.scalars(query.execution_options(yield_per=500)):
            calls += 1
            fields = record.fields or {}
            rating = _rating(fields.get("rating"))
            if rating is not None:
                ratings[rating] += 1
            outcomes[record.outcome or "in_progress"] += 1
            if len(items) < limit:
                comment = fields.get("comment")
                items.append(
                    FeedbackItem(
                        call_id=record.id,
                        case_id=record.context.get("case_id"),
                        rating=rating,
                        comment=comment if isinstance(comment, str) else None,
                        outcome=record.outcome,
                        ended_at=_utc(record.ended_at),
                    )
                )
    rated = sum(ratings.values())
    average = round(sum(r * n for r, n in ratings.items()) / rated, 2) if rated else None
    return FeedbackReport(
        calls=calls,
        rated=rated,
        average_rating=average,
        ratings={r: ratings[r] for r in RATINGS},
        outcomes=dict(outcomes),
        items=items,
    )
