"""The simulated carrier: one call, played exactly as Twilio plays it on the wire.

Webhooks are signed POSTs (form-encoded, ``X-Twilio-Signature``); the voice
webhook's TwiML is parsed for ``<Connect><Stream>`` and its ``<Parameter>``s;
the media stream sends ``connected``, ``start`` (with ``customParameters``),
then one 20 ms mu-law ``media`` frame every 20 ms in real time (silence when the
person is quiet), ``dtmf`` for keys, echoes ``mark``s when playback reaches
them, honours ``clear``, and ends with ``stop``. Bot audio is buffered and
"played" at real-time pace like a phone would, and both sides are recorded.

The person's side goes through a ``PhoneLine`` (handset band-pass and line
noise, when the scenario asks for them) before mu-law. When a machine answers,
it plays its greeting as soon as the stream starts, then a beep, then records in
silence until the bot hangs up, as a voicemail box does behind Twilio's
``MachineDetection=Enable`` (which reports ``AnsweredBy=machine_start``);
behind ``DetectMessageEnd`` the call connects after the beep, so it only records.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import numpy as np
import websockets
from websockets.exceptions import ConnectionClosed

from voicebot.audio import (
    FRAME_SAMPLES,
    MULAW_SILENCE,
    PCM,
    TELEPHONE_RATE,
    mulaw_decode,
    read_wav,
    resample,
    trim_silence,
)
from voicebot.simulator.line import PhoneLine
from voicebot.simulator.scenario import DEFAULT_BEEP_HZ, CallerTurn, Scenario
from voicebot.simulator.voices import CallerVoices
from voicebot.telephony.signatures import sign

TICK_S = 0.02
QUIET_BEFORE_TURN_S = 0.7  # a person answers once the bot has been quiet this long
BOT_TURN_TIMEOUT_S = 25.0  # stop waiting for the bot and take the next turn anyway
MACHINE_PICKUP_S = 0.3  # a voicemail box starts its greeting almost at once
BEEP_S = 0.5
BEEP_LEVEL = 0.3  # of full scale: a machine's beep is loud
CALLER_ID = "+18005550199"  # the From of a call placed by ``voicebot simulate``

EventSink = Callable[[dict[str, Any]], Awaitable[None] | None]


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class _Mark:
    name: str


@dataclass
class CallerTurnLog:
    """What the person did in one turn, and when (seconds since the stream started)."""

    kind: str
    text: str
    start: float
    end: float
    latency_ms: int | None = None
    cut_off: bool = False  # the bot began speaking while this turn was still being said


@dataclass
class CarrierCall:
    """Everything the carrier saw of one call."""

    call_sid: str
    stream_sid: str = ""
    caller_frames: list[bytes] = field(default_factory=list)
    bot_frames: list[bytes] = field(default_factory=list)
    turns: list[CallerTurnLog] = field(default_factory=list)
    bot_hung_up: bool = False
    caller_hung_up: bool = False
    refused: str | None = None
    duration_s: float = 0.0


class TwilioCarrier:
    """Signed webhooks toward the server under test, as Twilio sends them."""

    def __init__(self, base_url: str, auth_token: str, account_sid: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.http = httpx.AsyncClient(timeout=15.0)

    async def post(self, path_and_query: str, params: dict[str, str]) -> httpx.Response:
        return await self.send("POST", self.base_url + path_and_query, params)

    async def send(self, method: str, url: str, params: dict[str, str]) -> httpx.Response:
        """A signed webhook to an absolute URL (as given to Twilio's REST API).

        Twilio signs the URL it requests: with GET the parameters are in its query
        string and there is no body; with POST they are the form body.
        """
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if method.upper() == "GET":
            split = urlsplit(url)
            query = urlencode([*parse_qsl(split.query, keep_blank_values=True), *params.items()])
            full = urlunsplit(split._replace(query=query))
            headers["X-Twilio-Signature"] = sign(self.auth_token, full, {})
            return await self.http.get(full, headers=headers)
        headers["X-Twilio-Signature"] = sign(self.auth_token, url, params)
        return await self.http.post(url, data=params, headers=headers)

    def call_params(
        self,
        call_sid: str,
        scenario: Scenario | None,
        status: str,
        *,
        to: str | None = None,
        from_: str = CALLER_ID,
    ) -> dict[str, str]:
        """A call webhook's parameters; ``to`` defaults to the scenario's customer."""
        if to is None:
            to = scenario.customer.phone if scenario is not None else ""
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": call_sid,
            "CallStatus": status,
            "Direction": "outbound-api",
            "From": from_,
            "To": to,
            "Called": to,
            "Caller": from_,
        }

    async def close(self) -> None:
        await self.http.aclose()


def beep_tone(frequency_hz: float, seconds: float = BEEP_S) -> PCM:
    """An answering machine's beep: a pure tone at 8 kHz, with 5 ms ramps against clicks."""
    n = int(seconds * TELEPHONE_RATE)
    t = np.arange(n) / TELEPHONE_RATE
    ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.005 * TELEPHONE_RATE))
    tone = BEEP_LEVEL * 32767 * ramp * np.sin(2 * np.pi * frequency_hz * t)
    return np.round(tone).astype(np.int16)


