"""Audio helpers shared by the pipeline and the phone simulator.

Telephone audio is 8 kHz G.711 mu-law; the models want 16-bit PCM (Whisper at
16 kHz). These helpers are numpy-only so they work on Python versions without
``audioop``.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

PCM = npt.NDArray[np.int16]

TELEPHONE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = TELEPHONE_RATE * FRAME_MS // 1000  # 160 mu-law bytes per Twilio media frame
MULAW_SILENCE = 0xFF

_BIAS = 0x84
_CLIP = 32635


def mulaw_encode(pcm: PCM) -> bytes:
    """Encode 16-bit PCM samples to G.711 mu-law bytes."""
    x = pcm.astype(np.int32)
    sign = (x < 0).astype(np.int32) << 7
    x = np.minimum(np.abs(x), _CLIP) + _BIAS
    exponent = np.floor(np.log2(x)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (x >> (exponent + 3)) & 0x0F
    encoded = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return bytes(encoded.astype(np.uint8).tobytes())


def mulaw_decode(data: bytes) -> PCM:
    """Decode G.711 mu-law bytes to 16-bit PCM samples."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def resample(pcm: PCM, from_rate: int, to_rate: int) -> PCM:
    """Resample 16-bit mono PCM (high quality, soxr)."""
    if from_rate == to_rate or len(pcm) == 0:
        return pcm
    out: npt.NDArray[np.float32] = soxr.resample(
        pcm.astype(np.float32), from_rate, to_rate, quality="HQ"
    )
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def read_wav(path: Path) -> tuple[PCM, int]:
    """Read a 16-bit WAV (any rate, mono or stereo) as mono PCM and its rate."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels, rate = w.getnchannels(), w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data, rate


def write_wav(path: Path, pcm: PCM, rate: int, channels: int = 1) -> None:
    """Write 16-bit PCM (interleaved if stereo) to a WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype(np.int16).tobytes())


def trim_silence(pcm: PCM, rate: int, threshold: int = 300, pad_ms: int = 30) -> PCM:
    """Cut leading and trailing near-silence, keeping a few ms of padding."""
    loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > threshold)
    if len(loud) == 0:
        return pcm[:0]
    pad = rate * pad_ms // 1000
    return pcm[max(0, loud[0] - pad) : min(len(pcm), loud[-1] + pad)]


def to_telephone(pcm: PCM, rate: int) -> bytes:
    """Convert PCM at any rate to the 8 kHz mu-law that Twilio carries."""
    return mulaw_encode(resample(pcm, rate, TELEPHONE_RATE))
