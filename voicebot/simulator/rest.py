"""Twilio's REST API, simulated: the official ``twilio`` client dials scenarios' people.

Production code places calls with ``twilio.rest.Client`` (see
``voicebot.telephony.rest.twilio_client``). Pointed at this server instead of
api.twilio.com (``TWILIO_API_BASE_URL``), the same code rings the person of the
scenario that owns the ``To`` number and the call is played exactly as Twilio
plays it: status callbacks (initiated, ringing, then in-progress and completed,
or busy / no-answer / failed) to ``StatusCallback`` for the events asked for,
the signed voice webhook to ``Url`` when answered (with ``AnsweredBy`` when
``MachineDetection`` was asked for), then the Media Stream its TwiML names. The
answered part is ``Simulator.connect``, the very code ``voicebot simulate``
runs, so a call is judged the same way: ``ScenarioResult``.

Implemented (Basic auth ``AccountSid:AuthToken``, 401 otherwise; errors as
Twilio's JSON ``{code, message, more_info, status}``):

    POST /2010-04-01/Accounts/{AccountSid}/Calls.json         201, status queued
    GET  /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json   the call's status now
    POST /2010-04-01/Accounts/{AccountSid}/Messages.json      201, recorded
    GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json

Not simulated: ``Twiml`` and ``ApplicationSid`` instead of ``Url`` (400),
modifying a live call, recordings, SIP. Ringing takes ``ring_s``, however long
``Timeout`` is, so a campaign runs at test speed. ``Url`` and ``StatusCallback``
are requested as given and signed as Twilio signs them, so they must be the
server's PUBLIC_BASE_URL and reachable from here (``InProcessServer``'s is).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import secrets
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from loguru import logger

from voicebot.config import Settings
from voicebot.simulator.carrier import _sid
from voicebot.simulator.runner import (
    CALL_TIMEOUT_S,
    EventSink,
    Leg,
    Posted,
    ScenarioResult,
    ServerThread,
    Simulator,
    free_port,
)
from voicebot.simulator.scenario import Scenario

API = "/2010-04-01/Accounts/{account_sid}"
RING_S = 0.3  # each of "initiated -> ringing" and "ringing -> answered or not"
ASYNC_AMD_S = 1.0  # AsyncAmd: the detection result comes this long after the answer
START_TIMEOUT_S = 300.0  # the simulated callers' voices and Whisper load at start
E164 = re.compile(r"\+[1-9]\d{1,14}")
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def _rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format in its 2010-04-01 API."""
    return format_datetime(moment) if moment is not None else None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimulatedCall:
    """One call placed through ``Calls.json``, as the simulator saw and played it."""

    sid: str
    account_sid: str
    to: str
    from_: str
    status: str = "queued"
    scenario: str | None = None  # the name of the scenario whose person owns ``to``
    attempt: int = 0  # how many calls to ``to`` came before this one
    answered_by: str | None = None
    date_created: datetime = field(default_factory=_now)
    date_updated: datetime = field(default_factory=_now)
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration: int | None = None
    result: ScenarioResult | None = None  # the verdict, when the person answered
    posted: list[Posted] = field(default_factory=list)  # webhooks sent, and HTTP answers
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def set_status(self, status: str) -> None:
        self.status = status
        self.date_updated = _now()

    def resource(self) -> dict[str, Any]:
        """The Call resource as Twilio's JSON shows it."""
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": "2010-04-01",
            "caller_name": None,
            "date_created": _rfc2822(self.date_created),
            "date_updated": _rfc2822(self.date_updated),
            "direction": "outbound-api",
            "duration": str(self.duration) if self.duration is not None else None,
            "end_time": _rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.from_,
            "from_formatted": self.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": _rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
            },
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }


@dataclass
class SentMessage:
    """One text sent through ``Messages.json`` (nothing is delivered anywhere)."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None = None
    status: str = "queued"
    date_created: datetime = field(default_factory=_now)

    def resource(self) -> dict[str, Any]:
        """The Message resource as Twilio's JSON shows it."""
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": _rfc2822(self.date_created),
            "date_sent": None,
            "date_updated": _rfc2822(self.date_created),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


