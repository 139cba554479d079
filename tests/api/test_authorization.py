"""Who may use what: every route of the app, for every role, with no key and a wrong key.

The table below is the authorization policy, read as documentation. The test
walks the app's own routes and fails if one is missing from the table, so a new
route cannot ship without a line here. Each cell is what a request that is
otherwise valid gets:

- ``ok``: allowed, and the request succeeds (2xx);
- ``401``: no key or not a valid one (``WWW-Authenticate`` says so);
- ``403``: a valid key without the role the route needs (or, on Twilio's
  webhooks, no valid Twilio signature: an API key never opens them);
- ``1008``: a WebSocket the server closes at the handshake (policy violation)
  before anything is sent. On ``/v1/live`` the close reason tells 401 from 403
  and the table says which; over a real server the handshake answers HTTP 403.

Scope, below the table: a backend client sees only its own callbacks (another
client's are 404, as if they did not exist), and phone numbers are whole only
for supervisors.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.conftest import OTHER_KEY, WALLET_KEY
from tests.conftest import PRODUCT_KEY, SUPERVISOR_KEY
from tests.telephony.test_media_stream import start_message
from voicebot.calls.context import CallContext
from voicebot.records.calls import attach_call_sid, create_call
from voicebot.records.db import Database

CALLERS = ("backend", "supervisor", "product", "no key", "wrong key")
KEYS: dict[str, str | None] = {
    "backend": WALLET_KEY,
    "supervisor": SUPERVISOR_KEY,
    "product": PRODUCT_KEY,
    "no key": None,
    "wrong key": "vbk_" + secrets.token_urlsafe(32),
}

# method  path                              backend  supervisor  product  no key  wrong key
POLICY = """
POST    /v1/callbacks                       ok       403         403      401     401
GET     /v1/callbacks/{callback_id}         ok       403         403      401     401
DELETE  /v1/callbacks/{callback_id}         ok       403         403      401     401
POST    /v1/opt-outs                        ok       403         403      401     401
GET     /v1/consents/{phone}                ok       403         403      401     401
PUT     /v1/consents/{phone}/{purpose}      ok       403         403      401     401
DELETE  /v1/consents/{phone}/{purpose}      ok       403         403      401     401
GET     /v1/calls                           403      ok          ok       401     401
GET     /v1/calls?phone=                    403      ok          403      401     401
GET     /v1/calls/{call_id}                 403      ok          ok       401     401
GET     /v1/feedback                        403      ok          ok       401     401
WS      /v1/live                            403      ok          403      401     401
POST    /twilio/voice                       403      403         403      403     403
POST    /twilio/status                      403      403         403      403     403
POST    /twilio/sms                         403      403         403      403     403
WS      /twilio/media-stream                1008     1008        1008     1008    1008
GET     /metrics                            ok       ok          ok       ok      ok
GET     /healthz                            ok       ok          ok       ok      ok
GET     /readyz                             ok       ok          ok       ok      ok
GET     /openapi.json                       ok       ok          ok       ok      ok
GET     /docs                               ok       ok          ok       ok      ok
GET     /docs/oauth2-redirect               ok       ok          ok       ok      ok
GET     /redoc                              ok       ok          ok       ok      ok
"""
# /metrics is open here because VOICEBOT_METRICS_TOKEN is empty in the tests
# (tests/test_metrics.py checks the token). Consent is per number, not per
# client: every backend client reads and changes the same registry, which is
# the gate's truth.


def _policy() -> dict[tuple[str, str], dict[str, str]]:
    table: dict[tuple[str, str], dict[str, str]] = {}
    for line in POLICY.strip().splitlines():
        method, path, *cells = line.split()
        assert len(cells) == len(CALLERS), line
        table[(method, path)] = dict(zip(CALLERS, cells, strict=True))
    return table


TABLE = _policy()


def fresh_phone() -> str:
    return f"+1415{secrets.randbelow(10**7):07d}"


def feedback_request() -> dict[str, Any]:
    return {
        "purpose": "feedback",
        "event_id": f"evt_{secrets.token_hex(8)}",
        "customer": {"first_name": "Bob", "phone": fresh_phone()},
        "case_id": "case_4411",
    }


@dataclass
class World:
    """What requests point at: the wallet's callbacks, a stored call."""

    api: TestClient
    db: Database

    def callback(self) -> str:
        """A fresh callback of the ``wallet`` backend client."""
        response = self.api.post(
            "/v1/callbacks", json=feedback_request(), headers=_auth(WALLET_KEY)
        )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def call(self, phone: str) -> str:
        call_id = f"call_{secrets.token_hex(8)}"
        context = CallContext.model_validate(
            {
                "purpose": "feedback",
                "customer": {"first_name": "Alice", "phone": phone},
                "case_id": "case-1",
            }
        )
        create_call(self.db, call_id, context)
        attach_call_sid(self.db, call_id, "CA" + secrets.token_hex(16))
        return call_id


