"""The opt-out registry: numbers that asked not to be called (blocking; use ``asyncio.to_thread``).

One row per number, kept forever: the first request is the one that counts, and
asking again is not an error. A consent gate checks ``is_opted_out`` before any
call is placed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from voicebot.errors import PhoneNumberError
from voicebot.records.db import Database
from voicebot.records.models import OptOut

E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def _checked(phone: str) -> str:
    """Only E.164 is stored, so one number can never hide under two spellings."""
    if not E164.fullmatch(phone):
        raise PhoneNumberError(f"not an E.164 phone number: {phone!r}")
    return phone


def record_opt_out(
    db: Database, *, phone: str, call_id: str | None, source: str, reason: str | None = None
) -> None:
    """Remember that this number must not be called again; idempotent."""
    values = {
        "phone": _checked(phone),
        "created_at": datetime.now(UTC),
        "source": source,
        "call_id": call_id,
        "reason": reason,
    }
    dialect = db.engine.dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = postgresql.insert(OptOut).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(OptOut).values(values).on_conflict_do_nothing()
    else:
        statement = insert(OptOut).values(values)
    try:
        with db.session() as s, s.begin():
            s.execute(statement)
    except IntegrityError:
        # Other databases, without ON CONFLICT: the number is already there.
        if not is_opted_out(db, phone):
            raise


def is_opted_out(db: Database, phone: str) -> bool:
    """Whether this number asked not to be called."""
    with db.session() as s:
        return s.scalar(select(OptOut.phone).where(OptOut.phone == _checked(phone))) is not None
