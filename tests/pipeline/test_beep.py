"""The beep detector: fires on a machine's beep, as heard over the phone; never on speech."""

from __future__ import annotations

import numpy as np
import pytest
from pipecat.frames.frames import InputAudioRawFrame
from pipecat.tests.utils import run_test

from voicebot.audio import PCM, TELEPHONE_RATE, mulaw_decode, mulaw_encode, resample
from voicebot.config import Settings
from voicebot.pipeline.beep import BeepDetector, ToneDetector
from voicebot.pipeline.frames import BeepFrame
from voicebot.simulator.voices import VOICES, CallerVoices

RATE = 16000  # the pipeline's input rate
CHUNK = RATE // 50  # what the transport delivers: 20 ms


def tone(hz: float, seconds: float, level: float = 0.3) -> PCM:
    t = np.arange(int(seconds * TELEPHONE_RATE)) / TELEPHONE_RATE
    return np.round(level * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def silence(seconds: float) -> PCM:
    return np.zeros(int(seconds * TELEPHONE_RATE), dtype=np.int16)


def with_noise(pcm: PCM, snr_db: float, seed: int = 7) -> PCM:
    """White noise at ``snr_db`` below the RMS of ``pcm``'s loud part, over all of it."""
    x = pcm.astype(np.float64)
    loud = x[np.abs(x) > 0]
    rms = float(np.sqrt(np.mean(loud * loud))) if len(loud) else 1000.0
    noise = np.random.default_rng(seed).standard_normal(len(x)) * rms / 10 ** (snr_db / 20)
    return np.clip(np.round(x + noise), -32768, 32767).astype(np.int16)


def over_the_phone(pcm8k: PCM) -> PCM:
    """As the bot hears it: 8 kHz mu-law, decoded and resampled to 16 kHz."""
    return resample(mulaw_decode(mulaw_encode(pcm8k)), TELEPHONE_RATE, RATE)


def beeps_in(pcm16k: PCM) -> list[tuple[float, float]]:
    """(seconds into the audio, Hz) of each beep found, fed in 20 ms chunks."""
    detector = ToneDetector(RATE)
    found = []
    for i in range(0, len(pcm16k), CHUNK):
        hz = detector.feed(pcm16k[i : i + CHUNK])
        if hz is not None:
            found.append(((i + CHUNK) / RATE, hz))
    return found


@pytest.mark.parametrize("hz", [440.0, 1000.0, 1800.0])
def test_a_beep_over_a_noisy_phone_line_is_found_when_it_ends(hz: float) -> None:
    audio = np.concatenate([silence(1.0), tone(hz, 0.5), silence(1.0)])
    found = beeps_in(over_the_phone(with_noise(audio, snr_db=10)))
    assert len(found) == 1
    at, heard = found[0]
    assert abs(heard - hz) < 10
    assert 1.5 <= at <= 1.6  # the beep ends at 1.5 s: reported within a window or two


def test_a_short_or_quiet_or_out_of_band_tone_is_no_beep() -> None:
    assert beeps_in(over_the_phone(np.concatenate([tone(1000, 0.1), silence(0.5)]))) == []
    assert beeps_in(over_the_phone(np.concatenate([tone(1000, 0.5, 0.001), silence(0.5)]))) == []
    assert beeps_in(over_the_phone(np.concatenate([tone(250, 0.5), silence(0.5)]))) == []
    assert beeps_in(over_the_phone(np.concatenate([tone(3000, 0.5), silence(0.5)]))) == []


def test_silence_and_noise_are_no_beep() -> None:
    assert beeps_in(over_the_phone(silence(3.0))) == []
    for level in (30, 300, 3000):
        noise = np.random.default_rng(level).normal(0, level, 3 * TELEPHONE_RATE)
        assert beeps_in(over_the_phone(noise.astype(np.int16))) == []


def test_a_tone_that_never_stops_is_reported_anyway() -> None:
    found = beeps_in(over_the_phone(tone(1000, 3.0)))
    assert len(found) == 1
    assert found[0][0] < 2.0


@pytest.fixture(scope="module")
def voices() -> CallerVoices:
    from voicebot.pipeline.models import get_models

    return CallerVoices(get_models(Settings()).piper)


SPEECH = [
    "Hi, you've reached Alice. I can't take your call right now. "
    "Please leave a message after the tone.",
    "Yes, this is Alice.",
    "Hello? Hellooo? Is anybody there?",
    "Mmmm, no, I did not make that payment.",
    "Hello, this is Nova Wallet calling about a payment of nine hundred and twelve dollars.",
]


@pytest.mark.parametrize("voice", sorted(VOICES))
def test_speech_is_no_beep(voices: CallerVoices, voice: str) -> None:
    for text in SPEECH:
        speech = np.concatenate([voices.say(text, voice), silence(0.5)])
        assert beeps_in(over_the_phone(speech)) == [], (voice, text)
        assert beeps_in(over_the_phone(with_noise(speech, snr_db=15))) == [], (voice, text)


def test_the_greeting_then_its_beep_fires_once_at_the_beep(voices: CallerVoices) -> None:
    greeting = voices.say(SPEECH[0], "caller-high")
    audio = np.concatenate([greeting, silence(0.3), tone(1000, 0.5), silence(2.0)])
    found = beeps_in(over_the_phone(with_noise(audio, snr_db=20)))
    beep_end = (len(greeting) + 0.8 * TELEPHONE_RATE) / TELEPHONE_RATE
    assert len(found) == 1
    assert abs(found[0][1] - 1000) < 10
    assert beep_end <= found[0][0] <= beep_end + 0.1


async def test_the_processor_passes_audio_on_and_adds_one_beep_frame() -> None:
    audio = over_the_phone(np.concatenate([silence(0.3), tone(1000, 0.5), silence(0.3)] * 2))
    frames = [
        InputAudioRawFrame(audio=audio[i : i + CHUNK].tobytes(), sample_rate=RATE, num_channels=1)
        for i in range(0, len(audio), CHUNK)
    ]
    down, _up = await run_test(BeepDetector(), frames_to_send=frames)
    beeps = [f for f in down if isinstance(f, BeepFrame)]
    assert len(beeps) == 1  # two beeps, one frame: a call has one beep that matters
    assert abs(beeps[0].frequency_hz - 1000) < 10
    passed = [f for f in down if isinstance(f, InputAudioRawFrame)]
    assert b"".join(f.audio for f in passed) == audio.tobytes()
    # Audio frames before it: the first beep ends at 0.8 s, i.e. with the 40th frame.
    assert 40 <= down.index(beeps[0]) <= 45
