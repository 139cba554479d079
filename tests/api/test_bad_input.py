"""Every ``/v1`` operation of the OpenAPI document, walked with input that must be a 422.

A NUL character (PostgreSQL refuses it in text), a lone UTF-16 surrogate (not
encodable as UTF-8), dates at the ends of the calendar with extreme offsets (no
longer a date once converted to UTC) and numbers in date fields (Unix times)
are put, one at a time, into every path parameter, query parameter and body
field of a request that is otherwise accepted. Each must be answered 422 naming
that field, never 5xx, and a refused request must have stored nothing.

The tables are checked against the OpenAPI document itself, so a new
operation, parameter or body field without a baseline here fails
``test_the_baselines_cover_the_openapi_document``.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Text, cast, func, select

from tests.api.conftest import WALLET_KEY
from tests.conftest import SUPERVISOR_KEY
from voicebot.calls.context import CallContext
from voicebot.records.calls import create_call
from voicebot.records.db import Database
from voicebot.records.models import CallbackRecord
from voicebot.records.review import encode_cursor

BACKEND = {"Authorization": f"Bearer {WALLET_KEY}"}
SUPERVISOR = {"Authorization": f"Bearer {SUPERVISOR_KEY}"}

NUL = "\x00"
SURROGATE = "\ud800"
EXTREME_TIMES = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
]
UNIX_TIMES: list[Any] = [0, 1_700_000_000, 1.7e9, "1700000000"]


def fresh_phone() -> str:
    return f"+1415{secrets.randbelow(10**7):07d}"


def iso(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@dataclass
class World:
    """What baselines point at: a stored call, and callbacks made on demand."""

    api: TestClient
    db: Database
    call_id: str

    def new_callback(self) -> str:
        response = self.api.post("/v1/callbacks", json=feedback_body(), headers=BACKEND)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])


@dataclass
class Request:
    method: str
    path: str
    path_params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any] | None
    headers: dict[str, str]

    def send(self, api: TestClient) -> Any:
        path = self.path
        for name, value in self.path_params.items():
            path = path.replace("{" + name + "}", quote(value, safe=""))
        if self.body is None:
            return api.request(self.method, path, params=self.query, headers=self.headers)
        # Escaped (ensure_ascii), as a client sends a lone surrogate: "\ud800".
        content = json.dumps(self.body).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        return api.request(self.method, path, params=self.query, content=content, headers=headers)


def confirmation_body() -> dict[str, Any]:
    """A confirmation request with every optional field given."""
    return {
        "purpose": "transaction_confirmation",
        "event_id": f"evt_{secrets.token_hex(8)}",
        "customer": {
            "first_name": "Alice",
            "last_name": "Moreau",
            "phone": fresh_phone(),
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
        "earliest_at": iso(minutes=-1),
        "deadline": iso(hours=2),
    }


def feedback_body() -> dict[str, Any]:
    return {
        "purpose": "feedback",
        "event_id": f"evt_{secrets.token_hex(8)}",
        "customer": {"first_name": "Bob", "phone": fresh_phone()},
        "case_id": "case_4411",
    }


def _stored_callbacks(world: World, original: Request) -> int:
    """Callbacks stored under the good request's event id or for its (fresh) number.

    Found by text: PostgreSQL's JSON operators fail on rows that hold an escaped
    NUL, which ``test_callbacks`` stores on purpose (a row from before the rules).
    """
    assert original.body is not None
    with world.db.session() as s:
        count = s.scalar(
            select(func.count())
            .select_from(CallbackRecord)
            .where(
                (CallbackRecord.event_id == original.body["event_id"])
                | cast(CallbackRecord.request, Text).contains(original.body["customer"]["phone"])
            )
        )
    return int(count or 0)


def _number_untouched(world: World, original: Request) -> int:
    """1 if the registry holds anything about the request's (fresh) number."""
    phone = original.path_params.get("phone") or (original.body or {}).get("phone")
    status = world.api.get(f"/v1/consents/{quote(str(phone), safe='')}", headers=BACKEND)
    assert status.status_code == 200, status.text
    body = status.json()
    return int(body["opted_out"] or bool(body["consents"]))


@dataclass(frozen=True)
class Baseline:
    """An accepted request for one operation; ``stored`` counts what a refusal must not leave."""

    headers: dict[str, str]
    path_params: dict[str, Callable[[World], str]] = field(default_factory=dict)
    query: Callable[[], dict[str, str]] = dict
    bodies: tuple[Callable[[], dict[str, Any]], ...] = ()
    stored: Callable[[World, Request], int] | None = None

    def requests(self, world: World, method: str, path: str) -> Iterator[Request]:
        bodies: list[dict[str, Any] | None] = [make() for make in self.bodies] or [None]
        for body in bodies:
            yield Request(
                method,
                path,
                {name: make(world) for name, make in self.path_params.items()},
                self.query(),
                body,
                dict(self.headers),
            )


