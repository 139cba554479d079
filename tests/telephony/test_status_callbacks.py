"""Status callbacks arrive out of order and twice; the stored state only moves forward."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.telephony.helpers import new_call_sid, register_call, services_of, signed_post
from voicebot.records import calls as call_records


def deliver(client: TestClient, call_id: str, call_sid: str, status: str, seq: int) -> None:
    response = signed_post(
        client,
        f"/twilio/status?call_id={call_id}",
        {"CallSid": call_sid, "CallStatus": status, "SequenceNumber": str(seq)},
    )
    assert response.status_code == 204  # type: ignore[attr-defined]


def stored(client: TestClient, call_id: str) -> tuple[str, str | None]:
    services = services_of(client)
    live = client.portal.call(services.store.get, call_id)  # type: ignore[union-attr]
    record = call_records.get_call(services.db, call_id)
    assert record is not None
    return live.get("status", ""), record["carrier_status"]


def test_out_of_order_and_duplicate_callbacks_end_completed(client: TestClient) -> None:
    call_id, call_sid = register_call(client), new_call_sid()
    for status, seq in [
        ("ringing", 1),
        ("initiated", 0),
        ("completed", 3),
        ("in-progress", 2),
        ("completed", 3),
        ("ringing", 1),
    ]:
        deliver(client, call_id, call_sid, status, seq)
    assert stored(client, call_id) == ("completed", "completed")


def test_a_stale_callback_does_not_move_state_back(client: TestClient) -> None:
    call_id, call_sid = register_call(client), new_call_sid()
    deliver(client, call_id, call_sid, "in-progress", 2)
    deliver(client, call_id, call_sid, "ringing", 1)
    deliver(client, call_id, call_sid, "in-progress", 2)
    assert stored(client, call_id) == ("in-progress", "in-progress")


def test_final_status_is_never_replaced(client: TestClient) -> None:
    call_id, call_sid = register_call(client), new_call_sid()
    deliver(client, call_id, call_sid, "busy", 2)
    deliver(client, call_id, call_sid, "completed", 3)
    assert stored(client, call_id) == ("busy", "busy")
