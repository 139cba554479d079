"""The Twilio serializer: a bad media message is dropped and counted; ``stop`` ends the stream."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest
from loguru import logger
from pipecat.frames.frames import InputAudioRawFrame, InputDTMFFrame
from pipecat.processors.frame_processor import FrameProcessorSetup

from voicebot import metrics
from voicebot.telephony.serializer import TwilioSerializer

SILENCE = base64.b64encode(b"\xff" * 160).decode()  # 20 ms of mu-law silence


def dropped() -> float:
    """Every message dropped so far, whatever the reason."""
    total = 0.0
    for family in metrics.REGISTRY.collect():
        if family.name == "voicebot_media_messages_dropped":
            total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total


class Stops:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1


async def serializer(on_stop: Stops | None = None) -> TwilioSerializer:
    s = TwilioSerializer(
        "MZ1",
        "CA1",
        on_stop=on_stop,
        params=TwilioSerializer.InputParams(auto_hang_up=False),
    )
    await s.setup(cast(FrameProcessorSetup, SimpleNamespace(audio_in_sample_rate=16000)))
    return s


def media(payload: Any) -> str:
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": payload}})


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    seen: list[str] = []
    sink = logger.add(seen.append, level="WARNING", format="{message}")
    yield seen
    logger.remove(sink)


BAD = {
    "short base64": media("A"),
    "not base64": media("!!!!" * 40),
    "payload a number": media(12345),
    "payload a list": media([SILENCE]),
    "payload missing": json.dumps({"event": "media", "media": {}}),
    "media a string": json.dumps({"event": "media", "media": SILENCE}),
    "media missing": json.dumps({"event": "media"}),
    "invalid json": '{"event": "media", "media": {"payload": ',
    "not an object": json.dumps([{"event": "media"}]),
    "event not a string": json.dumps({"event": ["media"]}),
    "no event": json.dumps({"media": {"payload": SILENCE}}),
    "not utf-8": b'{"event": "media", "\xff": 1}',
    "nested too deep": "[" * 40000 + "]" * 40000,
    "dtmf without digit": json.dumps({"event": "dtmf", "dtmf": {}}),
    "dtmf not a key": json.dumps({"event": "dtmf", "dtmf": {"digit": "x"}}),
    "dtmf a string": json.dumps({"event": "dtmf", "dtmf": "5"}),
}


@pytest.mark.parametrize("message", BAD.values(), ids=BAD.keys())
async def test_a_bad_message_is_dropped_and_counted(message: str | bytes) -> None:
    s = await serializer()
    before = dropped()
    assert await s.deserialize(message) is None
    assert dropped() == before + 1
    frame = await s.deserialize(media(SILENCE))  # the next good frame still gets through
    assert isinstance(frame, InputAudioRawFrame) and frame.sample_rate == 16000


async def test_good_messages_still_decode() -> None:
    s = await serializer()
    before = dropped()
    audio = await s.deserialize(media(SILENCE))
    assert isinstance(audio, InputAudioRawFrame) and len(audio.audio) > 0
    key = await s.deserialize(json.dumps({"event": "dtmf", "dtmf": {"digit": "5"}}))
    assert isinstance(key, InputDTMFFrame) and key.button.value == "5"
    for event in ("connected", "mark", "some-future-event"):
        assert await s.deserialize(json.dumps({"event": event})) is None
    assert dropped() == before


async def test_one_warning_per_call_and_never_the_payload(warnings: list[str]) -> None:
    s = await serializer()
    secret_looking = "QUJDRA" + "A"  # not valid base64 either
    for _ in range(5):
        assert await s.deserialize(media(secret_looking)) is None
    assert await s.deserialize('{"event": "media", "media": {"payload": "' + secret_looking) is None
    assert len(warnings) == 1
    assert "CA1" in warnings[0] and secret_looking not in warnings[0]
    other_call = await serializer()
    await other_call.deserialize(media("A"))
    assert len(warnings) == 2


async def test_stop_ends_the_stream_at_once() -> None:
    stops = Stops()
    s = await serializer(stops)
    assert isinstance(await s.deserialize(media(SILENCE)), InputAudioRawFrame)
    assert await s.deserialize(json.dumps({"event": "stop", "streamSid": "MZ1"})) is None
    assert stops.count == 1
    before = dropped()
    # Whatever comes after stop is not the caller any more: nothing gets through.
    assert await s.deserialize(media(SILENCE)) is None
    assert await s.deserialize(json.dumps({"event": "dtmf", "dtmf": {"digit": "1"}})) is None
    assert await s.deserialize(json.dumps({"event": "stop"})) is None
    assert stops.count == 1 and dropped() == before


async def test_stop_without_a_handler_still_stops_input() -> None:
    s = await serializer()
    assert await s.deserialize(json.dumps({"event": "stop"})) is None
    assert await s.deserialize(media(SILENCE)) is None
