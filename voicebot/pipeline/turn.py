"""Whether the caller has finished their turn, judged from how it sounded.

The VAD only knows the caller is quiet: the pause after "Yes." and the one
after "No, I did not..." look the same to it, so it must wait 0.5 s every
time. pipecat bundles smart-turn v3.2, a small Whisper-encoder classifier of
intonation and phrasing (8 s of audio in, P(finished) out, 50-90 ms on one
core here). It is asked once per pause, after the speculative recognition's
words were offered; if those did not answer the question, the turn ends
before the VAD's 0.5 s when the caller sounds done (``voicebot.pipeline.stt``).

The ONNX session is loaded once per process and shared: ``run`` is
thread-safe, and the model keeps no state between calls.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

from voicebot import metrics

TURN_MODEL_RATE = 16000
TURN_MODEL_SECONDS = 8  # the model's input: the last 8 s of the turn, zero-padded in front
# Opened by ``voicebot.pipeline.models.bundled_onnx``: nothing is fetched.
TURN_MODEL = ("pipecat.audio.turn.smart_turn.data", "smart-turn-v3.2-cpu.onnx")


def turn_end_probability(session: Any, pcm16k: np.ndarray) -> float:
    """P(the caller has finished) for a turn so far, 16 kHz int16 mono (blocking)."""
    started = time.perf_counter()
    audio = pcm16k.astype(np.float32) / 32768.0
    size = TURN_MODEL_SECONDS * TURN_MODEL_RATE
    window = np.zeros(size, dtype=np.float32)
    tail = audio[-size:]
    window[size - len(tail) :] = tail
    features = compute_whisper_log_mel_features(window, do_normalize=True)
    outputs = session.run(None, {"input_features": features[np.newaxis, ...]})
    metrics.TURN_MODEL_SECONDS.observe(time.perf_counter() - started)
    return float(np.asarray(outputs[0]).reshape(-1)[0])