def _call_page_query() -> dict[str, str]:
    return {
        "purpose": "feedback",
        "outcome": "feedback_collected",
        "escalated": "false",
        "in_progress": "false",
        "phone": fresh_phone(),
        "since": iso(days=-1),
        "until": iso(days=1),
        "limit": "10",
        "cursor": encode_cursor(datetime.now(UTC), "call_zzz"),
    }


BASELINES: dict[tuple[str, str], Baseline] = {
    ("POST", "/v1/callbacks"): Baseline(
        BACKEND, bodies=(confirmation_body, feedback_body), stored=_stored_callbacks
    ),
    ("GET", "/v1/callbacks/{callback_id}"): Baseline(
        BACKEND, path_params={"callback_id": World.new_callback}
    ),
    ("DELETE", "/v1/callbacks/{callback_id}"): Baseline(
        BACKEND, path_params={"callback_id": World.new_callback}
    ),
    ("POST", "/v1/opt-outs"): Baseline(
        BACKEND,
        bodies=(lambda: {"phone": fresh_phone(), "reason": "asked in the app"},),
        stored=_number_untouched,
    ),
    ("GET", "/v1/consents/{phone}"): Baseline(
        BACKEND, path_params={"phone": lambda w: fresh_phone()}
    ),
    ("PUT", "/v1/consents/{phone}/{purpose}"): Baseline(
        BACKEND,
        path_params={"phone": lambda w: fresh_phone(), "purpose": lambda w: "feedback"},
        bodies=(lambda: {"source": "app_settings", "at": iso(minutes=-1)},),
        stored=_number_untouched,
    ),
    ("DELETE", "/v1/consents/{phone}/{purpose}"): Baseline(
        BACKEND,
        path_params={"phone": lambda w: fresh_phone(), "purpose": lambda w: "feedback"},
        stored=_number_untouched,
    ),
    ("GET", "/v1/calls"): Baseline(SUPERVISOR, query=_call_page_query),
    ("GET", "/v1/calls/{call_id}"): Baseline(
        SUPERVISOR, path_params={"call_id": lambda w: w.call_id}
    ),
    ("GET", "/v1/feedback"): Baseline(
        SUPERVISOR, query=lambda: {"since": iso(days=-1), "until": iso(days=1), "limit": "5"}
    ),
}

# Fields of these names hold a date and time (checked against the document below).
DATETIME_FIELDS = {"time", "earliest_at", "deadline", "at", "since", "until"}


def _is_datetime(name: str) -> bool:
    return name in DATETIME_FIELDS


def _leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _leaves(inner, (*path, key))
    else:
        yield path, value


def _replace(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    inner = body
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value


@dataclass(frozen=True)
class Mutation:
    """One bad value in one place: ``where`` is "path", "query" or "body"."""

    where: str
    name: tuple[str, ...]
    make: Callable[[Any], Any]  # the good value -> the bad one
    label: str

    def apply(self, request: Request) -> Request:
        bad = Request(
            request.method,
            request.path,
            dict(request.path_params),
            dict(request.query),
            None if request.body is None else _copy(request.body),
            request.headers,
        )
        if self.where == "path":
            bad.path_params[self.name[0]] = self.make(bad.path_params[self.name[0]])
        elif self.where == "query":
            bad.query[self.name[0]] = self.make(bad.query[self.name[0]])
        else:
            assert bad.body is not None
            inner: Any = bad.body
            for key in self.name:
                inner = inner[key]
            _replace(bad.body, self.name, self.make(inner))
        return bad


def _copy(body: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, dict) else v for k, v in body.items()}


def _mutations(where: str, name: tuple[str, ...], example: Any) -> Iterator[Mutation]:
    if not isinstance(example, str):
        return
    yield Mutation(where, name, lambda v: v + NUL, "nul")
    yield Mutation(where, name, lambda v: NUL, "only-nul")
    if where == "body":  # a URL cannot carry one: httpx refuses to encode it
        yield Mutation(where, name, lambda v: v + SURROGATE, "surrogate")
    if _is_datetime(name[-1]):
        for moment in EXTREME_TIMES:
            yield Mutation(where, name, lambda v, m=moment: m, moment)
        for number in UNIX_TIMES if where == "body" else ["1700000000", "0"]:
            yield Mutation(where, name, lambda v, n=number: n, f"unix-{number!r}")


