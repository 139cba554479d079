"""Reading and writing call records (blocking; call through ``asyncio.to_thread``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from loguru import logger
from sqlalchemy import select, update

from voicebot.calls.context import CallContext
from voicebot.records.db import Database
from voicebot.records.models import CallRecord, OutcomeDelivery, TurnRecord


@dataclass(frozen=True)
class Turn:
    """One entry of a call's transcript."""

    speaker: str
    text: str
    source: str
    offset_s: float
    confidence: float | None = None


def create_call(db: Database, call_id: str, context: CallContext) -> None:
    """The record of a call about to be dialed."""
    with db.session() as s, s.begin():
        s.add(
            CallRecord(
                id=call_id,
                purpose=context.purpose,
                locale=context.locale,
                customer_phone=context.customer.phone,
                context=context.model_dump(mode="json"),
                created_at=datetime.now(UTC),
                fields={},
            )
        )


def attach_call_sid(db: Database, call_id: str, call_sid: str) -> None:
    with db.session() as s, s.begin():
        s.execute(
            update(CallRecord)
            .where(CallRecord.id == call_id)
            .values(call_sid=call_sid, answered_at=datetime.now(UTC))
        )


def apply_status(db: Database, call_id: str, status: str, rank: int) -> bool:
    """Forward-only carrier status, as in Redis: a stale callback changes nothing."""
    with db.session() as s, s.begin():
        result = s.execute(
            update(CallRecord)
            .where(CallRecord.id == call_id, CallRecord.carrier_status_rank < rank)
            .values(carrier_status=status, carrier_status_rank=rank)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def finish_call(
    db: Database,
    call_id: str,
    *,
    outcome: str,
    escalated: bool,
    fields: dict[str, Any],
    evidence: dict[str, Any] | None,
    turns: list[Turn],
    failure: str | None = None,
    deliver_to: str | None = None,
) -> bool:
    """Write how the call ended and its transcript, in one transaction, once.

    A call's first ending is final: the ``UPDATE`` only matches a call with no
    outcome and no end yet, so a second ending (a replayed webhook's session, a
    race) changes nothing, transcript and outbox included, and returns False.
    With ``deliver_to`` (the outcome webhook URL) the outcome is queued for
    delivery in that same transaction: the record and the promise to report it
    are stored together or not at all.
    """
    with db.session() as s, s.begin():
        ended = s.execute(
            update(CallRecord)
            .where(
                CallRecord.id == call_id,
                CallRecord.outcome.is_(None),
                CallRecord.ended_at.is_(None),
            )
            .values(
                outcome=outcome,
                escalated=escalated,
                fields=fields,
                evidence=evidence,
                ended_at=datetime.now(UTC),
            )
            .execution_options(synchronize_session=False)
        )
        if not ended.rowcount:  # type: ignore[attr-defined]
            if s.get(CallRecord, call_id) is None:
                raise LookupError(call_id)
            logger.warning(f"{call_id}: already ended; its record stays, {outcome!r} dropped")
            return False
        s.add_all(
            TurnRecord(
                call_id=call_id,
                seq=i,
                speaker=t.speaker,
                text=t.text,
                source=t.source,
                offset_s=t.offset_s,
                confidence=t.confidence,
            )
            for i, t in enumerate(turns)
        )
        if deliver_to and s.get(OutcomeDelivery, call_id) is None:
            record = s.get_one(CallRecord, call_id)  # updated just above, in this transaction
            now = datetime.now(UTC)
            s.add(
                OutcomeDelivery(
                    call_id=call_id,
                    url=deliver_to,
                    payload=json.dumps(outcome_payload(record, failure), separators=(",", ":")),
                    idempotency_key=f"call-outcome:{call_id}",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    return True


def _iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC; SQLite returns naive datetimes, which are UTC here."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def outcome_payload(record: CallRecord, failure: str | None) -> dict[str, Any]:
    """The outcome webhook's body: the call's outcome record plus who and what it was about."""
    transaction = record.context.get("transaction") or {}
    return {
        "call_id": record.id,
        "call_sid": record.call_sid,
        "purpose": record.purpose,
        "outcome": record.outcome,
        "escalated": record.escalated,
        "fields": record.fields,
        "evidence": record.evidence,
        "failure": failure,
        "customer_phone": record.customer_phone,
        "transaction_id": transaction.get("id"),
        "case_id": record.context.get("case_id"),
        "started_at": _iso(record.answered_at),
        "ended_at": _iso(record.ended_at),
    }


def open_call_context(db: Database, call_id: str) -> CallContext | None:
    """The context of a call that has not ended, from SQL; None if unknown or ended.

    For the voice webhook when Redis lost the call (restarted empty between
    dialing and answering): the record written at dial time is the truth.
    """
    with db.session() as s:
        record = s.scalars(select(CallRecord).where(CallRecord.id == call_id)).one_or_none()
        if record is None or record.outcome is not None or record.ended_at is not None:
            return None
        return CallContext.model_validate(record.context)


def get_call(db: Database, call_id: str) -> dict[str, Any] | None:
    """A call and its transcript as plain data."""
    with db.session() as s:
        record = s.scalars(select(CallRecord).where(CallRecord.id == call_id)).one_or_none()
        if record is None:
            return None
        return {
            "id": record.id,
            "call_sid": record.call_sid,
            "purpose": record.purpose,
            "outcome": record.outcome,
            "escalated": record.escalated,
            "carrier_status": record.carrier_status,
            "fields": record.fields,
            "evidence": record.evidence,
            "turns": [
                {
                    "speaker": t.speaker,
                    "text": t.text,
                    "source": t.source,
                    "offset_s": t.offset_s,
                    "confidence": t.confidence,
                }
                for t in record.turns
            ],
        }