@dataclass
class _Dial:
    """The parameters of one ``Calls.json`` request that change how it is played."""

    url: str
    method: str
    status_callback: str
    status_method: str
    events: frozenset[str]
    machine_detection: str
    async_amd: bool
    async_amd_callback: str
    async_amd_method: str


def _error(status: int, code: int, message: str, **headers: str) -> JSONResponse:
    """An error as Twilio answers it (``TwilioRestException`` reads code and message)."""
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status, headers=headers or None)


def _not_found(request: Request) -> JSONResponse:
    return _error(404, 20404, f"The requested resource {request.url.path} was not found")


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class TwilioRestSimulator:
    """Twilio's REST API on a free loopback port, ringing the scenarios it was given.

    ``start()`` (blocking: loads the callers' voices) then ``expect_call(s)``
    for each person; point ``twilio.rest.Client`` at ``url``. Calls play in the
    simulator's own thread and event loop (its 20 ms media clock never waits on
    the caller); ``wait``/``wait_async`` block until one has ended.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        ring_s: float = RING_S,
        out_dir: Path | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self.settings = settings
        self.ring_s = ring_s
        self.out_dir = out_dir
        self.on_event = on_event
        self.account_sid = settings.twilio_account_sid
        self.calls: dict[str, SimulatedCall] = {}
        self.results: dict[str, ScenarioResult] = {}  # scenario name -> its latest verdict
        self.sent_messages: list[SentMessage] = []
        self._people: dict[str, Scenario] = {}
        self._attempts: dict[str, int] = {}
        self._on_the_line: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._simulator: Simulator | None = None
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._server = ServerThread(self._app(), port, "twilio-rest-simulator")

    # -- for the test or campaign that drives it --------------------------------

    def expect_call(self, scenario: Scenario) -> None:
        """Let ``scenario``'s person answer calls to their number (counted afresh)."""
        phone = scenario.customer.phone
        self._people[phone] = scenario
        self._attempts[phone] = 0

    def start(self, timeout_s: float = START_TIMEOUT_S) -> TwilioRestSimulator:
        self._server.start(timeout_s)
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> TwilioRestSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, sid: str, timeout_s: float = CALL_TIMEOUT_S + 60) -> SimulatedCall:
        """Block until the call has ended (any final status); TimeoutError otherwise."""
        call = self.calls[sid]
        if not call.done.wait(timeout_s):
            raise TimeoutError(f"call {sid} still {call.status} after {timeout_s:.0f} s")
        return call

    async def wait_async(self, sid: str, timeout_s: float = CALL_TIMEOUT_S + 60) -> SimulatedCall:
        return await asyncio.to_thread(self.wait, sid, timeout_s)

    def on_the_line(self) -> int:
        """Calls placed and not yet ended."""
        return sum(not call.done.is_set() for call in list(self.calls.values()))

    def result(self, sid: str) -> ScenarioResult | None:
        """The verdict of an answered call, by CallSid (None: not answered or not ended)."""
        call = self.calls.get(sid)
        return call.result if call is not None else None

    # -- the HTTP side -------------------------------------------------------

    def _app(self) -> FastAPI:
        @contextlib.asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with Simulator(
                self.settings,
                url=self.settings.public_base_url,
                out_dir=self.out_dir,
                on_event=self.on_event,
            ) as simulator:
                self._simulator = simulator
                try:
                    yield
                finally:
                    for task in list(self._tasks):
                        task.cancel()
                    await asyncio.gather(*self._tasks, return_exceptions=True)

        app = FastAPI(title="Twilio REST API (simulated)", lifespan=lifespan)

        @app.post(API + "/Calls.json")
        async def create_call(account_sid: str, request: Request) -> JSONResponse:
            refused = self._refuse(request, account_sid)
            if refused is not None:
                return refused
            form = await request.form()
            values = {k: str(v) for k, v in form.items()}
            to, from_, url = values.get("To", ""), values.get("From", ""), values.get("Url", "")
            if not to:
                return _error(400, 21201, "No 'To' number is specified")
            if not from_:
                return _error(400, 21213, "No 'From' number is specified")
            if not E164.fullmatch(to):
                return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
            if not url:
                return _error(400, 21205, "Url parameter is required (Twiml is not simulated)")
            callbacks = [
                url,
                values.get("StatusCallback", ""),
                values.get("AsyncAmdStatusCallback", ""),
            ]
            for given in callbacks:
                if given and not _absolute(given):
                    return _error(400, 21205, f"Url is not a valid URL: {given}")
            events = frozenset(str(e).lower() for e in form.getlist("StatusCallbackEvent"))
            dial = _Dial(
                url=url,
                method=values.get("Method", "POST").upper(),
                status_callback=values.get("StatusCallback", ""),
                status_method=values.get("StatusCallbackMethod", "POST").upper(),
                events=(events or frozenset({"completed"})) | {"completed"},
                machine_detection=values.get("MachineDetection", ""),
                async_amd=values.get("AsyncAmd", "").lower() == "true",
                async_amd_callback=values.get("AsyncAmdStatusCallback", ""),
                async_amd_method=values.get("AsyncAmdStatusCallbackMethod", "POST").upper(),
            )
            call = SimulatedCall(sid=_sid("CA"), account_sid=account_sid, to=to, from_=from_)
            self.calls[call.sid] = call
            task = asyncio.create_task(self._place(call, dial), name=f"call-{call.sid}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return JSONResponse(call.resource(), status_code=201)

        @app.get(API + "/Calls/{sid}.json")
        async def get_call(account_sid: str, sid: str, request: Request) -> JSONResponse:
            refused = self._refuse(request, account_sid)
            if refused is not None:
                return refused
            call = self.calls.get(sid)
            if call is None or call.account_sid != account_sid:
                return _error(
                    404, 20404, f"The requested resource {request.url.path} was not found"
                )
            return JSONResponse(call.resource())

        @app.post(API + "/Messages.json")
        async def create_message(account_sid: str, request: Request) -> JSONResponse:
            refused = self._refuse(request, account_sid)
            if refused is not None:
                return refused
            values = {k: str(v) for k, v in (await request.form()).items()}
            to, body = values.get("To", ""), values.get("Body", "")
            from_, service = values.get("From") or None, values.get("MessagingServiceSid") or None
            if not to:
                return _error(400, 21604, "A 'To' phone number is required.")
            if from_ is None and service is None:
                return _error(400, 21603, "A 'From' phone number is required.")
            if not body:
                return _error(400, 21602, "Message body is required.")
            message = SentMessage(
                sid=_sid("SM"),
                account_sid=account_sid,
                to=to,
                from_=from_,
                body=body,
                messaging_service_sid=service,
                status="accepted" if service and not from_ else "queued",
            )
            self.sent_messages.append(message)
            return JSONResponse(message.resource(), status_code=201)

        @app.get(API + "/Messages/{sid}.json")
        async def get_message(account_sid: str, sid: str, request: Request) -> JSONResponse:
            refused = self._refuse(request, account_sid)
            if refused is not None:
                return refused
            for message in self.sent_messages:
                if message.sid == sid and message.account_sid == account_sid:
                    return JSONResponse(message.resource())
            return _not_found(request)

        return app

    def _refuse(self, request: Request, account_sid: str) -> JSONResponse | None:
        """401 unless Basic auth is this account's SID and auth token; 404 for another account."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except ValueError:
            user = password = b""
        valid = (
            scheme.lower() == "basic"
            and secrets.compare_digest(user, self.account_sid.encode())
            and secrets.compare_digest(
                password, self.settings.twilio_auth_token.get_secret_value().encode()
            )
        )
        if not valid:
            return _error(
                401, 20003, "Authenticate", **{"WWW-Authenticate": 'Basic realm="Twilio API"'}
            )
        if account_sid != self.account_sid:
            return _not_found(request)
        return None

    # -- playing a call --------------------------------------------------------

    async def _place(self, call: SimulatedCall, dial: _Dial) -> None:
        """Play one call to its end; whatever breaks, it ends with a final status."""
        try:
            await self._play(call, dial)
        except Exception as e:  # a simulator bug must not leave a call "ringing" forever
            logger.exception(f"simulated call {call.sid} to {call.to} broke")
            call.error = f"{type(e).__name__}: {e}"
            if call.status not in TERMINAL:
                call.set_status("failed")
        finally:
            call.end_time = call.end_time or _now()
            call.done.set()

    async def _play(self, call: SimulatedCall, dial: _Dial) -> None:
        assert self._simulator is not None
        sim = self._simulator
        scenario = self._people.get(call.to)
        leg = Leg(
            scenario=scenario,
            call_sid=call.sid,
            voice_url=dial.url,
            status_url=dial.status_callback,
            status_events=dial.events,
            call_id=parse_qs(urlsplit(dial.url).query).get("call_id", [""])[0],
            to=call.to,
            from_=call.from_,
            voice_method=dial.method,
            status_method=dial.status_method,
        )
        call.posted = leg.posted
        if scenario is None:  # nobody has this number: Twilio cannot reach it
            await self._end(leg, call, "failed")
            return
        call.scenario = scenario.name
        if call.to in self._on_the_line:
            answer = "busy"  # already on a call to us: no call waiting
        else:
            call.attempt = self._attempts.get(call.to, 0)
            self._attempts[call.to] = call.attempt + 1
            answer = scenario.answer_for(call.attempt)
        if answer == "failed":
            await self._end(leg, call, "failed")
            return
        self._on_the_line.add(call.to)
        try:
            # What the person will say is synthesised before the phone rings, so
            # that no synthesis stalls the media clock once they have answered.
            stream = await sim.new_stream(scenario, call.sid) if answer == "answered" else None
            call.start_time = _now()
            await self._progress(leg, call, "initiated")
            await asyncio.sleep(self.ring_s)
            await self._progress(leg, call, "ringing")
            await asyncio.sleep(self.ring_s)
            if stream is None:
                await self._end(leg, call, answer)
                return
            detected = self._detected(dial, scenario)
            call.answered_by = detected
            if dial.async_amd:
                self._spawn(self._async_amd(leg, dial, detected))
            else:
                leg.answered_by = detected
                stream.machine_past_beep = detected == "machine_end_beep"
            call.set_status("in-progress")
            answered_at = _now()
            result = await sim.connect(leg, stream)
            call.result = result
            self.results[scenario.name] = result
            call.duration = round(stream.call.duration_s)
            if not any(p.kind == "status" and p.state in TERMINAL for p in leg.posted):
                # The TwiML held no stream (an error, or <Hangup/>): Twilio hangs up.
                call.duration = round((_now() - answered_at).total_seconds())
                await sim.post_status(leg, "completed", CallDuration=str(call.duration))
            call.end_time = _now()
            call.set_status("completed")
        finally:
            self._on_the_line.discard(call.to)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _detected(dial: _Dial, scenario: Scenario) -> str | None:
        """Twilio's AnsweredBy, reported only when MachineDetection was asked for."""
        if dial.machine_detection not in ("Enable", "DetectMessageEnd"):
            return None
        if scenario.answered_by == "human":
            return "human"
        # DetectMessageEnd waits for the beep before it connects the call.
        return "machine_start" if dial.machine_detection == "Enable" else "machine_end_beep"

    async def _progress(self, leg: Leg, call: SimulatedCall, state: str) -> None:
        call.set_status(state)
        assert self._simulator is not None
        await self._simulator.post_status(leg, state)

    async def _end(self, leg: Leg, call: SimulatedCall, state: str) -> None:
        """A call that was never answered: its final status, with no voice webhook."""
        call.duration = 0
        call.end_time = _now()
        call.set_status(state)
        assert self._simulator is not None
        await self._simulator.post_status(leg, state, CallDuration="0", Duration="0")

    async def _async_amd(self, leg: Leg, dial: _Dial, detected: str | None) -> None:
        """AsyncAmd: the answer is connected at once, the detection posted separately."""
        if not dial.async_amd_callback or detected is None:
            return
        await asyncio.sleep(ASYNC_AMD_S)
        assert self._simulator is not None
        carrier = self._simulator.carrier
        params = carrier.call_params(
            leg.call_sid, leg.scenario, "in-progress", to=leg.to, from_=leg.from_
        )
        params |= {
            "AnsweredBy": detected,
            "MachineDetectionDuration": str(int(ASYNC_AMD_S * 1000)),
        }
        response = await carrier.send(dial.async_amd_method, dial.async_amd_callback, params)
        leg.posted.append(Posted("amd", detected, response.status_code))
