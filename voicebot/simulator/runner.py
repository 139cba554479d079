"""``voicebot simulate``: run scenarios as whole phone calls against the real server.

By default the real server is started in-process on a free loopback port (in a
thread with its own event loop, so the carrier's 20 ms clock never waits on
the bot's work). With ``url`` it targets a running server instead, which must
share this process's Redis, database and Twilio auth token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn

from voicebot import redis_client
from voicebot.app import create_app
from voicebot.audio import TELEPHONE_RATE, resample, write_wav
from voicebot.calls.outbound import prepare_call
from voicebot.calls.state import CallStore
from voicebot.config import Settings
from voicebot.errors import CallNotFoundError
from voicebot.pipeline.models import get_models
from voicebot.pipeline.stt import WHISPER_RATE, transcribe
from voicebot.records import calls as call_records
from voicebot.records.db import Database
from voicebot.simulator.carrier import (
    CALLER_ID,
    CarrierCall,
    MediaStream,
    TwilioCarrier,
    _sid,
    parse_stream_twiml,
)
from voicebot.simulator.scenario import InvalidScenario, Scenario
from voicebot.simulator.voices import CallerVoices

CALL_TIMEOUT_S = 180.0
RECORD_WAIT_S = 15.0

EventSink = Callable[[dict[str, Any]], Awaitable[None] | None]


@dataclass
class ScenarioResult:
    """One scenario's call and verdict (the contract's JSON line)."""

    name: str
    passed: bool
    outcome: str | None
    expected: dict[str, Any]
    escalated: bool | None
    rating: int | None
    failures: list[str]
    transcript: list[dict[str, Any]]
    latency_ms: list[int]
    call_sid: str
    wav: str
    call_id: str = ""
    stored_transcript: list[dict[str, Any]] = field(default_factory=list)
    # extension: each caller turn's kind, the bot's response latency, whether it was cut off
    caller_turns: list[dict[str, Any]] = field(default_factory=list)
    # extension: the scenario file, and what in it had no effect (never a failure)
    file: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data.pop("stored_transcript")
        return data


def invalid_result(invalid: InvalidScenario) -> ScenarioResult:
    """The failed result that stands for a scenario file that could not be used."""
    return ScenarioResult(
        name=invalid.name,
        passed=False,
        outcome=None,
        expected={},
        escalated=None,
        rating=None,
        failures=[f"invalid scenario: {invalid.error}"],
        transcript=[],
        latency_ms=[],
        call_sid="",
        wav="",
        file=str(invalid.path),
    )


def results_in_order(
    loaded: list[Scenario | InvalidScenario], results: list[ScenarioResult]
) -> list[ScenarioResult]:
    """One result per loaded file, in order: ``results`` are the valid scenarios' calls."""
    ran = iter(results)
    return [
        invalid_result(item) if isinstance(item, InvalidScenario) else next(ran) for item in loaded
    ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerThread:
    """An ASGI app under uvicorn, in a thread with its own event loop, on a loopback port."""

    def __init__(self, app: Any, port: int, name: str, ws_max_size: int = 2**20) -> None:
        self.port = port
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", ws_max_size=ws_max_size
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    def start(self, timeout_s: float = 120.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the in-process server {self._thread.name} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


class InProcessServer(ServerThread):
    """The real app under uvicorn, in a thread, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        port = free_port()
        self.settings = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}"})
        self.app = create_app(self.settings)
        super().__init__(
            self.app,
            port,
            "voicebot-server",
            ws_max_size=self.settings.ws_max_message_bytes,
        )


ALL_STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})


def status_event(state: str) -> str:
    """The StatusCallbackEvent under which Twilio reports a CallStatus."""
    events = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
    return events.get(state, "completed")  # completed, busy, no-answer, failed, canceled


@dataclass
class Posted:
    """One webhook the carrier sent for a call, and the server's HTTP answer."""

    kind: str  # "status" or "voice"
    state: str  # the CallStatus it carried
    http_status: int


@dataclass
class Leg:
    """One call as the carrier places it: where its webhooks go, and what they returned.

    ``voicebot simulate`` builds it from the call id it registered; the simulated
    REST API from the parameters of ``Calls.json``, as Twilio would.
    """

    scenario: Scenario | None
    call_sid: str
    voice_url: str
    status_url: str = ""
    status_events: frozenset[str] = ALL_STATUS_EVENTS
    answered_by: str | None = None  # the AnsweredBy sent with the voice webhook
    call_id: str = ""  # ours; "" until known (the voice webhook binds the CallSid)
    to: str | None = None  # None: the scenario's customer
    from_: str = CALLER_ID
    voice_method: str = "POST"
    status_method: str = "POST"
    sequence: int = 0
    failures: list[str] = field(default_factory=list)
    posted: list[Posted] = field(default_factory=list)


def _normalize(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def _contains(haystack: str, needle: str) -> bool:
    return f" {_normalize(needle)} " in f" {_normalize(haystack)} "


def bot_segments(bot: np.ndarray, gap_s: float = 0.5) -> list[tuple[int, int]]:
    """Sample ranges where the bot's channel carries speech, split on pauses."""
    frame = TELEPHONE_RATE // 50
    n = len(bot) // frame
    loud = [np.abs(bot[i * frame : (i + 1) * frame].astype(np.int32)).max() > 400 for i in range(n)]
    segments: list[tuple[int, int]] = []
    start, quiet = None, 0
    for i, is_loud in enumerate(loud):
        if is_loud:
            start = i if start is None else start
            quiet = 0
        elif start is not None:
            quiet += 1
            if quiet * 0.02 >= gap_s:
                segments.append((start * frame, (i - quiet + 1) * frame))
                start, quiet = None, 0
    if start is not None:
        segments.append((start * frame, n * frame))
    return segments


class Simulator:
    """Runs scenarios through the server; use as an async context manager."""

    def __init__(
        self,
        settings: Settings,
        *,
        url: str | None = None,
        out_dir: Path | None = None,
        on_event: EventSink | None = None,
        warm: bool = False,
    ) -> None:
        """``warm``: first wait for the server's fixed phrases (a benchmark's steady state)."""
        self.settings = settings
        self.warm = warm
        self.url = url
        self.out_dir = out_dir or settings.output_dir
        self.on_event = on_event
        self.server: InProcessServer | None = None
        # The person's phone is not the bot's server: the simulator's own heavy
        # work (synthesising callers, transcribing the bot to check it) waits
        # until no call is live, so it never steals the CPU a live call needs.
        self._live_calls = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def __aenter__(self) -> Simulator:
        if self.url is None:
            self.server = InProcessServer(self.settings)
            await asyncio.to_thread(self.server.start)
            base_url = self.server.settings.public_base_url
            if self.warm:
                await asyncio.to_thread(self.server.app.state.services.warm_phrases)
        else:
            base_url = self.url
        models = await asyncio.to_thread(get_models, self.settings)
        self.whisper = models.whisper
        self.voices = CallerVoices(models.piper)
        self.redis = redis_client.connect(self.settings.redis_url)
        self.store = CallStore(self.redis, self.settings.redis_prefix)
        self.db = Database(self.settings.database_url)
        await asyncio.to_thread(self.db.create_tables)
        self.carrier = TwilioCarrier(
            base_url,
            self.settings.twilio_auth_token.get_secret_value(),
            self.settings.twilio_account_sid,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.carrier.close()
        await self.redis.aclose()
        self.db.engine.dispose()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)

    async def run(
        self, scenarios: list[Scenario], concurrency: int = 1, stagger_s: float = 0.0
    ) -> list[ScenarioResult]:
        """Run scenarios, at most ``concurrency`` calls at once, results in input order.

        The first ``concurrency`` calls start spread over ``stagger_s``, as real
        calls do not arrive in the same millisecond; each later one starts when
        a call ends.
        """
        concurrency = max(1, concurrency)
        gate = asyncio.Semaphore(concurrency)
        # Every caller's speech is synthesised before the first call is dialed.
        streams = [await self.new_stream(s, _sid("CA")) for s in scenarios]

        async def one(index: int, s: Scenario, stream: MediaStream) -> ScenarioResult:
            async with gate:
                if index < concurrency:
                    await asyncio.sleep(stagger_s * index / concurrency)
                return await self.run_one(s, stream)

        return list(
            await asyncio.gather(
                *(one(i, s, m) for i, (s, m) in enumerate(zip(scenarios, streams, strict=True)))
            )
        )

    async def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            result = self.on_event(event)
            if asyncio.iscoroutine(result):
                await result

    async def run_one(
        self, scenario: Scenario, stream: MediaStream | None = None
    ) -> ScenarioResult:
        """Dial, answer, play the person, hang up; then check the expectations."""
        stream = stream or await self.new_stream(scenario, _sid("CA"))
        call_id = await prepare_call(self.store, self.db, scenario.call_context())
        base = self.carrier.base_url
        leg = Leg(
            scenario=scenario,
            call_sid=stream.call.call_sid,
            voice_url=f"{base}/twilio/voice?call_id={call_id}",
            status_url=f"{base}/twilio/status?call_id={call_id}",
            # As Twilio reports it with MachineDetection=Enable: a machine is known
            # while its greeting plays, so the bot has to wait for the beep itself.
            answered_by="human" if scenario.answered_by == "human" else "machine_start",
            call_id=call_id,
        )
        await self.post_status(leg, "initiated")
        await self.post_status(leg, "ringing")
        return await self.connect(leg, stream)

    async def new_stream(self, scenario: Scenario, call_sid: str) -> MediaStream:
        """The person's side of a call, with everything they will say synthesised."""
        call = CarrierCall(call_sid=call_sid)
        stream = MediaStream(
            scenario, call, self.voices, self.settings.twilio_account_sid, self.on_event
        )
        await asyncio.to_thread(stream.prepare)
        return stream

    async def post_status(self, leg: Leg, state: str, **extra: str) -> None:
        """A status callback, if the leg has a URL and asked for the event that reports it."""
        if not leg.status_url or status_event(state) not in leg.status_events:
            return
        params = self.carrier.call_params(
            leg.call_sid, leg.scenario, state, to=leg.to, from_=leg.from_
        )
        params |= {
            "SequenceNumber": str(leg.sequence),
            "Timestamp": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            **extra,
        }
        leg.sequence += 1
        response = await self.carrier.send(leg.status_method, leg.status_url, params)
        leg.posted.append(Posted("status", state, response.status_code))
        if response.status_code >= 300:
            leg.failures.append(f"status callback {state}: HTTP {response.status_code}")

    async def connect(self, leg: Leg, stream: MediaStream) -> ScenarioResult:
        """The person answered: voice webhook, TwiML, media stream, hang-up; then the verdict.

        Shared by ``voicebot simulate`` and the simulated REST API, so a call
        dialed either way is played, and judged, the same way.
        """
        assert leg.scenario is not None
        scenario, call = leg.scenario, stream.call
        events = (
            asyncio.create_task(self._relay_events(scenario.name, leg.call_id))
            if leg.call_id
            else None
        )
        self._live_calls += 1
        self._quiet.clear()
        try:
            params = self.carrier.call_params(
                leg.call_sid, scenario, "in-progress", to=leg.to, from_=leg.from_
            )
            if leg.answered_by is not None:
                params["AnsweredBy"] = leg.answered_by
            response = await self.carrier.send(leg.voice_method, leg.voice_url, params)
            leg.posted.append(Posted("voice", "in-progress", response.status_code))
            if not leg.call_id:  # the URL did not say: the webhook bound the CallSid
                with contextlib.suppress(CallNotFoundError):
                    leg.call_id = await self.store.call_id_for(leg.call_sid)
                if leg.call_id:
                    events = asyncio.create_task(self._relay_events(scenario.name, leg.call_id))
            stream_target = (
                parse_stream_twiml(response.text) if response.status_code == 200 else None
            )
            if stream_target is None:
                leg.failures.append(
                    f"voice webhook: HTTP {response.status_code}, no <Connect><Stream>"
                )
            else:
                await self.post_status(leg, "in-progress")
                url, stream_params = stream_target
                try:
                    await stream.run(url, stream_params, CALL_TIMEOUT_S)
                except TimeoutError:
                    leg.failures.append(f"the call did not end within {CALL_TIMEOUT_S:.0f} s")
                if call.refused:
                    leg.failures.append(f"media stream refused: {call.refused}")
                await self.post_status(leg, "completed", CallDuration=str(round(call.duration_s)))
        finally:
            if events is not None:
                events.cancel()
            self._live_calls -= 1
            if not self._live_calls:
                self._quiet.set()
        stream.finalize()
        record = await self._wait_for_record(leg.call_id) if leg.call_id else None
        return await self._verdict(scenario, call, leg.call_id, record, leg.failures)

    async def _relay_events(self, name: str, call_id: str) -> None:
        """Forward the server's live events for this call (what the bot says and hears)."""
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(f"{self.settings.redis_prefix}:events:{call_id}")
        try:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    await self._emit(
                        {"scenario": name, "source": "server", **json.loads(message["data"])}
                    )
        finally:
            await pubsub.aclose()

    async def _wait_for_record(self, call_id: str) -> dict[str, Any] | None:
        deadline = time.monotonic() + RECORD_WAIT_S
        while time.monotonic() < deadline:
            record = await asyncio.to_thread(call_records.get_call, self.db, call_id)
            if record is not None and record["outcome"] is not None:
                return record
            await asyncio.sleep(0.2)
        return None

    def _bot_transcript(self, bot: np.ndarray) -> list[dict[str, Any]]:
        """What the bot actually said, heard back through Whisper (blocking)."""
        lines = []
        for start, end in bot_segments(bot):
            pcm = bot[start:end]
            heard = transcribe(
                self.whisper, resample(pcm, TELEPHONE_RATE, WHISPER_RATE), long_form=True
            )
            lines.append(
                {
                    "speaker": "bot",
                    "text": heard.text,
                    "start": round(start / TELEPHONE_RATE, 2),
                    "end": round(end / TELEPHONE_RATE, 2),
                }
            )
        return lines

    async def _verdict(
        self,
        scenario: Scenario,
        call: CarrierCall,
        call_id: str,
        record: dict[str, Any] | None,
        failures: list[str],
    ) -> ScenarioResult:
        expect = scenario.expect
        caller_pcm, bot_pcm = MediaStream.recording_of(call)
        wav = self.out_dir / f"{scenario.name}.wav"
        stereo = np.stack([caller_pcm, bot_pcm], axis=1).reshape(-1)
        await asyncio.to_thread(write_wav, wav, stereo, TELEPHONE_RATE, 2)
        await self._quiet.wait()
        bot_lines = await asyncio.to_thread(self._bot_transcript, bot_pcm)
        caller_lines = [
            {
                "speaker": "caller",
                "text": t.text,
                "start": round(t.start, 2),
                "end": round(t.end, 2),
            }
            for t in call.turns
        ]
        transcript = sorted(bot_lines + caller_lines, key=lambda line: line["start"])

        outcome = record["outcome"] if record else None
        escalated = record["escalated"] if record else None
        rating = (record["fields"] or {}).get("rating") if record else None
        if record is None:
            failures.append("no call record was stored")
        if outcome != expect.outcome:
            failures.append(f"outcome {outcome!r}, expected {expect.outcome!r}")
        if expect.escalated is not None and escalated != expect.escalated:
            failures.append(f"escalated {escalated}, expected {expect.escalated}")
        if expect.rating is not None and rating != expect.rating:
            failures.append(f"rating {rating}, expected {expect.rating}")
        said = " ".join(line["text"] for line in bot_lines)
        failures += [f"the bot said {w!r}" for w in expect.bot_must_not_say if _contains(said, w)]
        # What the bot meant to say, as stored: Whisper may mishear the forbidden word away.
        meant = " ".join(
            t["text"] for t in (record or {}).get("turns", []) if t.get("speaker") == "bot"
        )
        failures += [
            f"the bot's stored lines say {w!r}"
            for w in expect.bot_must_not_say
            if _contains(meant, w) and not _contains(said, w)
        ]
        failures += [
            f"the bot never said {w!r}" for w in expect.bot_must_say if not _contains(said, w)
        ]
        fields = (record or {}).get("fields") or {}
        failures += [f"no {f!r} in the record" for f in expect.fields_present if f not in fields]
        stored = " ".join(t["text"] for t in (record or {}).get("turns", []))
        failures += [
            f"the stored transcript contains {w!r}"
            for w in expect.transcript_must_not_contain
            if _contains(stored, w)
        ]
        return ScenarioResult(
            name=scenario.name,
            passed=not failures,
            outcome=outcome,
            expected=expect.model_dump(exclude_defaults=True),
            escalated=escalated,
            rating=rating,
            failures=failures,
            transcript=transcript,
            latency_ms=[t.latency_ms for t in call.turns if t.latency_ms is not None],
            call_sid=call.call_sid,
            wav=str(wav),
            call_id=call_id,
            stored_transcript=(record or {}).get("turns", []),
            caller_turns=[
                {"kind": t.kind, "latency_ms": t.latency_ms, "cut_off": t.cut_off}
                for t in call.turns
            ],
            file=str(scenario.source) if scenario.source is not None else None,
            warnings=scenario.warnings(),
        )
