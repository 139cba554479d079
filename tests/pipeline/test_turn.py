"""The bundled end-of-turn model (smart-turn), opened by path and run on a real clip."""

import numpy as np
import soundfile as sf

from voicebot.config import REPO_ROOT
from voicebot.pipeline.models import bundled_onnx
from voicebot.pipeline.turn import TURN_MODEL, TURN_MODEL_RATE, turn_end_probability

CLIP = REPO_ROOT / "tests" / "scenarios" / "clips" / "yes_this_is_alice_16k.wav"


def test_a_finished_sentence_sounds_finished() -> None:
    session = bundled_onnx(*TURN_MODEL)
    speech, rate = sf.read(CLIP, dtype="int16")
    assert rate == TURN_MODEL_RATE
    pause = np.zeros(TURN_MODEL_RATE // 5, dtype=np.int16)
    assert turn_end_probability(session, np.concatenate([speech, pause])) > 0.5


def test_more_than_eight_seconds_is_judged_on_its_end() -> None:
    session = bundled_onnx(*TURN_MODEL)
    speech, _rate = sf.read(CLIP, dtype="int16")
    noise = np.random.default_rng(0).integers(-2000, 2000, 10 * TURN_MODEL_RATE, dtype=np.int16)
    pause = np.zeros(TURN_MODEL_RATE // 5, dtype=np.int16)
    long_turn = np.concatenate([noise, speech, pause])
    short_turn = np.concatenate([speech, pause])
    assert turn_end_probability(session, long_turn) == turn_end_probability(
        session, long_turn[-8 * TURN_MODEL_RATE :]
    )
    assert 0.0 <= turn_end_probability(session, short_turn) <= 1.0