@dataclass(frozen=True)
class Http:
    method: str
    url: str
    json: dict[str, Any] | None = None
    data: dict[str, str] | None = None


# One valid request per route, made fresh for each caller (a DELETE needs its own callback).
REQUESTS: dict[tuple[str, str], Callable[[World], Http]] = {
    ("POST", "/v1/callbacks"): lambda w: Http("POST", "/v1/callbacks", json=feedback_request()),
    ("GET", "/v1/callbacks/{callback_id}"): lambda w: Http("GET", f"/v1/callbacks/{w.callback()}"),
    ("DELETE", "/v1/callbacks/{callback_id}"): lambda w: Http(
        "DELETE", f"/v1/callbacks/{w.callback()}"
    ),
    ("POST", "/v1/opt-outs"): lambda w: Http("POST", "/v1/opt-outs", json={"phone": fresh_phone()}),
    ("GET", "/v1/consents/{phone}"): lambda w: Http("GET", f"/v1/consents/{fresh_phone()}"),
    ("PUT", "/v1/consents/{phone}/{purpose}"): lambda w: Http(
        "PUT", f"/v1/consents/{fresh_phone()}/feedback", json={"source": "app"}
    ),
    ("DELETE", "/v1/consents/{phone}/{purpose}"): lambda w: Http(
        "DELETE", f"/v1/consents/{fresh_phone()}/feedback"
    ),
    ("GET", "/v1/calls"): lambda w: Http("GET", "/v1/calls?limit=1"),
    ("GET", "/v1/calls?phone="): lambda w: Http("GET", "/v1/calls?phone=%2B14155550100"),
    ("GET", "/v1/calls/{call_id}"): lambda w: Http("GET", f"/v1/calls/{w.call(fresh_phone())}"),
    ("GET", "/v1/feedback"): lambda w: Http("GET", "/v1/feedback?limit=1"),
    ("POST", "/twilio/voice"): lambda w: Http(
        "POST", "/twilio/voice?call_id=x", data={"CallSid": "CA1", "CallStatus": "in-progress"}
    ),
    ("POST", "/twilio/status"): lambda w: Http(
        "POST", "/twilio/status?call_id=x", data={"CallSid": "CA1", "CallStatus": "completed"}
    ),
    ("POST", "/twilio/sms"): lambda w: Http(
        "POST", "/twilio/sms", data={"From": fresh_phone(), "Body": "STOP"}
    ),
    **{
        ("GET", path): (lambda p: lambda w: Http("GET", p))(path)
        for path in (
            "/metrics",
            "/healthz",
            "/readyz",
            "/openapi.json",
            "/docs",
            "/docs/oauth2-redirect",
            "/redoc",
        )
    },
}


def _auth(key: str | None) -> dict[str, str]:
    # The ``api`` client sends the wallet's key by default: "no key" overrides it empty.
    return {"Authorization": f"Bearer {key}" if key else ""}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, WebSockets as "WS"; HEAD comes with GET."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before routes were included lazily: a flat list
        routes: list[Any] = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    found: set[tuple[str, str]] = set()
    for route in routes:
        methods = getattr(route, "methods", None) or {"WS"}
        found |= {(m, route.path) for m in methods if m != "HEAD"}
    return found


@pytest.fixture(scope="module")
def world(api: TestClient, db: Database) -> World:
    return World(api, db)


def test_the_table_covers_every_route_of_the_app_and_nothing_else(api: TestClient) -> None:
    listed = {(m, p.split("?")[0]) for m, p in TABLE}
    assert listed == app_routes(api.app)  # type: ignore[arg-type]
    assert set(REQUESTS) | {("WS", "/v1/live"), ("WS", "/twilio/media-stream")} == set(TABLE)


