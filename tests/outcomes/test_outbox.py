"""finish_call writes the call's ending and its outbox row together, or neither."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import DataError

from tests.outcomes.helpers import finish, new_call
from voicebot.records import calls as call_records
from voicebot.records.db import Database
from voicebot.records.models import OutcomeDelivery

URL = "https://wallet.example.test/outcomes"


def deliveries(db: Database) -> list[OutcomeDelivery]:
    with db.session() as s:
        return list(s.scalars(select(OutcomeDelivery)))


def test_with_a_url_both_rows_are_written_in_one_transaction(db: Database) -> None:
    call_id, call_sid = new_call(db, case_id="case_7")
    commits: list[object] = []
    count = commits.append
    event.listen(db.engine, "commit", count)
    finish(db, call_id, deliver_to=URL)
    event.remove(db.engine, "commit", count)
    assert len(commits) == 1

    record = call_records.get_call(db, call_id)
    assert record is not None and record["outcome"] == "confirmed"
    [row] = deliveries(db)
    assert row.call_id == call_id and row.url == URL
    assert row.idempotency_key == f"call-outcome:{call_id}"
    assert (row.attempts, row.delivered_at, row.last_error) == (0, None, None)
    assert row.next_attempt_at <= datetime.now(UTC)

    payload = json.loads(row.payload)
    assert payload == {
        "call_id": call_id,
        "call_sid": call_sid,
        "purpose": "transaction_confirmation",
        "outcome": "confirmed",
        "escalated": False,
        "fields": {"confirmed": True},
        "evidence": {"state": "confirm", "text": "yes", "confidence": 0.93, "source": "speech"},
        "failure": None,
        "customer_phone": "+14155550100",
        "transaction_id": "tx_42",
        "case_id": "case_7",
        "started_at": payload["started_at"],
        "ended_at": payload["ended_at"],
    }
    started = datetime.fromisoformat(payload["started_at"])
    ended = datetime.fromisoformat(payload["ended_at"])
    assert started.utcoffset() == ended.utcoffset() == UTC.utcoffset(None)
    assert started <= ended


def test_without_a_url_no_outbox_row_is_written(db: Database) -> None:
    call_id, _ = new_call(db)
    finish(db, call_id, deliver_to=None)
    assert call_records.get_call(db, call_id)["outcome"] == "confirmed"  # type: ignore[index]
    assert deliveries(db) == []


def test_if_the_outbox_row_cannot_be_written_the_call_record_is_not_either(db: Database) -> None:
    call_id, _ = new_call(db)
    with pytest.raises(DataError):
        finish(db, call_id, deliver_to="https://wallet.example.test/" + "x" * 3000)
    record = call_records.get_call(db, call_id)
    assert record is not None
    assert (record["outcome"], record["turns"]) == (None, [])
    assert deliveries(db) == []


def test_finishing_twice_keeps_one_outbox_row_and_its_first_payload(db: Database) -> None:
    call_id, _ = new_call(db)
    finish(db, call_id, deliver_to=URL)
    [first] = deliveries(db)
    finish(db, call_id, deliver_to=URL)
    [again] = deliveries(db)
    assert again.payload == first.payload and again.created_at == first.created_at
