"""``/v1/opt-outs`` and ``/v1/consents``: the real app on the real PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from voicebot.consent.registry import consent_facts, import_dnc_csv
from voicebot.records.db import Database


def fresh_phone() -> str:
    return f"+1415{secrets.randbelow(10**7):07d}"


def test_an_opt_out_by_api_reaches_the_gate_at_once(api: TestClient, db: Database) -> None:
    phone = fresh_phone()
    now = datetime.now(UTC)
    assert not consent_facts(db, phone, "transaction_confirmation", now).opted_out
    response = api.post("/v1/opt-outs", json={"phone": phone, "reason": "said so in the app"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["opted_out"] is True
    assert body["opt_out_source"] == "api:wallet"
    assert consent_facts(db, phone, "feedback", now).opted_out
    again = api.post("/v1/opt-outs", json={"phone": phone})
    assert again.status_code == 200
    assert again.json()["opted_out_at"] == body["opted_out_at"]  # the first request counts


def test_consent_is_granted_read_and_withdrawn(api: TestClient, db: Database) -> None:
    phone = fresh_phone()
    later = datetime.now(UTC) + timedelta(seconds=1)
    granted = api.put(f"/v1/consents/{phone}/feedback", json={"source": "app_settings"})
    assert granted.status_code == 200, granted.text
    [consent] = granted.json()["consents"]
    assert consent["purpose"] == "feedback"
    assert consent["source"] == "api:wallet:app_settings"
    assert consent["in_force"] is True
    assert consent_facts(db, phone, "feedback", later).has_consent
    assert not consent_facts(db, phone, "transaction_confirmation", later).has_consent

    read = api.get(f"/v1/consents/{phone.replace('+', '%2B')}")
    assert read.status_code == 200
    assert read.json() == granted.json()

    withdrawn = api.delete(f"/v1/consents/{phone}/feedback")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["consents"][0]["in_force"] is False
    assert not consent_facts(db, phone, "feedback", later + timedelta(seconds=1)).has_consent


def test_the_status_names_the_do_not_call_lists(api: TestClient, db: Database) -> None:
    phone = fresh_phone()
    name = f"internal-{secrets.token_hex(4)}"
    import_dnc_csv(db, name, f"phone\n{phone}\n", "test", datetime.now(UTC))
    body = api.get(f"/v1/consents/{phone}").json()
    assert body["do_not_call_lists"] == [name]
    assert body["opted_out"] is False


def test_bad_input_says_what_is_wrong(api: TestClient) -> None:
    bad_phone = api.post("/v1/opt-outs", json={"phone": "415 555 0100"})
    assert bad_phone.status_code == 422
    assert "E.164" in bad_phone.text
    assert api.post("/v1/opt-outs", json={"phone": fresh_phone(), "why": "x"}).status_code == 422
    bad_path = api.get("/v1/consents/4155550100")
    assert bad_path.status_code == 422
    assert bad_path.json()["detail"][0]["loc"] == ["path", "phone"]
    bad_purpose = api.put(f"/v1/consents/{fresh_phone()}/marketing", json={"source": "app"})
    assert bad_purpose.status_code == 422
    assert "transaction_confirmation" in bad_purpose.text
    no_source = api.put(f"/v1/consents/{fresh_phone()}/feedback", json={})
    assert no_source.status_code == 422


def test_a_key_is_needed(api: TestClient) -> None:
    response = api.post(
        "/v1/opt-outs", json={"phone": fresh_phone()}, headers={"Authorization": ""}
    )
    assert response.status_code == 401
    assert api.get("/openapi.json").json()["paths"]["/v1/consents/{phone}/{purpose}"]["put"]


def test_a_date_given_as_a_number_is_refused_not_read_as_1970(api: TestClient) -> None:
    phone = fresh_phone()
    for at in (0, 1_700_000_000, "1700000000"):
        response = api.put(f"/v1/consents/{phone}/feedback", json={"source": "app", "at": at})
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "at"]
        assert "ISO 8601" in error["msg"] and "Unix" in error["msg"]
    assert api.get(f"/v1/consents/{phone}").json()["consents"] == []


def test_a_date_with_no_utc_equivalent_is_refused_and_stores_nothing(api: TestClient) -> None:
    """Year 1 at +14:00 was stored, and then every read of the number failed."""
    phone = fresh_phone()
    for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        response = api.put(f"/v1/consents/{phone}/feedback", json={"source": "app", "at": at})
        assert response.status_code == 422, response.text
        assert "between 0001-01-02 and 9999-12-30" in response.json()["detail"][0]["msg"]
    read = api.get(f"/v1/consents/{phone}")
    assert (read.status_code, read.json()["consents"]) == (200, [])


def test_a_date_with_an_offset_is_stored_as_that_instant(api: TestClient) -> None:
    phone = fresh_phone()
    body = {"source": "app", "at": "2026-01-01T09:00:00+14:00"}
    granted = api.put(f"/v1/consents/{phone}/feedback", json=body).json()
    [consent] = granted["consents"]
    assert datetime.fromisoformat(consent["granted_at"]) == datetime(2025, 12, 31, 19, tzinfo=UTC)
