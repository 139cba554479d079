"""Caller voices: the eSpeak NG voice works offline, to a buffer, and unknown names fail."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.audio import TELEPHONE_RATE
from voicebot.errors import SpeechError
from voicebot.simulator.espeak import espeak
from voicebot.simulator.voices import VOICES, CallerVoices, EspeakStyle, check_voice


def test_the_espeak_voice_speaks_to_a_buffer() -> None:
    voices = CallerVoices(piper_voice=None)  # eSpeak needs no Piper
    pcm = voices.say("Yes, that was me.", "caller-espeak")
    seconds = len(pcm) / TELEPHONE_RATE
    assert pcm.dtype == np.int16
    assert 0.6 < seconds < 3.0
    assert np.abs(pcm.astype(np.int32)).max() > 3000  # speech, not a whisper of it
    assert voices.say("Yes, that was me.", "caller-espeak") is pcm  # cached


def test_espeak_keeps_its_timing_and_follows_its_pace() -> None:
    engine = espeak()
    slow = engine.synthesize("Please call me back tomorrow.", "en-us+f2", 120, 50)
    again = engine.synthesize("Please call me back tomorrow.", "en-us+f2", 120, 50)
    fast = engine.synthesize("Please call me back tomorrow.", "en-us+f2", 220, 50)
    assert len(slow) == len(again)  # its noise sources vary; its timing does not
    assert len(fast) < 0.8 * len(slow)


def test_espeak_refuses_an_unknown_voice() -> None:
    with pytest.raises(SpeechError, match="no voice"):
        espeak().synthesize("hello", "xx-nowhere", 150, 50)


def test_voice_names_are_checked() -> None:
    assert isinstance(VOICES["caller-espeak"], EspeakStyle)
    check_voice("caller-low")
    with pytest.raises(ValueError, match="caller-espeak"):
        check_voice("caller-nobody")


@pytest.mark.parametrize(
    "voice", [name for name, style in VOICES.items() if not isinstance(style, EspeakStyle)]
)
def test_piper_voices_say_a_line_the_same_way_every_time(voice: str) -> None:
    """A scenario plays the same audio in every run (and check-line checks that audio).

    Not eSpeak NG: its library keeps state between utterances (a line comes out a
    few samples longer or shorter, its breath noise differs), which no call resets.
    """
    from voicebot.config import get_settings
    from voicebot.pipeline.models import get_models

    piper = get_models(get_settings()).piper
    first = CallerVoices(piper).say("Yes, that was me.", voice)
    again = CallerVoices(piper).say("Yes, that was me.", voice)  # a fresh cache
    assert np.array_equal(first, again)
