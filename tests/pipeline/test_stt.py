"""Recognition helpers that do not need the model."""

import threading

import numpy as np
import pytest

from voicebot.pipeline import stt
from voicebot.pipeline.stt import collapse_repeats, recognise, window_frames


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
