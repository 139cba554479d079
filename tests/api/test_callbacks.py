"""The callbacks API through the real app, on the real PostgreSQL test database."""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from tests.api.conftest import OTHER_KEY, WALLET_KEY
from tests.conftest import PUBLIC_URL
from voicebot.app import create_app
from voicebot.config import Settings
from voicebot.errors import CallbackRequestError
from voicebot.records import callbacks as records
from voicebot.records.db import Database
from voicebot.records.models import CallbackAttempt, CallbackRecord, GateDecision

OTHER = {"Authorization": f"Bearer {OTHER_KEY}"}


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def new_event() -> str:
    """An event id no earlier run used (the test database keeps its rows)."""
    return f"evt_{secrets.token_hex(8)}"


def new_phone(country: str = "+1415") -> str:
    """A number of its own: the test database keeps its rows, and each number's
    open callbacks are capped (MAX_OPEN_CALLBACKS_PER_NUMBER)."""
    return f"{country}{secrets.randbelow(10**7):07d}"


def confirmation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "transaction_confirmation",
        "event_id": new_event(),
        "customer": {
            "first_name": "Alice",
            "last_name": "Moreau",
            "phone": new_phone(),
            "timezone": "America/New_York",
        },
        "transaction": {
            "id": "tx_8812",
            "amount": "912.40",
            "currency": "USD",
            "merchant": "Amazon",
            "time": "2026-11-22T18:04:00Z",
        },
        "urgency": "high",
        "earliest_at": later(minutes=-1),
        "deadline": later(hours=2),
    }
    body.update(overrides)
    return body


def paying(amount: str, currency: str) -> dict[str, Any]:
    """A confirmation of a payment of ``amount`` in ``currency``."""
    body = confirmation()
    body["transaction"] |= {"amount": amount, "currency": currency}
    return body


def feedback(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "purpose": "feedback",
        "event_id": new_event(),
        "customer": {"first_name": "Bob", "phone": new_phone("+447700")},
        "case_id": "case_4411",
    }
    body.update(overrides)
    return body


def rows_for(db: Database, client: str, event_id: str) -> int:
    with db.session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(CallbackRecord)
            .where(CallbackRecord.client == client, CallbackRecord.event_id == event_id)
        )
        return int(count or 0)


def test_a_confirmation_request_is_queued(api: TestClient, db: Database) -> None:
    body = confirmation()
    response = api.post("/v1/callbacks", json=body)
    assert response.status_code == 202, response.text
    created = response.json()
    assert created["id"].startswith("cb_") and len(created["id"]) == 35
    assert created["state"] == "queued"
    assert (created["purpose"], created["urgency"], created["event_id"]) == (
        "transaction_confirmation",
        "high",
        body["event_id"],
    )
    assert created["request"]["transaction"]["amount"] == "912.40"
    assert created["attempts"] == [] and created["gate_decisions"] == []
    assert response.headers["location"] == f"/v1/callbacks/{created['id']}"
    assert rows_for(db, "wallet", body["event_id"]) == 1


def test_a_feedback_request_is_queued_with_defaults(api: TestClient) -> None:
    response = api.post("/v1/callbacks", json=feedback())
    assert response.status_code == 202, response.text
    created = response.json()
    assert (created["state"], created["urgency"]) == ("queued", "normal")
    assert created["deadline"] is None and created["request"]["case_id"] == "case_4411"


def test_the_same_event_again_returns_the_same_callback(api: TestClient, db: Database) -> None:
    body = confirmation()
    first = api.post("/v1/callbacks", json=body)
    again = api.post("/v1/callbacks", json=body)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert rows_for(db, "wallet", body["event_id"]) == 1


def test_an_event_id_reused_for_another_request_is_a_conflict(
    api: TestClient, db: Database
) -> None:
    body = confirmation()
    first = api.post("/v1/callbacks", json=body)
    changed = {**body, "transaction": {**body["transaction"], "amount": "15.00"}}
    response = api.post("/v1/callbacks", json=changed)
    assert response.status_code == 409
    assert body["event_id"] in response.json()["detail"]
    assert first.json()["id"] in response.json()["detail"]
    assert rows_for(db, "wallet", body["event_id"]) == 1


