"""A simulated answering machine, on the simulator's own clock (no server needed).

The machine's side is played into a fake WebSocket; what it sent is then heard
as the bot hears it (mu-law, resampled to 16 kHz) by the bot's beep detector.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import numpy as np

from voicebot.audio import MULAW_SILENCE, TELEPHONE_RATE, mulaw_decode, resample
from voicebot.pipeline.beep import ToneDetector
from voicebot.simulator.carrier import CarrierCall, MediaStream, beep_tone, pcm_frames
from voicebot.simulator.scenario import Scenario
from voicebot.simulator.voices import CallerVoices


class FakeSocket:
    """Collects what the carrier sends."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def machine(**extra: Any) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "machine-test",
            "purpose": "feedback",
            "customer": {"first_name": "Alice", "phone": "+14155550100"},
            "answered_by": "machine",
            "voice": "caller-espeak",  # no Piper needed
            "greeting": "This is {first_name}.",
            "expect": {"outcome": "voicemail_left"},
            **extra,
        }
    )


async def play_machine(scenario: Scenario) -> tuple[CarrierCall, FakeSocket]:
    """Run the machine's side until it has beeped and recorded a second of silence."""
    call = CarrierCall(call_sid="CA0")
    stream = MediaStream(scenario, call, CallerVoices(piper_voice=None), "AC0")
    await asyncio.to_thread(stream.prepare)
    socket = FakeSocket()
    stream._ws = socket
    stream._t0 = time.monotonic()
    clock = asyncio.create_task(stream._clock())
    await stream._person()
    await asyncio.sleep(1.0)
    clock.cancel()
    await asyncio.gather(clock, return_exceptions=True)
    return call, socket


def heard_beeps(call: CarrierCall) -> list[float]:
    pcm = resample(mulaw_decode(b"".join(call.caller_frames)), TELEPHONE_RATE, 16000)
    detector = ToneDetector(16000)
    found = [detector.feed(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]
    return [hz for hz in found if hz is not None]


async def test_a_machine_greets_beeps_then_records_in_silence() -> None:
    call, socket = await play_machine(machine())
    assert [(t.kind, t.text) for t in call.turns] == [
        ("greeting", "This is Alice."),
        ("beep", "[beep 1000 Hz]"),
    ]
    greeting, beep = call.turns
    assert greeting.start >= 0.25  # it picks up, then speaks at once
    assert 0.45 <= beep.end - beep.start <= 0.6
    assert call.caller_frames[-10:] == [bytes([MULAW_SILENCE]) * 160] * 10  # a perfect line
    beeps = heard_beeps(call)
    assert len(beeps) == 1 and abs(beeps[0] - 1000) < 10
    payloads = [base64.b64decode(m["media"]["payload"]) for m in socket.sent]
    assert payloads == call.caller_frames


async def test_a_machine_on_a_noisy_line_still_beeps_audibly() -> None:
    call, _ = await play_machine(
        machine(beep_hz=440, line={"snr_db": 15, "band_limit": True, "noise": "white"})
    )
    assert call.turns[1].text == "[beep 440 Hz]"
    assert all(frame != bytes([MULAW_SILENCE]) * 160 for frame in call.caller_frames)
    beeps = heard_beeps(call)
    assert len(beeps) == 1 and abs(beeps[0] - 440) < 10


def test_the_beep_is_a_clean_tone_in_whole_frames() -> None:
    tone = beep_tone(1000.0)
    assert len(tone) == TELEPHONE_RATE // 2
    spectrum = np.abs(np.fft.rfft(tone.astype(np.float64)))
    assert abs(np.argmax(spectrum) * TELEPHONE_RATE / len(tone) - 1000) < 3
    frames = pcm_frames(tone[:-10])
    assert all(len(f) == 160 for f in frames) and len(frames) == 25


def test_a_bot_utterance_starting_inside_a_caller_turn_is_a_cut_off() -> None:
    from types import SimpleNamespace

    from voicebot.simulator.carrier import MediaStream

    def cut(arrivals: list[float], start: float, end: float) -> bool:
        stream = SimpleNamespace(_arrivals=arrivals)
        return MediaStream._bot_started_during(stream, start, end)  # type: ignore[arg-type]

    frames = [10.0 + i * 0.02 for i in range(50)]  # the bot talks from 10.0 s to 11.0 s
    assert cut(frames, 9.0, 10.5)  # it began while the caller was still talking
    assert not cut(frames, 11.5, 12.0)  # it answered after the caller finished
    assert not cut(frames, 10.3, 10.8)  # the caller talked over the bot: not a cut-off


async def test_a_machine_plays_none_of_its_scenario_s_caller_turns() -> None:
    scenario = machine(caller=[{"silence": 1.0}, {"say": "Hello?", "voice": "caller-espeak"}])
    call, _ = await play_machine(scenario)
    assert [t.kind for t in call.turns] == ["greeting", "beep"]
