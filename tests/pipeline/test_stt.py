"""Recognition helpers and the early offer of a pause's words, without the model."""

import asyncio
import threading
import time

import numpy as np
import pytest
from pipecat.frames.frames import Frame

from voicebot.pipeline import stt
from voicebot.pipeline.frames import HeardFrame
from voicebot.pipeline.stt import (
    Recognition,
    WhisperTranscriber,
    collapse_repeats,
    recognise,
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


def test_a_speculative_recognition_never_waits_for_a_busy_whisper() -> None:
    """While another call's turn is being recognised, a guess is skipped, not queued."""
    held = threading.Event()
    release = threading.Event()

    def busy() -> None:
        with stt._whisper_lock:
            held.set()
            release.wait(5)

    worker = threading.Thread(target=busy)
    worker.start()
    held.wait(5)
    try:
        silence = np.zeros(1600, dtype=np.int16)
        assert recognise(None, silence, speculative=True) is None
    finally:
        release.set()
        worker.join()


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


async def test_the_turn_models_verdict_follows_the_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """The words go first (an answer needs nothing more); the verdict comes after Whisper."""
    judged: list[int] = []

    def verdict(session: object, pcm: np.ndarray) -> float:
        judged.append(len(pcm))
        return 0.8

    monkeypatch.setattr(stt, "turn_end_probability", verdict)
    pause = FakePause(already=0.4)
    t, sent = transcriber_in_a_pause(pause, turn_model=object())
    t._segment = bytearray(3200)
    await t._offer(Recognition("I want a person.", 0.9, 0.1), pause_id=1)
    assert [f.finished_probability for f in sent if isinstance(f, HeardFrame)] == [None, 0.8]
    assert judged == [1600]


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
