"""SQL tables: the durable record of every call, what was said in it, and what follows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
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
