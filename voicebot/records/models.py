"""SQL tables: the durable record of every call, what was said in it, and what follows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class CallRecord(Base):
    """One phone call: why it was made, how it went, how it ended."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(16))
    customer_phone: Mapped[str] = mapped_column(String(32), index=True)
    context: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    carrier_status: Mapped[str | None] = mapped_column(String(16))
    carrier_status_rank: Mapped[int] = mapped_column(Integer, default=-1)
    outcome: Mapped[str | None] = mapped_column(String(32), index=True)
    escalated: Mapped[bool] = mapped_column(default=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    turns: Mapped[list[TurnRecord]] = relationship(
        back_populates="call", order_by="TurnRecord.seq", cascade="all, delete-orphan"
    )


class TurnRecord(Base):
    """One thing said (or keyed) in a call, as stored: secrets never reach it."""

    __tablename__ = "call_turns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    speaker: Mapped[str] = mapped_column(String(8))  # bot | caller
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(8))  # speech | keypad | prompt
    offset_s: Mapped[float]  # seconds since the media stream started
    confidence: Mapped[float | None]
    call: Mapped[CallRecord] = relationship(back_populates="turns")


class OptOut(Base):
    """A number that asked not to be called again; a consent gate reads it before dialing."""

    __tablename__ = "opt_outs"

    phone: Mapped[str] = mapped_column(String(16), primary_key=True)  # E.164
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(32))  # call | api | ...
    call_id: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class ConsentRecord(Base):
    """A number's consent to be called for one purpose (voicebot/consent/registry.py).

    One row per (phone, purpose): revoking sets ``revoked_at`` and keeps the row,
    so a late-arriving older grant cannot bring consent back. A revocation with no
    grant before it is stored as ``granted_at == revoked_at``.
    """

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("phone", "purpose", name="uq_consents_phone_purpose"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(16))  # E.164
    purpose: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(64))  # where the grant came from: app, call, ...
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class DncListRecord(Base):
    """One import of a do-not-call list; a re-import under the same name replaces it."""

    __tablename__ = "dnc_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(256))  # e.g. the file or registry it came from
    entries: Mapped[int] = mapped_column(Integer)


class DncEntryRecord(Base):
    """A number on one imported do-not-call list."""

    __tablename__ = "dnc_entries"

    list_id: Mapped[int] = mapped_column(
        ForeignKey("dnc_lists.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(String(16), primary_key=True, index=True)  # E.164


class OutcomeDelivery(Base):
    """Outbox: one call's outcome waiting for (or done with) the wallet backend's webhook.

    Written in the same transaction as the call's ending, so an outcome is never
    lost between the database and the network; rows are never deleted.
    """

    __tablename__ = "outcome_deliveries"

    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id"), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[str] = mapped_column(Text)  # the exact JSON body that is signed and sent
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CallbackRecord(Base):
    """A call the wallet backend asked for (callbacks API); workers move its state on.

    ``(client, event_id)`` is unique: the client's own id for the event makes a
    repeated request return the same callback instead of dialing twice.
    """

    __tablename__ = "callbacks"
    __table_args__ = (UniqueConstraint("client", "event_id", name="uq_callbacks_client_event"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # cb_<32 hex>
    client: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(128))
    purpose: Mapped[str] = mapped_column(String(32))
    # queued | dialing | completed | refused | cancelled | failed
    state: Mapped[str] = mapped_column(String(16), index=True)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)  # the validated body, as JSON
    urgency: Mapped[str] = mapped_column(String(8))  # normal | high
    earliest_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[list[CallbackAttempt]] = relationship(
        order_by="CallbackAttempt.attempt", cascade="all, delete-orphan"
    )
    decisions: Mapped[list[GateDecision]] = relationship(
        order_by="GateDecision.decided_at", cascade="all, delete-orphan"
    )


class CallbackAttempt(Base):
    """One try at placing a callback's call (written by the dialer workers)."""

    __tablename__ = "callback_attempts"
    __table_args__ = (UniqueConstraint("callback_id", "attempt", name="uq_callback_attempts_n"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    callback_id: Mapped[str] = mapped_column(ForeignKey("callbacks.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)  # 1, 2, ...
    call_id: Mapped[str | None] = mapped_column(String(64))  # calls.id once one was placed
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GateDecision(Base):
    """One answer of the consent gate for a callback: allowed or not, why, and when to retry."""

    __tablename__ = "gate_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    callback_id: Mapped[str] = mapped_column(
        ForeignKey("callbacks.id", ondelete="CASCADE"), index=True
    )
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    allowed: Mapped[bool]
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
