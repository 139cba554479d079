"""Voices for the simulated caller: never the bot's own voice.

Each voice is Piper re-pitched and re-timed (resampling shifts pitch, the length
scale restores a natural pace), so Whisper hears a different speaker from the
one the bot speaks with. Output is 8 kHz PCM, trimmed of leading and trailing
silence so the simulator knows exactly when the caller stops speaking.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicebot.audio import PCM, TELEPHONE_RATE, resample, trim_silence


@dataclass(frozen=True)
class VoiceStyle:
    pitch: float  # >1 higher, <1 lower
    length_scale: float  # >1 slower speech before the pitch shift


VOICES: dict[str, VoiceStyle] = {
    "caller-low": VoiceStyle(pitch=0.82, length_scale=0.85),
    "caller-high": VoiceStyle(pitch=1.18, length_scale=1.15),
}
DEFAULT_VOICE = "caller-low"


class CallerVoices:
    """Synthesises caller lines, cached, thread-safe."""

    def __init__(self, piper_voice: Any) -> None:
        self._voice = piper_voice
        self._cache: dict[tuple[str, str], PCM] = {}
        self._lock = threading.Lock()

    def say(self, text: str, voice: str | None = None) -> PCM:
        name = voice or DEFAULT_VOICE
        if name not in VOICES:
            raise ValueError(f"unknown caller voice {name!r}; known: {sorted(VOICES)}")
        key = (name, text)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        pcm = self._synthesize(text, VOICES[name])
        with self._lock:
            self._cache[key] = pcm
        return pcm

    def _synthesize(self, text: str, style: VoiceStyle) -> PCM:
        from piper import SynthesisConfig

        rate = self._voice.config.sample_rate
        config = SynthesisConfig(length_scale=style.length_scale)
        chunks = [c.audio_int16_bytes for c in self._voice.synthesize(text, syn_config=config)]
        pcm = np.frombuffer(b"".join(chunks), dtype=np.int16)
        # Played back faster (or slower) than recorded: the pitch moves by `style.pitch`.
        shifted = resample(pcm, int(rate * style.pitch), TELEPHONE_RATE)
        return trim_silence(shifted, TELEPHONE_RATE)
