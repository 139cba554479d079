"""The caller's telephone line: handset band-pass and line noise, before mu-law.

Real calls are never digitally clean: a handset passes roughly 300-3400 Hz, and
the line carries hiss under the speech *and* through every pause. A scenario
opts in with ``line:`` (see ``scenario``); without it the line is a perfect
wire, exactly as before. The noise is generated from a seed (the scenario's
name), so a scenario sounds the same on every run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

from voicebot.audio import FRAME_SAMPLES, MULAW_SILENCE, PCM, TELEPHONE_RATE, mulaw_encode

BAND_HZ = (300.0, 3400.0)
_BAND_ORDER = 4  # Butterworth-like skirts: a handset rolls off, it is not a brick wall
_NOISE_BLOCK_S = 4.0
_ACTIVE_BELOW_PEAK_DB = 30.0  # speech frames: within this much of the loud frames
NOMINAL_SPEECH_RMS = 32768 * 10 ** (-26 / 20)  # -26 dBFS, telephony's nominal speech level

Floats = npt.NDArray[np.float64]


def _band_gain(n: int, rate: int) -> Floats:
    """Magnitude response of the handset band-pass at the rfft bins of ``n`` samples."""
    f = np.fft.rfftfreq(n, 1 / rate)
    low, high = BAND_HZ
    with np.errstate(divide="ignore"):
        high_pass = 1 / np.sqrt(1 + (low / np.maximum(f, 1e-9)) ** (2 * _BAND_ORDER))
    low_pass = 1 / np.sqrt(1 + (f / high) ** (2 * _BAND_ORDER))
    gain: Floats = high_pass * low_pass
    return gain


def band_limit(pcm: PCM, rate: int = TELEPHONE_RATE) -> PCM:
    """The utterance as a handset passes it (zero-phase, same length)."""
    if len(pcm) == 0:
        return pcm
    pad = rate // 10  # room for the filter's ringing, so nothing wraps around
    x = np.concatenate([np.zeros(pad), pcm.astype(np.float64), np.zeros(pad)])
    y = np.fft.irfft(np.fft.rfft(x) * _band_gain(len(x), rate), len(x))[pad:-pad]
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def speech_level(utterances: Sequence[PCM]) -> float:
    """RMS of the active speech in these utterances (pauses left out), or a nominal level."""
    frames = [
        u[i : i + FRAME_SAMPLES].astype(np.float64)
        for u in utterances
        for i in range(0, len(u) - FRAME_SAMPLES + 1, FRAME_SAMPLES)
    ]
    if not frames:
        return NOMINAL_SPEECH_RMS
    power = np.array([float(np.mean(f * f)) for f in frames])
    loud = float(np.percentile(power, 95))
    if loud <= 0:
        return NOMINAL_SPEECH_RMS
    active = power[power >= loud * 10 ** (-_ACTIVE_BELOW_PEAK_DB / 10)]
    return float(np.sqrt(active.mean()))


def seed_for(name: str) -> int:
    """A stable seed from a scenario name (Python's ``hash`` changes per process)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


class LineNoise:
    """Endless stationary noise at a fixed RMS, white or pink, optionally band-limited."""

    def __init__(
        self,
        rms: float,
        seed: int,
        *,
        color: Literal["white", "pink"] = "pink",
        band_limited: bool = False,
        rate: int = TELEPHONE_RATE,
    ) -> None:
        self.rms = rms
        self._rng = np.random.default_rng(seed)
        n = int(_NOISE_BLOCK_S * rate)
        self._block = n
        f = np.fft.rfftfreq(n, 1 / rate)
        shape = np.ones_like(f)
        if color == "pink":  # power falls 3 dB per octave
            shape = 1 / np.sqrt(np.maximum(f, 50.0))
        if band_limited:
            shape = shape * _band_gain(n, rate)
        shape[0] = 0.0  # no DC
        self._shape = shape
        self._buffer: Floats = np.zeros(0)

    def take(self, n: int) -> Floats:
        """The next ``n`` samples of noise."""
        while len(self._buffer) < n:
            white = self._rng.standard_normal(self._block)
            block = np.fft.irfft(np.fft.rfft(white) * self._shape, self._block)
            block *= self.rms / max(float(np.sqrt(np.mean(block * block))), 1e-12)
            self._buffer = np.concatenate([self._buffer, block])
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


class PhoneLine:
    """What the caller's side sends: speech (or silence) through the line, as mu-law frames."""

    def __init__(self, *, band_limited: bool = False, noise: LineNoise | None = None) -> None:
        self.band_limited = band_limited
        self.noise = noise

    @classmethod
    def for_scenario(
        cls,
        name: str,
        *,
        snr_db: float | None,
        band_limited: bool,
        color: Literal["white", "pink"],
        utterances: Sequence[PCM],
    ) -> PhoneLine:
        """The line of one scenario: noise ``snr_db`` below its caller's speech level."""
        noise = None
        if snr_db is not None:
            level = speech_level([band_limit(u) if band_limited else u for u in utterances])
            noise = LineNoise(
                level / 10 ** (snr_db / 20),
                seed_for(name),
                color=color,
                band_limited=band_limited,
            )
        return cls(band_limited=band_limited, noise=noise)

    def shape(self, pcm: PCM) -> PCM:
        """One utterance (8 kHz) as the handset passes it."""
        return band_limit(pcm) if self.band_limited else pcm

    def encode(self, frame: PCM | None) -> bytes:
        """One 20 ms frame on the wire; ``None`` is the caller being quiet."""
        if self.noise is None:
            if frame is None:
                return bytes([MULAW_SILENCE]) * FRAME_SAMPLES
            return mulaw_encode(frame)
        x = self.noise.take(FRAME_SAMPLES)
        if frame is not None:
            x = x + frame.astype(np.float64)
        return mulaw_encode(np.clip(np.round(x), -32768, 32767).astype(np.int16))