def test_event_ids_are_per_client(api: TestClient) -> None:
    body = feedback()
    mine = api.post("/v1/callbacks", json=body)
    theirs = api.post("/v1/callbacks", json=body, headers=OTHER)
    assert (mine.status_code, theirs.status_code) == (202, 202)
    assert mine.json()["id"] != theirs.json()["id"]


def test_concurrent_duplicates_make_one_callback(api: TestClient, db: Database) -> None:
    body = confirmation()
    start = threading.Barrier(8)
    answers: list[tuple[int, str]] = []

    def post() -> None:
        start.wait()
        response = api.post("/v1/callbacks", json=body)
        answers.append((response.status_code, response.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(answers) == 8
    assert len({callback_id for _, callback_id in answers}) == 1
    assert sorted(status for status, _ in answers) == [200] * 7 + [202]
    assert rows_for(db, "wallet", body["event_id"]) == 1


def test_losing_the_insert_race_answers_with_the_winner(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The IntegrityError path, made certain: the lookup misses a row that is already there."""
    event_id = new_event()
    request = {"event_id": event_id, "purpose": "feedback"}
    kwargs: dict[str, Any] = {
        "client": "wallet",
        "event_id": event_id,
        "purpose": "feedback",
        "urgency": "normal",
        "earliest_at": None,
        "deadline": None,
        "request": request,
    }
    winner, created = records.create_callback(db, **kwargs)
    assert created
    real_find = records._find
    misses = iter([True])
    monkeypatch.setattr(records, "_find", lambda *a: None if next(misses, False) else real_find(*a))
    loser, created = records.create_callback(db, **kwargs)
    assert (loser.id, created) == (winner.id, False)
    assert rows_for(db, "wallet", event_id) == 1


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    inner = body
    for key in path[:-1]:
        inner = inner[key]
    del inner[path[-1]]
    return body


def _with(body: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    inner = body
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    return body


BAD = {
    "phone without +": (_with(confirmation(), "4155550123", "customer", "phone"), "phone", "E.164"),
    "phone with spaces": (
        _with(confirmation(), "+1 415 555 0123", "customer", "phone"),
        "phone",
        "E.164",
    ),
    "phone too short": (_with(confirmation(), "+1234567", "customer", "phone"), "phone", "8 to 15"),
    "phone too long": (
        _with(confirmation(), "+1234567890123456", "customer", "phone"),
        "phone",
        "8 to 15",
    ),
    "unknown timezone": (
        _with(confirmation(), "Mars/Olympus", "customer", "timezone"),
        "timezone",
        "IANA",
    ),
    "no first name": (_without(confirmation(), "customer", "first_name"), "first_name", "required"),
    "comma amount": (_with(confirmation(), "12,50", "transaction", "amount"), "amount", "decimal"),
    "number amount": (
        _with(confirmation(), 912.4, "transaction", "amount"),
        "amount",
        "not a JSON",
    ),
    "no purpose": (_without(feedback(), "purpose"), "body", "'purpose'"),
    "negative amount": (_with(confirmation(), "-5", "transaction", "amount"), "amount", "positive"),
    "zero amount": (_with(confirmation(), "0.00", "transaction", "amount"), "amount", "positive"),
    "lower-case currency": (
        _with(confirmation(), "usd", "transaction", "currency"),
        "currency",
        "ISO 4217",
    ),
    "unknown currency": (
        _with(confirmation(), "ZZZ", "transaction", "currency"),
        "currency",
        "ISO 4217 currency code such as USD; 'ZZZ' is not one",
    ),
    "cents of yen": (
        paying("912.40", "JPY"),
        "amount",
        "JPY has no minor unit: amount must be a whole number",
    ),
    "a fourth decimal of a dinar": (
        paying("12.3455", "KWD"),
        "amount",
        "KWD amounts have at most 3 decimals; '12.3455' has 4",
    ),
    "a third decimal of a dollar": (
        paying("912.405", "USD"),
        "amount",
        "USD amounts have at most 2 decimals",
    ),
    "naive transaction time": (
        _with(confirmation(), "2026-11-22T18:04:00", "transaction", "time"),
        "time",
        "timezone",
    ),
    "no transaction": (_without(confirmation(), "transaction"), "transaction", "required"),
    "no case id": (_without(feedback(), "case_id"), "case_id", "required"),
    "unknown purpose": (confirmation(purpose="marketing"), "body", "'purpose'"),
    "unknown urgency": (confirmation(urgency="urgent"), "urgency", "'normal' or 'high'"),
    "naive earliest_at": (
        confirmation(earliest_at="2030-01-01T10:00:00"),
        "earliest_at",
        "timezone",
    ),
    "past deadline": (
        confirmation(earliest_at=None, deadline=later(minutes=-5)),
        "deadline",
        "future",
    ),
    "deadline before earliest_at": (
        confirmation(earliest_at=later(hours=3), deadline=later(hours=2)),
        "deadline",
        "after earliest_at",
    ),
    "no event id": (_without(confirmation(), "event_id"), "event_id", "required"),
    "empty event id": (confirmation(event_id="  "), "event_id", "at least 1"),
    "misspelt field": (confirmation(deadine=later(hours=1)), "deadine", "not permitted"),
}


@pytest.mark.parametrize("body, field, words", BAD.values(), ids=list(BAD))
def test_bad_input_is_refused_naming_the_field(
    api: TestClient, body: dict[str, Any], field: str, words: str
) -> None:
    response = api.post("/v1/callbacks", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    matching = [e for e in errors if e["loc"][-1] == field]
    assert matching, errors
    assert any(words.lower() in e["msg"].lower() for e in matching), matching


@pytest.mark.parametrize(
    "amount, currency",
    [("1250", "JPY"), ("1250.00", "JPY"), ("12.345", "KWD"), ("12.3450", "KWD"), ("0.01", "CNY")],
)
def test_amounts_as_fine_as_their_currency_are_accepted(
    api: TestClient, amount: str, currency: str
) -> None:
    response = api.post("/v1/callbacks", json=paying(amount, currency))
    assert response.status_code == 202, response.text
    assert response.json()["request"]["transaction"]["amount"] == amount  # as sent, unrounded


def test_a_request_stored_before_the_currency_rules_still_reads_back(
    api: TestClient, db: Database
) -> None:
    created = api.post("/v1/callbacks", json=confirmation()).json()
    stored = paying("912.405", "USD") | {"event_id": created["event_id"]}
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackRecord).where(CallbackRecord.id == created["id"]).values(request=stored)
        )
    response = api.get(f"/v1/callbacks/{created['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["request"]["transaction"]["amount"] == "912.405"


def test_a_past_deadline_does_not_turn_a_retry_into_an_error(api: TestClient, db: Database) -> None:
    body = confirmation(deadline=later(seconds=2))
    first = api.post("/v1/callbacks", json=body).json()
    with db.session() as s, s.begin():  # the deadline passes before the client retries
        s.execute(
            update(CallbackRecord)
            .where(CallbackRecord.id == first["id"])
            .values(deadline=datetime.now(UTC) - timedelta(minutes=1))
        )
    again = api.post("/v1/callbacks", json=body)
    assert (again.status_code, again.json()["id"]) == (200, first["id"])


@pytest.mark.parametrize(
    "headers, error",
    [
        ({}, None),
        ({"Authorization": "Bearer vbk_not-a-key"}, "invalid_token"),
        ({"Authorization": f"Basic {OTHER_KEY}"}, None),
        ({"Authorization": "Bearer "}, None),
    ],
    ids=["no header", "wrong key", "not bearer", "empty key"],
)
def test_requests_without_a_valid_key_are_401(
    api: TestClient, headers: dict[str, str], error: str | None
) -> None:
    callback_id = api.post("/v1/callbacks", json=feedback()).json()["id"]
    anonymous = TestClient(api.app, base_url=PUBLIC_URL)  # no default Authorization header
    for method, path, body in [
        ("POST", "/v1/callbacks", feedback()),
        ("GET", f"/v1/callbacks/{callback_id}", None),
        ("DELETE", f"/v1/callbacks/{callback_id}", None),
    ]:
        response = anonymous.request(method, path, json=body, headers=headers)
        assert response.status_code == 401, (method, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        if error:
            assert error in response.headers["www-authenticate"]
    assert api.get(f"/v1/callbacks/{callback_id}").json()["state"] == "queued"


def test_without_configured_keys_every_request_is_401(api_settings: Settings) -> None:
    settings = api_settings.model_copy(update={"api_keys": {}})
    with TestClient(create_app(settings, preload_models=False), base_url=PUBLIC_URL) as bare:
        for headers in ({}, {"Authorization": "Bearer anything"}, {"Authorization": "Bearer "}):
            response = bare.post("/v1/callbacks", json=feedback(), headers=headers)
            assert response.status_code == 401


def test_another_clients_callback_is_404(api: TestClient) -> None:
    callback_id = api.post("/v1/callbacks", json=feedback()).json()["id"]
    assert api.get(f"/v1/callbacks/{callback_id}", headers=OTHER).status_code == 404
    assert api.delete(f"/v1/callbacks/{callback_id}", headers=OTHER).status_code == 404
    assert api.get(f"/v1/callbacks/{callback_id}").json()["state"] == "queued"


def test_an_unknown_callback_is_404(api: TestClient) -> None:
    missing = f"cb_{secrets.token_hex(16)}"
    for response in (api.get(f"/v1/callbacks/{missing}"), api.delete(f"/v1/callbacks/{missing}")):
        assert response.status_code == 404
        assert missing in response.json()["detail"]


def test_get_shows_the_state_and_the_request(api: TestClient) -> None:
    body = confirmation()
    created = api.post("/v1/callbacks", json=body).json()
    response = api.get(f"/v1/callbacks/{created['id']}")
    assert response.status_code == 200
    shown = response.json()
    assert shown == created
    assert (shown["state"], shown["attempts"], shown["gate_decisions"]) == ("queued", [], [])
    assert shown["request"]["customer"]["phone"] == body["customer"]["phone"]
    assert shown["request"]["event_id"] == body["event_id"]


def test_get_lists_attempts_and_gate_decisions_in_order(api: TestClient, db: Database) -> None:
    callback_id = api.post("/v1/callbacks", json=confirmation()).json()["id"]
    now = datetime.now(UTC)
    with db.session() as s, s.begin():  # what the workers will write
        s.add_all(
            [
                GateDecision(
                    callback_id=callback_id,
                    decided_at=now,
                    allowed=False,
                    reasons=["quiet_hours"],
                    retry_at=now + timedelta(hours=8),
                ),
                GateDecision(
                    callback_id=callback_id,
                    decided_at=now + timedelta(hours=8),
                    allowed=True,
                    reasons=[],
                    retry_at=None,
                ),
                CallbackAttempt(
                    callback_id=callback_id,
                    attempt=2,
                    call_id="call-2",
                    status="completed",
                    created_at=now + timedelta(hours=9),
                ),
                CallbackAttempt(
                    callback_id=callback_id,
                    attempt=1,
                    call_id=None,
                    status="no-answer",
                    created_at=now + timedelta(hours=8),
                ),
            ]
        )
    shown = api.get(f"/v1/callbacks/{callback_id}").json()
    assert [(a["attempt"], a["call_id"], a["status"]) for a in shown["attempts"]] == [
        (1, None, "no-answer"),
        (2, "call-2", "completed"),
    ]
    assert [(d["allowed"], d["reasons"]) for d in shown["gate_decisions"]] == [
        (False, ["quiet_hours"]),
        (True, []),
    ]
    assert shown["gate_decisions"][0]["retry_at"] is not None


def test_cancelling_and_then_asking_again(api: TestClient) -> None:
    body = feedback()
    callback_id = api.post("/v1/callbacks", json=body).json()["id"]
    cancelled = api.delete(f"/v1/callbacks/{callback_id}")
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "cancelled")
    assert cancelled.json()["updated_at"] >= cancelled.json()["created_at"]
    again = api.delete(f"/v1/callbacks/{callback_id}")
    assert (again.status_code, again.json()["state"]) == (200, "cancelled")
    assert api.get(f"/v1/callbacks/{callback_id}").json()["state"] == "cancelled"
    repeat = api.post("/v1/callbacks", json=body)  # the same event: still that callback
    assert (repeat.status_code, repeat.json()["id"]) == (200, callback_id)
    assert repeat.json()["state"] == "cancelled"


@pytest.mark.parametrize("state", ["completed", "refused", "failed"])
def test_cancelling_a_finished_callback_is_409(api: TestClient, db: Database, state: str) -> None:
    callback_id = api.post("/v1/callbacks", json=feedback()).json()["id"]
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackRecord).where(CallbackRecord.id == callback_id).values(state=state)
        )
    response = api.delete(f"/v1/callbacks/{callback_id}")
    assert response.status_code == 409
    assert f"already {state}" in response.json()["detail"]
    assert api.get(f"/v1/callbacks/{callback_id}").json()["state"] == state


def test_a_callback_being_dialed_can_be_cancelled(api: TestClient, db: Database) -> None:
    callback_id = api.post("/v1/callbacks", json=feedback()).json()["id"]
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackRecord).where(CallbackRecord.id == callback_id).values(state="dialing")
        )
    assert api.delete(f"/v1/callbacks/{callback_id}").json()["state"] == "cancelled"


def test_the_openapi_document_describes_the_api(api: TestClient) -> None:
    doc = api.get("/openapi.json").json()
    create = doc["paths"]["/v1/callbacks"]["post"]
    one = doc["paths"]["/v1/callbacks/{callback_id}"]
    assert set(one) == {"get", "delete"}
    for operation in (create, one["get"], one["delete"]):
        assert operation["tags"] == ["callbacks"]
        assert operation["summary"]
        assert operation["security"] == [{"ApiKey": []}]
        assert "401" in operation["responses"]
    assert {"200", "202", "409", "422"} <= set(create["responses"])
    assert "HTTPValidationError" in str(create["responses"]["422"])
    assert {"200", "404"} <= set(one["get"]["responses"])
    assert {"200", "404", "409"} <= set(one["delete"]["responses"])
    assert doc["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    schemas = doc["components"]["schemas"]
    assert {"Callback", "TransactionConfirmationRequest", "FeedbackRequest", "Problem"} <= set(
        schemas
    )
    assert "transaction" in schemas["TransactionConfirmationRequest"]["required"]
    assert "case_id" in schemas["FeedbackRequest"]["required"]


def _naming(field: str, value: str) -> dict[str, Any]:
    """A confirmation whose customer's ``first_name``/``last_name`` or merchant is ``value``."""
    body = confirmation()
    if field == "merchant":
        body["transaction"]["merchant"] = value
    else:
        body["customer"][field] = value
    return body


SPOKEN_REFUSED = {
    "a control character": ("Al\x07ice", "control characters (found U+0007)"),
    "NUL": ("Alice\x00", "control characters (found U+0000)"),
    "a line break": ("Alice\nBob", "control characters (found U+000A)"),
    "a right-to-left override": (
        "Alice\u202egnp.exe",
        "bidirectional control characters (found U+202E)",
    ),
    "an isolate": ("\u2066Alice\u2069", "bidirectional control characters (found U+2066)"),
    "SSML": ("<speak>Alice</speak>", "'<' or '>'"),
    "a script tag": ("<script>alert(1)</script>", "'<' or '>'"),
    "only punctuation": ("--", "at least one letter or digit"),
}


@pytest.mark.parametrize("field", ["first_name", "last_name", "merchant"])
@pytest.mark.parametrize(("value", "words"), SPOKEN_REFUSED.values(), ids=list(SPOKEN_REFUSED))
def test_what_the_voice_cannot_say_as_given_is_refused(
    api: TestClient, db: Database, field: str, value: str, words: str
) -> None:
    body = _naming(field, value)
    response = api.post("/v1/callbacks", json=body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][-1] == field
    assert words in error["msg"]
    assert rows_for(db, "wallet", body["event_id"]) == 0


SPOKEN_ALLOWED = [
    "José",
    "O'Brien",
    "Zoë",
    "李",
    "Nguyễn Thị",
    "Anne-Marie",
    "محمد",  # right-to-left script, with no override: allowed
    "प्रिया",  # combining marks
    "AT&T",
    "McDonald's",
    "7-Eleven",
    "Müller & Söhne GmbH",
]


@pytest.mark.parametrize("field", ["first_name", "last_name", "merchant"])
@pytest.mark.parametrize("value", SPOKEN_ALLOWED)
def test_names_in_every_script_are_accepted_as_given(
    api: TestClient, field: str, value: str
) -> None:
    response = api.post("/v1/callbacks", json=_naming(field, value))
    assert response.status_code == 202, response.text
    request = response.json()["request"]
    spoken = request["transaction"] if field == "merchant" else request["customer"]
    assert spoken[field] == value


def _for_number(phone: str, make: Any = confirmation) -> dict[str, Any]:
    body: dict[str, Any] = make()
    body["customer"]["phone"] = phone
    return body


def test_a_number_with_too_many_open_callbacks_is_429(api: TestClient, db: Database) -> None:
    phone = new_phone()
    bodies = [_for_number(phone) for _ in range(4)]
    answers = [api.post("/v1/callbacks", json=body) for body in bodies]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    detail = answers[3].json()["detail"]
    assert detail.startswith(f"{phone} already has 3 callbacks queued or being dialed")
    assert "at most 3 may be open per number" in detail
    assert rows_for(db, "wallet", bodies[3]["event_id"]) == 0
    # A repeat of a stored request is not a new callback: still its 200.
    again = api.post("/v1/callbacks", json=bodies[0])
    assert (again.status_code, again.json()["id"]) == (200, answers[0].json()["id"])
    # The cap protects the person called: another client's request counts the same.
    theirs = api.post("/v1/callbacks", json=_for_number(phone, feedback), headers=OTHER)
    assert theirs.status_code == 429
    # An ended or cancelled callback no longer counts.
    assert api.delete(f"/v1/callbacks/{answers[0].json()['id']}").status_code == 200
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackRecord)
            .where(CallbackRecord.id == answers[1].json()["id"])
            .values(state="completed")
        )
    assert api.post("/v1/callbacks", json=bodies[3]).status_code == 202
    assert api.post("/v1/callbacks", json=_for_number(phone)).status_code == 202
    assert api.post("/v1/callbacks", json=_for_number(phone)).status_code == 429
    assert api.post("/v1/callbacks", json=confirmation()).status_code == 202  # other numbers


def test_concurrent_requests_for_one_number_stop_at_the_cap(api: TestClient) -> None:
    phone = new_phone()
    start = threading.Barrier(8)
    statuses: list[int] = []

    def post() -> None:
        body = _for_number(phone)
        start.wait()
        statuses.append(api.post("/v1/callbacks", json=body).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(statuses) == [202] * 3 + [429] * 5


def test_the_cap_is_configured(api_settings: Settings) -> None:
    assert Settings.model_fields["max_open_callbacks_per_number"].default == 3
    settings = api_settings.model_copy(update={"max_open_callbacks_per_number": 1})
    phone = new_phone()
    with TestClient(
        create_app(settings, preload_models=False),
        base_url=PUBLIC_URL,
        headers={"Authorization": f"Bearer {WALLET_KEY}"},
    ) as one:
        first = one.post("/v1/callbacks", json=_for_number(phone))
        second = one.post("/v1/callbacks", json=_for_number(phone))
    assert (first.status_code, second.status_code) == (202, 429)
    assert "at most 1 may be open" in second.json()["detail"]


@pytest.mark.parametrize("field", ["earliest_at", "deadline"])
def test_a_moment_with_no_date_in_utc_is_refused_before_the_row_is_written(
    db: Database, field: str
) -> None:
    """Past the schema too: such a row once made every later GET, DELETE and sweep fail."""
    event_id = new_event()
    moment = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))
    times: dict[str, datetime | None] = {"earliest_at": None, "deadline": None, field: moment}
    with pytest.raises(CallbackRequestError) as refused:
        records.create_callback(
            db,
            client="wallet",
            event_id=event_id,
            purpose="feedback",
            urgency="normal",
            request={"event_id": event_id, "customer": {"phone": new_phone()}},
            **times,
        )
    assert refused.value.field == field
    assert rows_for(db, "wallet", event_id) == 0


def test_a_request_stored_before_the_text_and_time_rules_still_reads_back(
    api: TestClient, db: Database
) -> None:
    """Rows written before the rules (NUL, markup, a year-1 time) are shown, and counted."""
    phone = new_phone()
    created = api.post("/v1/callbacks", json=_for_number(phone)).json()
    stored = _for_number(phone) | {"event_id": created["event_id"]}
    stored["customer"]["first_name"] = "Al\x00ice\u202e"
    stored["transaction"] |= {"merchant": "<b>Shop</b>", "time": "0001-01-01T00:00:00+14:00"}
    with db.session() as s, s.begin():
        s.execute(
            update(CallbackRecord).where(CallbackRecord.id == created["id"]).values(request=stored)
        )
    response = api.get(f"/v1/callbacks/{created['id']}")
    assert response.status_code == 200, response.text
    assert response.json()["request"]["customer"]["first_name"] == "Al\x00ice\u202e"
    # PostgreSQL's JSON operators fail on that row; the intake cap still counts it.
    answers = [api.post("/v1/callbacks", json=_for_number(phone)).status_code for _ in range(3)]
    assert answers == [202, 202, 429]
    assert api.delete(f"/v1/callbacks/{created['id']}").status_code == 200  # left for no worker