def pcm_frames(pcm: PCM) -> list[PCM]:
    """20 ms frames of 8 kHz PCM, the last one padded with silence."""
    frames = [pcm[i : i + FRAME_SAMPLES] for i in range(0, len(pcm), FRAME_SAMPLES)]
    if frames and len(frames[-1]) < FRAME_SAMPLES:
        frames[-1] = np.pad(frames[-1], (0, FRAME_SAMPLES - len(frames[-1])))
    return frames


def parse_stream_twiml(body: str) -> tuple[str, dict[str, str]] | None:
    """The ``<Connect><Stream>`` URL and parameters, or None if the TwiML has none."""
    root = ET.fromstring(body)
    stream = root.find("./Connect/Stream")
    if stream is None:
        return None
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    return stream.get("url", ""), params


class MediaStream:
    """The WebSocket half of one call: real-time media both ways, turn by turn."""

    def __init__(
        self,
        scenario: Scenario,
        call: CarrierCall,
        voices: CallerVoices,
        account_sid: str,
        on_event: EventSink | None = None,
    ) -> None:
        self.scenario = scenario
        self.call = call
        self.voices = voices
        self.account_sid = account_sid
        self.on_event = on_event
        self._ws: Any = None
        self._seq = 0
        self._chunk = 0
        self._tick = 0
        self._t0 = 0.0
        self._mic: deque[PCM] = deque()  # the person's next 20 ms frames, before the line
        self._audio: dict[int, PCM] = {}  # turn index -> what that turn says, ready to send
        self._greeting: PCM | None = None
        self.line = PhoneLine()
        self._playback: deque[bytes | _Mark] = deque()
        self._last_bot_tick = -1
        self._arrivals: list[float] = []  # stream-relative seconds each bot media message arrived
        self._closed = asyncio.Event()
        self._stop_sending = False
        self._awaiting_answer: CallerTurnLog | None = None
        # Twilio's MachineDetection=DetectMessageEnd connects a machine only after
        # its beep: the stream then starts while the machine records, in silence.
        self.machine_past_beep = False

    def prepare(self) -> None:
        """Synthesise (or read) everything the person will say, and set up the line.

        Blocking: run it in a thread before dialing. Done up front so no synthesis
        stalls the 20 ms clock mid-call, and so the line's noise level can be set
        from the caller's speech level before the first frame is sent.
        """
        for i, turn in enumerate(self.scenario.played_turns):
            if turn.say is not None or turn.audio is not None:
                self._audio[i] = self._caller_audio(turn)
        if self.scenario.answered_by == "machine":
            self._greeting = self.voices.say(self.scenario.greeting_text(), self.scenario.voice)
        spec = self.scenario.line
        utterances = list(self._audio.values())
        if self._greeting is not None:
            utterances.append(self._greeting)
        self.line = PhoneLine.for_scenario(
            self.scenario.name,
            snr_db=spec.snr_db,
            band_limited=spec.band_limit,
            color=spec.noise,
            utterances=utterances,
        )

    # -- wire ------------------------------------------------------------------

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def _send(self, message: dict[str, Any]) -> None:
        if self._stop_sending:
            return
        try:
            await self._ws.send(json.dumps(message))
        except ConnectionClosed:
            self._stop_sending = True

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def run(self, url: str, parameters: dict[str, str], timeout_s: float) -> None:
        """Connect, stream the whole call, return when either side has hung up."""
        self.call.stream_sid = _sid("MZ")
        async with websockets.connect(url, max_size=2**20) as ws:
            self._ws = ws
            await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            await self._send(
                {
                    "event": "start",
                    "sequenceNumber": self._next_seq(),
                    "start": {
                        "accountSid": self.account_sid,
                        "streamSid": self.call.stream_sid,
                        "callSid": self.call.call_sid,
                        "tracks": ["inbound"],
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                        "customParameters": parameters,
                    },
                    "streamSid": self.call.stream_sid,
                }
            )
            self._t0 = time.monotonic()
            tasks = [
                asyncio.create_task(self._receive(), name="carrier-receive"),
                asyncio.create_task(self._clock(), name="carrier-clock"),
                asyncio.create_task(self._person(), name="carrier-person"),
            ]
            try:
                await asyncio.wait_for(self._closed.wait(), timeout_s)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        self.call.duration_s = self.now()

    async def _receive(self) -> None:
        """Bot -> phone: buffer audio for playback, queue marks, honour clear."""
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    arrived = self.now()
                    self._arrivals.append(arrived)
                    waiting = self._awaiting_answer
                    if waiting is not None and arrived > waiting.end:
                        self._awaiting_answer = None
                        latency = self._latency_after(waiting.end)
                        if latency is not None:
                            await self._emit({"type": "bot_audio", "latency_ms": latency})
                    audio = base64.b64decode(message["media"]["payload"])
                    for i in range(0, len(audio), FRAME_SAMPLES):
                        self._playback.append(audio[i : i + FRAME_SAMPLES])
                elif event == "mark":
                    self._playback.append(_Mark(message["mark"]["name"]))
                elif event == "clear":
                    marks = [m for m in self._playback if isinstance(m, _Mark)]
                    self._playback.clear()
                    for mark in marks:  # Twilio returns the marks of cleared audio at once
                        await self._echo_mark(mark)
        except ConnectionClosed as e:
            if e.rcvd is not None and e.rcvd.code == 1008:
                self.call.refused = e.rcvd.reason or "policy violation"
        if not self.call.caller_hung_up:
            self.call.bot_hung_up = True
        self._stop_sending = True

    async def _echo_mark(self, mark: _Mark) -> None:
        await self._send(
            {
                "event": "mark",
                "sequenceNumber": self._next_seq(),
                "streamSid": self.call.stream_sid,
                "mark": {"name": mark.name},
            }
        )

    async def _clock(self) -> None:
        """Every 20 ms: send one frame of the person's line, play one frame of the bot's."""
        while True:
            target = self._t0 + self._tick * TICK_S
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            mic = self.line.encode(self._mic.popleft() if self._mic else None)
            if not self._stop_sending:
                self._chunk += 1
                await self._send(
                    {
                        "event": "media",
                        "sequenceNumber": self._next_seq(),
                        "media": {
                            "track": "inbound",
                            "chunk": str(self._chunk),
                            "timestamp": str(self._tick * 20),
                            "payload": base64.b64encode(mic).decode(),
                        },
                        "streamSid": self.call.stream_sid,
                    }
                )
            self.call.caller_frames.append(mic)
            played = bytes([MULAW_SILENCE]) * FRAME_SAMPLES
            while self._playback:
                item = self._playback.popleft()
                if isinstance(item, _Mark):
                    await self._echo_mark(item)
                    continue
                played = item.ljust(FRAME_SAMPLES, bytes([MULAW_SILENCE]))
                self._last_bot_tick = self._tick
                break
            self.call.bot_frames.append(played)
            self._tick += 1
            if self._stop_sending and not self._playback and not self._mic:
                self._closed.set()
                return

    # -- the person ----------------------------------------------------------

    async def _emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            result = self.on_event(
                {"scenario": self.scenario.name, "t": round(self.now(), 2), **event}
            )
            if asyncio.iscoroutine(result):
                await result

    async def _wait_bot_finished(self, since_tick: int) -> None:
        """Until the bot has spoken after ``since_tick`` and then been quiet a moment."""
        quiet_ticks = int(QUIET_BEFORE_TURN_S / TICK_S)
        deadline = time.monotonic() + BOT_TURN_TIMEOUT_S
        while time.monotonic() < deadline and not self._stop_sending:
            spoke = self._last_bot_tick > since_tick
            if spoke and not self._playback and self._tick - self._last_bot_tick >= quiet_ticks:
                return
            await asyncio.sleep(TICK_S)

    async def _wait_bot_started(self, since_tick: int) -> None:
        deadline = time.monotonic() + BOT_TURN_TIMEOUT_S
        while time.monotonic() < deadline and not self._stop_sending:
            if self._last_bot_tick > since_tick:
                return
            await asyncio.sleep(TICK_S)

    def _caller_audio(self, turn: CallerTurn) -> PCM:
        if turn.say is not None:
            return self.voices.say(turn.say, turn.voice or self.scenario.voice)
        assert turn.audio is not None
        pcm, rate = read_wav(turn.audio)
        return trim_silence(resample(pcm, rate, TELEPHONE_RATE), TELEPHONE_RATE)

    async def _speak(self, pcm: PCM) -> None:
        """Queue 8 kHz audio on the line and wait until its last frame has been sent."""
        self._mic.extend(pcm_frames(self.line.shape(pcm)))
        while self._mic and not self._stop_sending:
            await asyncio.sleep(TICK_S / 2)

    def _latency_after(self, speech_end: float) -> int | None:
        """End of the person's speech to the first bot audio that arrived after it."""
        if any(speech_end - 0.3 <= t <= speech_end for t in self._arrivals):
            return None  # the bot was still talking: this is not an answer
        later = [t for t in self._arrivals if t > speech_end]
        return round((later[0] - speech_end) * 1000) if later else None

    def _bot_started_during(self, start: float, end: float, quiet_s: float = 0.5) -> bool:
        """Whether a bot utterance began inside [start, end]: the caller was cut off.

        Audio the bot was already playing when the caller began (talking over
        it) does not count, only a new utterance after ``quiet_s`` of silence.
        """
        previous = float("-inf")
        for t in self._arrivals:
            if t > end:
                return False
            if t > start + 0.1 and t - previous >= quiet_s:
                return True
            previous = t
        return False

    async def _person(self) -> None:
        if self.scenario.answered_by == "machine":
            await self._machine()
            return
        since = -1
        for index, turn in enumerate(self.scenario.played_turns):
            if self._stop_sending:
                break
            if turn.barge_in_after is not None:
                await self._wait_bot_started(since)
                await asyncio.sleep(turn.barge_in_after)
            else:
                await self._wait_bot_finished(since)
            if self._stop_sending:
                break
            start = self.now()
            kind = turn.kind
            if kind in ("say", "audio"):
                text = (
                    turn.say
                    if turn.say is not None
                    else f"[audio {turn.audio.name if turn.audio else ''}]"
                )
                await self._emit({"type": "caller", "text": text})
                pcm = self._audio.get(index)
                await self._speak(pcm if pcm is not None else self._caller_audio(turn))
                log = CallerTurnLog(kind, text, start, self.now())
                since = self._tick
            elif kind == "dtmf":
                assert turn.dtmf is not None
                await self._emit({"type": "caller", "text": f"[keypad {turn.dtmf}]"})
                for digit in turn.dtmf:
                    await self._send(
                        {
                            "event": "dtmf",
                            "streamSid": self.call.stream_sid,
                            "sequenceNumber": self._next_seq(),
                            "dtmf": {"track": "inbound_track", "digit": digit},
                        }
                    )
                    await asyncio.sleep(0.25)
                log = CallerTurnLog(kind, f"[keypad {turn.dtmf}]", start, start)
                since = self._tick
            elif kind == "silence":
                assert turn.silence is not None
                since = self._tick
                await asyncio.sleep(turn.silence)
                log = CallerTurnLog(kind, f"[silence {turn.silence:g}s]", start, self.now())
            else:  # hangup
                self.call.caller_hung_up = True
                await self._send(
                    {
                        "event": "stop",
                        "sequenceNumber": self._next_seq(),
                        "streamSid": self.call.stream_sid,
                        "stop": {"accountSid": self.account_sid, "callSid": self.call.call_sid},
                    }
                )
                self._stop_sending = True
                await self._ws.close()
                self.call.turns.append(CallerTurnLog(kind, "[hangs up]", start, start))
                await self._emit({"type": "caller", "text": "[hangs up]"})
                return
            self.call.turns.append(log)
            if kind in ("say", "audio", "dtmf"):
                self._awaiting_answer = log
        # Out of turns: stay silent until the bot ends the call.

    async def _machine(self) -> None:
        """A voicemail box: greeting, beep, then silent recording until the bot hangs up.

        It plays on whatever the bot does meanwhile, as a machine would.
        """
        if self.machine_past_beep:
            return
        await asyncio.sleep(MACHINE_PICKUP_S)
        greeting = self.scenario.greeting_text()
        start = self.now()
        await self._emit({"type": "caller", "text": greeting})
        if self._greeting is None:
            self._greeting = self.voices.say(greeting, self.scenario.voice)
        await self._speak(self._greeting)
        self.call.turns.append(CallerTurnLog("greeting", greeting, start, self.now()))
        if self._stop_sending:
            return  # the bot hung up during the greeting
        hz = self.scenario.beep_hz or DEFAULT_BEEP_HZ
        start = self.now()
        await self._emit({"type": "caller", "text": f"[beep {hz:g} Hz]"})
        await self._speak(beep_tone(hz))
        beep = CallerTurnLog("beep", f"[beep {hz:g} Hz]", start, self.now())
        self.call.turns.append(beep)
        self._awaiting_answer = beep  # the bot's message answers the beep
        # Recording: only the line's own noise from here on, until the bot hangs up.

    def finalize(self) -> None:
        """Compute latencies once all arrivals are known."""
        for log in self.call.turns:
            if log.kind in ("say", "audio", "dtmf", "beep"):
                log.latency_ms = self._latency_after(log.end)
            if log.kind in ("say", "audio"):
                log.cut_off = self._bot_started_during(log.start, log.end)

    @staticmethod
    def recording_of(call: CarrierCall) -> tuple[PCM, PCM]:
        """(caller, bot) channels of a finished call, as 8 kHz PCM."""
        return mulaw_decode(b"".join(call.caller_frames)), mulaw_decode(b"".join(call.bot_frames))
