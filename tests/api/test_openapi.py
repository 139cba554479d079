"""The OpenAPI document states the rules the code enforces, and they are the same rules.

A client generated from ``/openapi.json`` should refuse what the server refuses:
E.164 phone numbers, decimal-string amounts, ISO 8601 times and opaque cursors
are stated as patterns, formats and descriptions, and each pattern is checked
here against what the real app answers for the same values.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SUPERVISOR_KEY
from voicebot.records.review import encode_cursor

SUPERVISOR = {"Authorization": f"Bearer {SUPERVISOR_KEY}"}
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"


@pytest.fixture(scope="module")
def doc(api: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = api.get("/openapi.json").json()
    return document


def _schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][name]
    return schema


def _parameter(doc: dict[str, Any], path: str, method: str, name: str) -> dict[str, Any]:
    [parameter] = [p for p in doc["paths"][path][method]["parameters"] if p["name"] == name]
    return parameter


def _pattern(schema: dict[str, Any]) -> str:
    """The pattern of a string schema, or of the string branch of an optional one."""
    for variant in [schema, *schema.get("anyOf", [])]:
        if "pattern" in variant:
            return str(variant["pattern"])
    raise AssertionError(f"no pattern in {schema}")


def _matches(pattern: str, value: str) -> bool:
    """As a JSON Schema validator reads it (ECMA: ``$`` is the end, not before a newline)."""
    return re.search(pattern.replace("$", r"\Z"), value) is not None


def test_every_phone_number_field_states_e164(doc: dict[str, Any]) -> None:
    places = {
        "Customer.phone": _schema(doc, "Customer")["properties"]["phone"],
        "OptOutRequest.phone": _schema(doc, "OptOutRequest")["properties"]["phone"],
        "GET /v1/consents/{phone}": _parameter(doc, "/v1/consents/{phone}", "get", "phone"),
        "PUT /v1/consents/{phone}/{purpose}": _parameter(
            doc, "/v1/consents/{phone}/{purpose}", "put", "phone"
        ),
        "GET /v1/calls?phone": _parameter(doc, "/v1/calls", "get", "phone"),
    }
    for place, schema in places.items():
        inner = schema.get("schema", schema)
        assert _pattern(inner) == E164_PATTERN, place
        assert "E.164" in (schema.get("description") or inner.get("description", "")), place
        assert "+14155550123" in str(schema.get("examples") or inner.get("examples")), place


@pytest.mark.parametrize(
    "phone",
    [
        "+14155550123",
        "+33612345678",
        "+123456789012345",
        "+12345678",
        "+1234567",
        "+1234567890123456",
        "4155550123",
        "+0123456789",
        "+1 415 555 0123",
        "+1415555012a",
        "+14155550123\n",
    ],
)
def test_the_phone_pattern_is_what_the_api_enforces(api: TestClient, phone: str) -> None:
    response = api.get(f"/v1/consents/{quote(phone, safe='')}")
    assert response.status_code in (200, 422)
    assert (response.status_code == 200) == _matches(E164_PATTERN, phone), response.text


def test_amounts_are_stated_as_decimal_strings(doc: dict[str, Any]) -> None:
    amount = _schema(doc, "Transaction")["properties"]["amount"]
    assert amount["type"] == "string"
    assert amount["pattern"] == r"^[0-9]{1,15}(\.[0-9]{1,6})?$"
    for words in ("decimal string", "not a JSON number", "at most 6 decimals", "JPY none"):
        assert words in amount["description"]
    assert "912.40" in amount["examples"]
    currency = _schema(doc, "Transaction")["properties"]["currency"]
    assert currency["pattern"] == "^[A-Z]{3}$" and "ISO 4217" in currency["description"]


@pytest.mark.parametrize(
    ("amount", "accepted"),
    [
        ("912.40", True),
        ("1250", True),
        ("0.5", True),
        ("912.4", True),
        ("12,50", False),
        ("-5", False),
        ("1e3", False),
        (".50", False),
        ("12.", False),
        (" 12.50", False),
        ("1234567890123456", False),
    ],
)
def test_the_amount_pattern_is_what_the_api_enforces(
    api: TestClient, doc: dict[str, Any], amount: str, accepted: bool
) -> None:
    pattern = _schema(doc, "Transaction")["properties"]["amount"]["pattern"]
    assert _matches(pattern, amount) == accepted
    body = {
        "purpose": "transaction_confirmation",
        "event_id": f"evt_{secrets.token_hex(8)}",
        "customer": {"first_name": "Alice", "phone": f"+1415{secrets.randbelow(10**7):07d}"},
        "transaction": {
            "id": "tx_1",
            "amount": amount,
            "currency": "USD",
            "merchant": "Amazon",
            "time": "2026-11-22T18:04:00Z",
        },
    }
    response = api.post("/v1/callbacks", json=body)
    assert response.status_code == (202 if accepted else 422), response.text


def test_times_are_stated_as_iso_8601_with_an_offset(doc: dict[str, Any]) -> None:
    fields = {
        "Transaction.time": _schema(doc, "Transaction")["properties"]["time"],
        "earliest_at": _schema(doc, "TransactionConfirmationRequest")["properties"]["earliest_at"],
        "ConsentGrant.at": _schema(doc, "ConsentGrant")["properties"]["at"],
        "since": _parameter(doc, "/v1/calls", "get", "since")["schema"],
    }
    for name, schema in fields.items():
        variants = [schema, *schema.get("anyOf", [])]
        assert any(v.get("format") == "date-time" for v in variants), name
        assert "ISO 8601" in schema["description"] and "offset" in schema["description"], name


def test_the_cursor_is_stated_as_opaque(doc: dict[str, Any]) -> None:
    cursor = _parameter(doc, "/v1/calls", "get", "cursor")
    assert "next_cursor" in cursor["description"] and "unchanged" in cursor["description"]
    assert _pattern(cursor["schema"]) == "^[A-Za-z0-9_-]{1,200}$"
    assert "unchanged" in _schema(doc, "CallList")["properties"]["next_cursor"]["description"]


@pytest.mark.parametrize(
    "cursor",
    [encode_cursor(datetime.now(UTC), "call_x"), "bm90IG91cnM=", "a b", "x" * 201, "é"],
)
def test_the_cursor_pattern_is_what_the_api_enforces(
    api: TestClient, doc: dict[str, Any], cursor: str
) -> None:
    pattern = _pattern(_parameter(doc, "/v1/calls", "get", "cursor")["schema"])
    response = api.get("/v1/calls", headers=SUPERVISOR, params={"cursor": cursor})
    if not _matches(pattern, cursor):
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
    else:
        assert response.status_code == 200, response.text


def test_the_intake_cap_is_documented(doc: dict[str, Any]) -> None:
    responses = doc["paths"]["/v1/callbacks"]["post"]["responses"]
    assert "MAX_OPEN_CALLBACKS_PER_NUMBER" in responses["429"]["description"]
    assert responses["429"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
