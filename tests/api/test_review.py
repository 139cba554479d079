"""/v1/calls and /v1/feedback through the real app on PostgreSQL: roles, filters, paging.

Calls are written with the same record functions a live call uses; the scenario
suite (tests/e2e) reads real calls back through the same routes.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import WALLET_KEY
from tests.conftest import PRODUCT_KEY, SUPERVISOR_KEY
from voicebot.calls.context import CallContext
from voicebot.records.calls import Turn, attach_call_sid, create_call, finish_call
from voicebot.records.db import Database

SUPERVISOR = {"Authorization": f"Bearer {SUPERVISOR_KEY}"}
PRODUCT = {"Authorization": f"Bearer {PRODUCT_KEY}"}
WALLET = {"Authorization": f"Bearer {WALLET_KEY}"}


def _phone() -> str:
    return "+1415555" + f"{secrets.randbelow(10_000):04d}"


def _call(
    db: Database,
    *,
    purpose: str = "feedback",
    outcome: str | None = "feedback_collected",
    fields: dict[str, Any] | None = None,
    escalated: bool = False,
    phone: str | None = None,
    answered: bool = True,
) -> str:
    call_id = f"call_{secrets.token_hex(8)}"
    context = CallContext.model_validate(
        {
            "purpose": purpose,
            "customer": {"first_name": "Alice", "phone": phone or _phone()},
            "case_id": "case-1" if purpose == "feedback" else None,
            "transaction": None
            if purpose == "feedback"
            else {"id": "tx-9", "amount": "950.00", "merchant": "Shop", "time": datetime.now(UTC)},
        }
    )
    create_call(db, call_id, context)
    if answered:
        attach_call_sid(db, call_id, "CA" + secrets.token_hex(16))
    if outcome is not None:
        finish_call(
            db,
            call_id,
            outcome=outcome,
            escalated=escalated,
            fields=fields or {},
            evidence=None,
            turns=[
                Turn("bot", "How would you rate us?", "prompt", 0.5),
                Turn("caller", "Four. My PIN is [redacted PIN].", "speech", 3.2, 0.91),
            ],
        )
    return call_id


@pytest.fixture
def since() -> str:
    return (datetime.now(UTC) - timedelta(milliseconds=1)).isoformat()


def test_each_role_reads_only_what_it_may(api: TestClient, db: Database) -> None:
    call_id = _call(db)
    assert api.get("/v1/calls", headers={"Authorization": ""}).status_code == 401
    assert api.get("/v1/calls", headers={"Authorization": "Bearer vbk_nope"}).status_code == 401
    backend = api.get(f"/v1/calls/{call_id}", headers=WALLET)
    assert backend.status_code == 403
    assert backend.json()["detail"] == (
        "this key's roles (backend) do not include supervisor or product"
    )
    # The product team and supervisors do not ask for calls or touch consent.
    assert api.get("/v1/callbacks/cb_x", headers=PRODUCT).status_code == 403
    assert api.post("/v1/opt-outs", headers=SUPERVISOR, json={}).status_code == 403
    for reader in (PRODUCT, SUPERVISOR):
        assert api.get(f"/v1/calls/{call_id}", headers=reader).status_code == 200
        assert api.get("/v1/feedback", headers=reader).status_code == 200


def test_a_call_reads_back_whole_with_the_number_masked_for_the_product_team(
    api: TestClient, db: Database
) -> None:
    phone = _phone()
    call_id = _call(db, phone=phone, fields={"rating": 4})
    product = api.get(f"/v1/calls/{call_id}", headers=PRODUCT).json()
    supervisor = api.get(f"/v1/calls/{call_id}", headers=SUPERVISOR).json()
    assert supervisor["customer_phone"] == phone
    assert product["customer_phone"] == "+*******" + phone[-4:]
    assert {k: v for k, v in product.items() if k != "customer_phone"} == {
        k: v for k, v in supervisor.items() if k != "customer_phone"
    }
    assert product["outcome"] == "feedback_collected" and product["fields"] == {"rating": 4}
    assert product["case_id"] == "case-1" and product["answered_at"] and product["ended_at"]
    assert [(t["speaker"], t["text"]) for t in product["transcript"]] == [
        ("bot", "How would you rate us?"),
        ("caller", "Four. My PIN is [redacted PIN]."),
    ]
    assert product["transcript"][1]["confidence"] == pytest.approx(0.91)
    missing = api.get("/v1/calls/call_nope", headers=PRODUCT)
    assert missing.status_code == 404 and "call_nope" in missing.json()["detail"]


def test_filters_combine_and_pages_walk_every_call_once(
    api: TestClient, db: Database, since: str
) -> None:
    denied = [
        _call(db, purpose="transaction_confirmation", outcome="denied", escalated=True)
        for _ in range(5)
    ]
    confirmed = _call(db, purpose="transaction_confirmation", outcome="confirmed")
    live = _call(db, purpose="transaction_confirmation", outcome=None)
    never_answered = _call(db, purpose="transaction_confirmation", outcome=None, answered=False)
    query = {"since": since, "purpose": "transaction_confirmation", "escalated": "true"}
    seen: list[str] = []
    params: dict[str, Any] = {**query, "limit": 2}
    for _ in range(5):
        page = api.get("/v1/calls", headers=PRODUCT, params=params).json()
        seen += [c["id"] for c in page["calls"]]
        assert all("transcript" not in c for c in page["calls"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == list(reversed(denied))  # newest first, each once
    everything = api.get("/v1/calls", headers=PRODUCT, params={"since": since}).json()["calls"]
    assert {c["id"] for c in everything} == {*denied, confirmed, live, never_answered}
    listening = api.get(
        "/v1/calls", headers=SUPERVISOR, params={"since": since, "in_progress": "true"}
    ).json()
    assert [c["id"] for c in listening["calls"]] == [live]
    until = api.get(
        "/v1/calls", headers=PRODUCT, params={"since": since, "until": since, "limit": 1}
    )
    assert until.status_code == 422


def test_only_supervisors_look_calls_up_by_number(api: TestClient, db: Database) -> None:
    phone = _phone()
    call_id = _call(db, phone=phone)
    found = api.get("/v1/calls", headers=SUPERVISOR, params={"phone": phone}).json()["calls"]
    assert call_id in [c["id"] for c in found]
    refused = api.get("/v1/calls", headers=PRODUCT, params={"phone": phone})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "filtering by phone needs the supervisor role"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "bm90IG91cnM"}, "cursor"),
        ({"since": "2026-11-23T10:00:00"}, "since"),  # no zone: ambiguous
        ({"since": "2026-11-23T10:00:00Z", "until": "2026-11-23T09:00:00Z"}, "until"),
        ({"limit": 0}, "limit"),
        ({"purpose": "marketing"}, "purpose"),
        ({"phone": "0123"}, "phone"),
    ],
)
def test_a_bad_query_says_which_parameter(
    api: TestClient, params: dict[str, Any], field: str
) -> None:
    response = api.get("/v1/calls", headers=SUPERVISOR, params=params)
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", field]]


def test_feedback_counts_every_call_and_lists_the_newest(
    api: TestClient, db: Database, since: str
) -> None:
    ratings = [5, 4, 4, 2, "3", None, True]  # JSON fields: only 1-5 counts as a rating
    for rating in ratings:
        _call(db, fields={} if rating is None else {"rating": rating, "comment": f"r={rating}"})
    _call(db, outcome="declined")
    _call(db, outcome=None)
    _call(db, purpose="transaction_confirmation", outcome="confirmed")  # not feedback
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    report = api.get(
        "/v1/feedback", headers=PRODUCT, params={"since": since, "until": until, "limit": 3}
    ).json()
    assert report["calls"] == 9
    assert report["rated"] == 5
    assert report["average_rating"] == 3.6
    assert report["ratings"] == {"1": 0, "2": 1, "3": 1, "4": 2, "5": 1}
    assert report["outcomes"] == {"feedback_collected": 7, "declined": 1, "in_progress": 1}
    newest = report["items"]
    assert [i["outcome"] for i in newest] == [None, "declined", "feedback_collected"]
    assert newest[2] == {**newest[2], "rating": None, "comment": "r=True"}
    empty = api.get("/v1/feedback", headers=PRODUCT, params={"since": until}).json()
    assert empty["calls"] == 0 and empty["average_rating"] is None and empty["items"] == []
