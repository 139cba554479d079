"""The opt-out registry on the real PostgreSQL test database (and SQLite, the default)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from voicebot.config import Settings
from voicebot.errors import PhoneNumberError
from voicebot.records.db import Database
from voicebot.records.models import OptOut
from voicebot.records.opt_outs import is_opted_out, record_opt_out


@pytest.fixture(scope="module")
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    database.create_tables()
    yield database
    database.engine.dispose()


def new_phone() -> str:
    """A number no earlier run has used (the test database keeps its rows)."""
    return f"+1{secrets.randbelow(10**10):010d}"


def rows_for(db: Database, phone: str) -> list[OptOut]:
    with db.session() as s:
        return list(s.scalars(select(OptOut).where(OptOut.phone == phone)))


def test_an_opted_out_number_is_known(db: Database) -> None:
    phone = new_phone()
    assert not is_opted_out(db, phone)
    record_opt_out(db, phone=phone, call_id="call-1", source="call", reason="said stop")
    assert is_opted_out(db, phone)
    [row] = rows_for(db, phone)
    assert (row.source, row.call_id, row.reason) == ("call", "call-1", "said stop")
    assert row.created_at.tzinfo is not None


def test_opting_out_twice_keeps_the_first_row_and_raises_nothing(db: Database) -> None:
    phone = new_phone()
    record_opt_out(db, phone=phone, call_id="call-1", source="call")
    record_opt_out(db, phone=phone, call_id=None, source="api", reason="again")
    [row] = rows_for(db, phone)
    assert (row.source, row.call_id, row.reason) == ("call", "call-1", None)


def test_other_numbers_are_not_affected(db: Database) -> None:
    phone, other = new_phone(), new_phone()
    record_opt_out(db, phone=phone, call_id=None, source="api")
    assert not is_opted_out(db, other)


@pytest.mark.parametrize(
    "phone", ["4155550100", "+0155550100", "+1 415 555 0100", "", "+1234567890123456"]
)
def test_only_e164_numbers_are_accepted(db: Database, phone: str) -> None:
    with pytest.raises(PhoneNumberError):
        record_opt_out(db, phone=phone, call_id=None, source="call")
    with pytest.raises(PhoneNumberError):
        is_opted_out(db, phone)


def test_idempotent_on_sqlite_too(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'records.db'}")
    database.create_tables()
    try:
        phone = new_phone()
        record_opt_out(database, phone=phone, call_id="c", source="call")
        record_opt_out(database, phone=phone, call_id="c", source="call")
        assert is_opted_out(database, phone)
        with database.session() as s:
            assert s.scalar(select(func.count()).select_from(OptOut)) == 1
    finally:
        database.engine.dispose()
