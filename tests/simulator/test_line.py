"""The simulated telephone line: band-pass, noise at a set SNR, never digital silence."""

from __future__ import annotations

from typing import Literal

import numpy as np

from voicebot.audio import (
    FRAME_SAMPLES,
    MULAW_SILENCE,
    PCM,
    TELEPHONE_RATE,
    mulaw_decode,
    mulaw_encode,
)
from voicebot.simulator.line import LineNoise, PhoneLine, band_limit, seed_for, speech_level


def tone(hz: float, seconds: float, amplitude: float = 10000) -> PCM:
    t = np.arange(int(seconds * TELEPHONE_RATE)) / TELEPHONE_RATE
    return np.round(amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_band_limit_passes_the_voice_band_only() -> None:
    for hz, low, high in [(100, 0.0, 0.1), (1000, 0.97, 1.01), (3900, 0.0, 0.6)]:
        x = tone(hz, 1.0)
        y = band_limit(x)
        assert len(y) == len(x)
        assert low <= rms(y) / rms(x) <= high, hz


def test_speech_level_leaves_pauses_out() -> None:
    x = np.concatenate([tone(500, 0.5), np.zeros(TELEPHONE_RATE, np.int16), tone(500, 0.5)])
    assert abs(speech_level([x]) - 10000 / np.sqrt(2)) < 100


def test_a_perfect_line_sends_exactly_what_was_said() -> None:
    line = PhoneLine()
    frame = tone(1000, 0.02)
    assert line.encode(frame) == mulaw_encode(frame)
    assert line.encode(None) == bytes([MULAW_SILENCE]) * FRAME_SAMPLES
    assert line.shape(frame) is frame


def noisy_line(name: str, snr_db: float = 15.0, band: bool = True) -> PhoneLine:
    speech = tone(700, 1.0)
    return PhoneLine.for_scenario(
        name, snr_db=snr_db, band_limited=band, color="pink", utterances=[speech]
    )


def test_a_noisy_line_is_never_silent_and_keeps_its_snr() -> None:
    line = noisy_line("s1", snr_db=15)
    quiet = mulaw_decode(b"".join(line.encode(None) for _ in range(100)))  # 2 s of pauses
    level = speech_level([band_limit(tone(700, 1.0))])
    assert all(rms(quiet[i : i + FRAME_SAMPLES]) > 0 for i in range(0, len(quiet), FRAME_SAMPLES))
    assert abs(20 * np.log10(level / rms(quiet)) - 15) < 1.0


def test_the_noise_is_the_same_for_the_same_scenario() -> None:
    a = [noisy_line("confirm-yes").encode(None) for _ in range(3)]
    b = [noisy_line("confirm-yes").encode(None) for _ in range(3)]
    c = [noisy_line("confirm-no").encode(None) for _ in range(3)]
    assert a == b
    assert a != c
    assert seed_for("x") == seed_for("x") != seed_for("y")


def test_pink_noise_is_darker_than_white() -> None:
    def low_share(color: Literal["white", "pink"]) -> float:
        noise = LineNoise(1000, 1, color=color).take(8 * TELEPHONE_RATE)
        power = np.abs(np.fft.rfft(noise)) ** 2
        f = np.fft.rfftfreq(len(noise), 1 / TELEPHONE_RATE)
        return float(power[f < 1000].sum() / power.sum())

    assert low_share("pink") > 0.5 > low_share("white")


def test_noise_keeps_its_level_across_blocks() -> None:
    noise = LineNoise(500, 3)
    halves = [noise.take(TELEPHONE_RATE // 2) for _ in range(40)]  # 20 s: several blocks
    assert all(abs(rms(h) - 500) < 75 for h in halves)
