from __future__ import annotations

import numpy as np

from voicebot.audio import mulaw_decode, mulaw_encode, resample, trim_silence


def test_mulaw_round_trip_is_close() -> None:
    t = np.arange(8000) / 8000
    pcm = (np.sin(2 * np.pi * 440 * t) * 12000).astype(np.int16)
    back = mulaw_decode(mulaw_encode(pcm))
    assert np.max(np.abs(back.astype(int) - pcm.astype(int))) < 12000 * 0.04


def test_mulaw_silence_is_ff() -> None:
    assert mulaw_encode(np.zeros(4, np.int16)) == b"\xff" * 4


def test_resample_length() -> None:
    assert len(resample(np.zeros(22050, np.int16), 22050, 8000)) == 8000


def test_trim_silence() -> None:
    pcm = np.concatenate([np.zeros(800), np.full(80, 5000), np.zeros(800)]).astype(np.int16)
    assert 80 <= len(trim_silence(pcm, 8000)) <= 80 + 2 * 240
