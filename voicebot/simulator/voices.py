"""Voices for the simulated caller: never the bot's own voice.

``VOICES`` is the one list of caller voices (scenario files name them).

- Piper voices are the bot's synthesiser re-pitched and re-timed (resampling
  shifts pitch, the length scale restores a natural pace), so Whisper hears a
  different speaker from the one the bot speaks with.
- ``caller-espeak`` is a different synthesiser altogether (eSpeak NG, a formant
  synthesiser): robotic, and harder for Whisper than any Piper voice, which is
  the point: it keeps the recogniser from being tuned to Piper alone.

Output is 8 kHz PCM, trimmed of leading and trailing silence so the simulator
knows exactly when the caller stops speaking. The Piper voices say a line the
same way every time: Piper's sampling noise (drawn inside its ONNX model, so no
seed reaches it) is off for callers, so a scenario plays the same audio in
every run and ``voicebot check-line`` checks exactly what the suite plays.
eSpeak NG varies a little (its library keeps state between utterances: a few
samples longer or shorter, different breath noise).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from voicebot.audio import PCM, TELEPHONE_RATE, resample, trim_silence
from voicebot.simulator.espeak import espeak


@dataclass(frozen=True)
class PiperStyle:
    """The bot's Piper voice, made into another speaker."""

    pitch: float  # >1 higher, <1 lower
    length_scale: float  # >1 slower speech before the pitch shift


@dataclass(frozen=True)
class EspeakStyle:
    """An eSpeak NG voice: language plus variant, pace and pitch."""

    voice: str  # e.g. "en-us+f2": American English, female variant 2
    words_per_minute: int
    pitch: int  # 0-100, eSpeak's default is 50


VoiceStyle = PiperStyle | EspeakStyle

VOICES: dict[str, VoiceStyle] = {
    "caller-low": PiperStyle(pitch=0.82, length_scale=0.85),
    "caller-high": PiperStyle(pitch=1.18, length_scale=1.15),
    # Slower than eSpeak's default 175 wpm: at that pace Whisper tiny.en loses words.
    "caller-espeak": EspeakStyle(voice="en-us+f2", words_per_minute=135, pitch=50),
}
DEFAULT_VOICE = "caller-low"


def check_voice(name: str) -> None:
    """Raise ValueError for a voice name that is not in ``VOICES``."""
    if name not in VOICES:
        raise ValueError(f"unknown caller voice {name!r}; known: {sorted(VOICES)}")


class CallerVoices:
    """Synthesises caller lines, cached, thread-safe."""

    def __init__(self, piper_voice: Any) -> None:
        self._voice = piper_voice
        self._cache: dict[tuple[str, str], PCM] = {}
        self._lock = threading.Lock()

    def say(self, text: str, voice: str | None = None) -> PCM:
        name = voice or DEFAULT_VOICE
        check_voice(name)
        key = (name, text)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        style = VOICES[name]
        if isinstance(style, EspeakStyle):
            pcm = self._espeak(text, style)
        else:
            pcm = self._piper(text, style)
        with self._lock:
            self._cache[key] = pcm
        return pcm

    def _piper(self, text: str, style: PiperStyle) -> PCM:
        from piper import SynthesisConfig

        rate = self._voice.config.sample_rate
        # No sampling noise: the same line is the same audio in every run.
        config = SynthesisConfig(
            length_scale=style.length_scale, noise_scale=0.0, noise_w_scale=0.0
        )
        chunks = [c.audio_int16_bytes for c in self._voice.synthesize(text, syn_config=config)]
        pcm = np.frombuffer(b"".join(chunks), dtype=np.int16)
        # Played back faster (or slower) than recorded: the pitch moves by `style.pitch`.
        shifted = resample(pcm, int(rate * style.pitch), TELEPHONE_RATE)
        return trim_silence(shifted, TELEPHONE_RATE)

    @staticmethod
    def _espeak(text: str, style: EspeakStyle) -> PCM:
        engine = espeak()
        pcm = engine.synthesize(text, style.voice, style.words_per_minute, style.pitch)
        return trim_silence(resample(pcm, engine.sample_rate, TELEPHONE_RATE), TELEPHONE_RATE)
