"""Call records on the real PostgreSQL test database: an ended call's record is final."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.config import Settings
from voicebot.records import calls as call_records
from voicebot.records.calls import Turn
from voicebot.records.db import Database


@pytest.fixture(scope="module")
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    database.create_tables()
    yield database
    database.engine.dispose()


def new_call(db: Database) -> str:
    call_id = f"call_{secrets.token_hex(8)}"
    context = CallContext(
        purpose="transaction_confirmation",
        customer=Customer(first_name="Alice", phone="+14155550100"),
        transaction=Transaction(id="tx_1", amount="1.00", merchant="Cafe", time=datetime.now(UTC)),
    )
    call_records.create_call(db, call_id, context)
    call_records.attach_call_sid(db, call_id, "CA" + secrets.token_hex(16))
    return call_id


def finish(db: Database, call_id: str, outcome: str, turns: int) -> bool:
    return call_records.finish_call(
        db,
        call_id,
        outcome=outcome,
        escalated=False,
        fields={"said": outcome},
        evidence=None,
        turns=[Turn("bot", f"line {i}", "prompt", float(i)) for i in range(turns)],
    )


def test_an_ended_call_is_never_overwritten(db: Database) -> None:
    """The probe: a confirmed call with 9 turns, then a second session's hang-up with 2."""
    call_id = new_call(db)
    assert finish(db, call_id, "confirmed", 9)
    first = call_records.get_call(db, call_id)
    assert not finish(db, call_id, "hung_up", 2)
    record = call_records.get_call(db, call_id)
    assert record == first
    assert record is not None and record["outcome"] == "confirmed"
    assert record["fields"] == {"said": "confirmed"} and len(record["turns"]) == 9


def test_racing_endings_write_one_record(db: Database) -> None:
    call_id = new_call(db)
    outcomes = [f"outcome_{i}" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        written = list(pool.map(lambda o: finish(db, call_id, o, 3), outcomes))
    assert written.count(True) == 1
    record = call_records.get_call(db, call_id)
    assert record is not None
    assert record["outcome"] == outcomes[written.index(True)]
    assert len(record["turns"]) == 3


def test_an_unknown_call_is_an_error(db: Database) -> None:
    with pytest.raises(LookupError):
        finish(db, "call_nobody_" + secrets.token_hex(4), "confirmed", 1)