def _cases() -> Iterator[Any]:
    for (method, path), baseline in BASELINES.items():
        examples: list[tuple[str, tuple[str, ...], Any]] = [
            ("path", (name,), "x") for name in baseline.path_params
        ]
        examples += [("query", (name,), value) for name, value in baseline.query().items()]
        for index, body in enumerate(baseline.bodies):
            for leaf, value in _leaves(body()):
                examples.append((f"body{index}", leaf, value))
        for where, name, value in examples:
            kind = "body" if where.startswith("body") else where
            for mutation in _mutations(kind, name, value):
                yield pytest.param(
                    method,
                    path,
                    int(where[4:]) if kind == "body" else 0,
                    mutation,
                    id=f"{method} {path} {where}:{'.'.join(name)}={mutation.label}",
                )


@pytest.fixture(scope="module")
def world(api: TestClient, db: Database) -> World:
    call_id = f"call_{secrets.token_hex(8)}"
    context = CallContext.model_validate(
        {
            "purpose": "feedback",
            "customer": {"first_name": "Alice", "phone": fresh_phone()},
            "case_id": "case-1",
        }
    )
    create_call(db, call_id, context)
    return World(api=api, db=db, call_id=call_id)


def _baseline_request(world: World, method: str, path: str, body_index: int) -> Request:
    requests = list(BASELINES[(method, path)].requests(world, method, path))
    return requests[body_index]


@pytest.mark.parametrize(("method", "path"), list(BASELINES))
def test_every_baseline_is_accepted(world: World, method: str, path: str) -> None:
    """So that a 422 below is the bad value's doing, not the baseline's."""
    for request in BASELINES[(method, path)].requests(world, method, path):
        response = request.send(world.api)
        assert response.status_code < 300, response.text


@pytest.mark.parametrize(("method", "path", "body_index", "mutation"), list(_cases()))
def test_a_bad_value_is_a_422_naming_it_and_stores_nothing(
    world: World, method: str, path: str, body_index: int, mutation: Mutation
) -> None:
    good = _baseline_request(world, method, path, body_index)
    bad = mutation.apply(good)
    response = bad.send(world.api)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    name = mutation.name[-1]  # a union's tag is named in the message, its loc is the body
    assert any(e["loc"][-1] == name or f"'{name}'" in e["msg"] for e in errors), errors
    if mutation.label.startswith("unix"):
        assert any("ISO 8601" in e["msg"] for e in errors), errors
    stored = BASELINES[(method, path)].stored
    if stored is not None:
        assert stored(world, good) == 0


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _properties(
    doc: dict[str, Any], schema: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every (path, schema) of a body's fields, through references and unions."""
    schema = _resolve(doc, schema)
    for variant in schema.get("oneOf", []) + schema.get("anyOf", []):
        yield from _properties(doc, variant, path)
    for name, inner in schema.get("properties", {}).items():
        yield (*path, name), _resolve(doc, inner)
        yield from _properties(doc, inner, (*path, name))


def _is_datetime_schema(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(doc, schema)
    variants = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return any(_resolve(doc, v).get("format") == "date-time" for v in variants)


def test_the_baselines_cover_the_openapi_document(api: TestClient) -> None:
    doc = api.get("/openapi.json").json()
    operations = {
        (method.upper(), path)
        for path, methods in doc["paths"].items()
        if path.startswith("/v1/")
        for method in methods
    }
    assert operations == set(BASELINES)
    for (method, path), baseline in BASELINES.items():
        operation = doc["paths"][path][method.lower()]
        parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}
        given = {("path", n) for n in baseline.path_params} | {
            ("query", n) for n in baseline.query()
        }
        assert set(parameters) == given, (method, path)
        for (_, name), parameter in parameters.items():
            assert _is_datetime_schema(doc, parameter["schema"]) == _is_datetime(name), name
        if "requestBody" not in operation:
            assert not baseline.bodies, (method, path)
            continue
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        fields = dict(_properties(doc, schema))
        seen = {leaf for body in baseline.bodies for leaf, _ in _leaves(body())}
        prefixes = {leaf[:i] for leaf in seen for i in range(1, len(leaf) + 1)}
        assert set(fields) <= prefixes, (method, path, set(fields) - prefixes)
        for name, inner in fields.items():
            assert _is_datetime_schema(doc, inner) == _is_datetime(name[-1]), name


def test_crafted_cursors_are_refused(world: World) -> None:
    """A cursor is opaque, but it is input: what it decodes to is checked too."""
    for raw in [
        f"{datetime.now(UTC).isoformat()}|call{NUL}",
        "0001-01-01T00:00:00+14:00|call_x",
        "2026-01-01T00:00:00|call_x",  # no offset
        "1700000000|call_x",
    ]:
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        response = world.api.get("/v1/calls", headers=SUPERVISOR, params={"cursor": cursor})
        assert response.status_code == 422, (raw, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
