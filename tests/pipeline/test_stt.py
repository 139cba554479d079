"""Recognition helpers and the early offer of a pause's words, without the model."""

import asyncio
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
from pipecat.frames.frames import Frame

from voicebot.pipeline import stt
from voicebot.pipeline.frames import HeardFrame, RecognitionFailedFrame
from voicebot.pipeline.stt import (
    Recognition,
    WhisperTranscriber,
    collapse_repeats,
    recognise,
    whisper_slots,
    window_frames,
)


def test_a_repetition_loop_is_collapsed_for_the_record() -> None:
    assert collapse_repeats("yes " * 300) == "yes yes yes"
    assert collapse_repeats("no no, I said no no no no") == "no no, I said no no no"


def test_the_encoder_window_leaves_room_after_the_speech_within_whispers_30_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stt, "MIN_WINDOW_FRAMES", 1000)
    assert window_frames(150) == 1000  # never under the minimum
    assert window_frames(900) == 1200  # 3 s of room, in whole seconds
    assert window_frames(2900) == 3000  # never over Whisper's own window
    assert window_frames(10_000) == 3000


class FakeWhisper:
    """Stands in for a model with ``workers`` Whisper workers (only the slots are used)."""

    def __init__(self, workers: int) -> None:
        self.model = SimpleNamespace(num_workers=workers)


async def test_a_speculative_recognition_never_waits_for_a_busy_whisper() -> None:
    """While every worker recognises another turn, a guess is skipped, not queued."""
    model = FakeWhisper(workers=2)
    slots = whisper_slots(model)
    release = threading.Event()
    busy = [asyncio.create_task(slots.run(lambda: release.wait(5))) for _ in range(2)]
    await asyncio.sleep(0.05)
    try:
        assert slots.free() == 0
        silence = np.zeros(1600, dtype=np.int16)
        assert await recognise(model, silence, speculative=True) is None  # type: ignore[arg-type]
    finally:
        release.set()
        await asyncio.gather(*busy)
    await asyncio.sleep(0.01)
    assert slots.free() == 2


async def test_recognitions_queue_for_a_worker_first_come_first_served() -> None:
    slots = whisper_slots(FakeWhisper(workers=1))
    order: list[int] = []
    release = threading.Event()

    def job(n: int) -> int:
        release.wait(5)
        order.append(n)
        return n

    tasks = [asyncio.create_task(slots.run(lambda n=n: job(n))) for n in range(3)]
    await asyncio.sleep(0.05)
    assert slots.free() == 0
    release.set()
    assert await asyncio.gather(*tasks) == [0, 1, 2]
    assert order == [0, 1, 2]


async def test_a_worker_stays_busy_until_its_thread_is_done() -> None:
    """A call that ends stops waiting; the recognition still holds its worker."""
    slots = whisper_slots(FakeWhisper(workers=1))
    release = threading.Event()
    waiting = asyncio.create_task(slots.run(lambda: release.wait(5)))
    await asyncio.sleep(0.05)
    waiting.cancel()
    await asyncio.sleep(0.05)
    assert slots.free() == 0
    release.set()
    await asyncio.sleep(0.05)
    assert slots.free() == 1


class FakePause:
    """A pause that began ``already`` seconds ago and goes on until ``resume``."""

    def __init__(self, already: float) -> None:
        self.pause_id = 1
        self._began = time.monotonic() - already

    def resume(self) -> None:
        self.pause_id += 1

    def silence_s(self) -> float:
        return time.monotonic() - self._began if self.pause_id == 1 else 0.0


def transcriber_in_a_pause(
    pause: FakePause, turn_model: object = None
) -> tuple[WhisperTranscriber, list[Frame]]:
    sent: list[Frame] = []
    t = WhisperTranscriber(
        None,  # type: ignore[arg-type]
        pauses=pause,
        early_turns=True,
        early_after_s=0.3,
        turn_model=turn_model,
    )
    t._speaking = True

    async def push(frame: Frame, direction: object = None) -> None:
        sent.append(frame)

    t.push_frame = push  # type: ignore[method-assign]
    return t, sent


async def test_a_pauses_words_are_offered_only_once_the_pause_is_long_enough() -> None:
    """A comma pause is 0.2-0.35 s: words heard at 0.1 s must wait, or a caller is cut off."""
    pause = FakePause(already=0.1)
    t, sent = transcriber_in_a_pause(pause)
    started = time.monotonic()
    await t._offer(Recognition("Yes, that was me.", 0.9, 0.1), pause_id=1)
    assert time.monotonic() - started >= 0.19
    assert len(sent) == 1 and isinstance(sent[0], HeardFrame)
    assert sent[0].speculative and sent[0].finished_probability is None
    assert sent[0].speech_ended_at - sent[0].speech_stopped_at >= 0.3