def test_every_operation_in_the_openapi_document_is_in_the_table(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    operations = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert operations <= set(TABLE)
    # Operational endpoints stay out of the document; Twilio's webhooks are in it.
    assert not {p for _, p in operations} & {"/metrics", "/healthz", "/readyz"}


HTTP_CASES = [(route, caller) for route in TABLE if route[0] != "WS" for caller in CALLERS]


@pytest.mark.parametrize(("route", "caller"), HTTP_CASES, ids=lambda v: " ".join(v))
def test_each_caller_gets_exactly_what_the_table_says(
    world: World, route: tuple[str, str], caller: str
) -> None:
    expected = TABLE[route][caller]
    request = REQUESTS[route](world)
    response = world.api.request(
        request.method,
        request.url,
        json=request.json,
        data=request.data,
        headers=_auth(KEYS[caller]),
    )
    if expected == "ok":
        assert 200 <= response.status_code < 300, response.text
        return
    assert response.status_code == int(expected), response.text
    if response.status_code == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    if response.status_code in (401, 403) and route[1].startswith("/v1"):
        assert set(response.json()) == {"detail"}  # a refusal shows no data


@pytest.mark.parametrize("caller", CALLERS)
def test_the_live_feed_handshake_follows_the_table(world: World, caller: str) -> None:
    expected = TABLE[("WS", "/v1/live")][caller]
    if expected == "ok":
        with world.api.websocket_connect("/v1/live", headers=_auth(KEYS[caller])):
            return  # accepted; tests/api/test_live.py follows events through it
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        world.api.websocket_connect("/v1/live", headers=_auth(KEYS[caller])) as ws,
    ):
        ws.receive_json()
    assert refused.value.code == 1008
    reason = refused.value.reason
    said = "403" if "do not include" in reason else "401" if "API key" in reason else reason
    assert said == expected, reason


@pytest.mark.parametrize("caller", CALLERS)
def test_an_api_key_never_opens_a_media_stream(world: World, caller: str) -> None:
    assert TABLE[("WS", "/twilio/media-stream")][caller] == "1008"
    call_sid = "CA" + secrets.token_hex(16)
    with world.api.websocket_connect("/twilio/media-stream", headers=_auth(KEYS[caller])) as ws:
        ws.send_text(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        ws.send_text(start_message(call_sid, None))
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1008


# Scope: what a caller may use, it sees only within its scope.


def test_another_backend_client_never_sees_or_cancels_the_wallets_callback(world: World) -> None:
    request = feedback_request()
    created = world.api.post("/v1/callbacks", json=request, headers=_auth(WALLET_KEY))
    callback_id = created.json()["id"]
    for method in ("GET", "DELETE"):
        response = world.api.request(
            method, f"/v1/callbacks/{callback_id}", headers=_auth(OTHER_KEY)
        )
        assert response.status_code == 404
        assert request["customer"]["phone"] not in response.text
        assert request["event_id"] not in response.text
    mine = world.api.get(f"/v1/callbacks/{callback_id}", headers=_auth(WALLET_KEY))
    assert mine.json()["state"] == "queued"  # the other client's DELETE changed nothing


def test_the_same_event_id_from_another_client_is_its_own_callback(world: World) -> None:
    """Idempotency is per client: another client's event id never returns the wallet's row."""
    request = feedback_request()
    first = world.api.post("/v1/callbacks", json=request, headers=_auth(WALLET_KEY)).json()
    other = world.api.post("/v1/callbacks", json=request, headers=_auth(OTHER_KEY))
    assert other.status_code == 202 and other.json()["id"] != first["id"]


def test_phone_numbers_are_whole_only_for_supervisors(world: World) -> None:
    phone = fresh_phone()
    call_id = world.call(phone)
    masked = "+" + "*" * (len(phone) - 5) + phone[-4:]
    for caller, shown in (("supervisor", phone), ("product", masked)):
        headers = _auth(KEYS[caller])
        one = world.api.get(f"/v1/calls/{call_id}", headers=headers)
        assert one.status_code == 200 and one.json()["customer_phone"] == shown
        listed = world.api.get(
            "/v1/calls", params={"limit": 200}, headers=headers
        ).json()  # newest first
        [row] = [c for c in listed["calls"] if c["id"] == call_id]
        assert row["customer_phone"] == shown
        if caller == "product":
            assert phone not in one.text and phone not in json.dumps(listed)