def judging_with(
    monkeypatch: pytest.MonkeyPatch, p: float, takes_s: float = 0.0
) -> tuple[WhisperTranscriber, list[Frame], list[int]]:
    """A transcriber in a 0.4 s pause whose turn model says ``p`` after ``takes_s``."""
    judged: list[int] = []

    def verdict(session: object, pcm: np.ndarray) -> float:
        judged.append(len(pcm))
        time.sleep(takes_s)
        return p

    monkeypatch.setattr(stt, "turn_end_probability", verdict)
    t, sent = transcriber_in_a_pause(FakePause(already=0.4), turn_model=object())
    t.create_task = lambda coro, name=None: asyncio.create_task(coro)  # type: ignore[method-assign,assignment]
    t._segment = bytearray(3200)
    return t, sent, judged


async def test_the_turn_models_verdict_goes_with_the_words_when_ready(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Begun before the words may be offered, the verdict comes with them, in one frame."""
    t, sent, judged = judging_with(monkeypatch, 0.8)
    assert t._pauses is not None
    t._maybe_judge(t._pauses)
    await asyncio.sleep(0.05)
    await t._offer(Recognition("I want a person.", 0.9, 0.1), pause_id=1)
    assert [f.finished_probability for f in sent if isinstance(f, HeardFrame)] == [0.8]
    assert judged == [1600]
    t._maybe_judge(t._pauses)  # once per pause
    assert judged == [1600]


async def test_a_late_verdict_follows_the_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer needs no verdict: the words do not wait for a slow turn model."""
    t, sent, _judged = judging_with(monkeypatch, 0.8, takes_s=0.2)
    assert t._pauses is not None
    t._maybe_judge(t._pauses)
    await t._offer(Recognition("I want a person.", 0.9, 0.1), pause_id=1)
    assert [f.finished_probability for f in sent if isinstance(f, HeardFrame)] == [None, 0.8]


async def test_the_turn_model_waits_for_a_pause_nearly_long_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t, _sent, judged = judging_with(monkeypatch, 0.8)
    t._maybe_judge(FakePause(already=0.1))  # 0.3 s may end the turn: judged from 0.2 s
    await asyncio.sleep(0.01)
    assert judged == []


async def test_words_are_not_offered_if_the_caller_goes_on_talking() -> None:
    pause = FakePause(already=0.1)
    t, sent = transcriber_in_a_pause(pause)
    offer = asyncio.create_task(t._offer(Recognition("Yes, that", 0.9, 0.1), pause_id=1))
    await asyncio.sleep(0.05)
    pause.resume()
    await offer
    assert sent == []


async def test_a_secret_is_never_offered_early() -> None:
    pause = FakePause(already=0.4)
    t, sent = transcriber_in_a_pause(pause)
    await t._offer(Recognition("my PIN is 4 7 1 9", 0.9, 0.1), pause_id=1)
    assert sent == []


async def test_a_one_word_turn_is_left_to_the_vad() -> None:
    """ "Yes," may be followed by "this is Alice" after a 0.4 s pause: never answered early."""
    pause = FakePause(already=0.4)
    t, sent = transcriber_in_a_pause(pause)
    await t._offer(Recognition("Yes.", 0.95, 0.1), pause_id=1)
    assert sent == []


@pytest.mark.parametrize("failure", ["raises", "hangs"])
async def test_a_turn_whisper_cannot_recognise_in_time_is_reported_not_dropped(
    monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """Raised or hung, the turn becomes a RecognitionFailedFrame within the timeout."""

    async def broken(*args: object, **kwargs: object) -> Recognition:
        if failure == "raises":
            raise RuntimeError("CTranslate2 exploded")
        await asyncio.sleep(60)
        raise AssertionError("not reached")

    monkeypatch.setattr(stt, "recognise", broken)
    sent: list[Frame] = []
    reported = asyncio.Event()
    t = WhisperTranscriber(None, recognition_timeout_s=0.2)  # type: ignore[arg-type]

    async def push(frame: Frame, direction: object = None) -> None:
        sent.append(frame)
        reported.set()

    t.push_frame = push  # type: ignore[method-assign]
    worker = asyncio.create_task(t._transcribe_segments())
    started = time.monotonic()
    await t._queue.put((b"\0\0" * 1600, started, 0.5, None, 1))
    await asyncio.wait_for(reported.wait(), 2.0)
    await t._queue.put(None)
    await worker
    (frame,) = sent
    assert isinstance(frame, RecognitionFailedFrame)
    assert ("exploded" in frame.error) if failure == "raises" else frame.error == "timed out"
    assert time.monotonic() - started < 1.0
