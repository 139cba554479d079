"""The synthesiser's turn planning: early first audio, never a hole mid-turn."""

import numpy as np
from pipecat.frames.frames import TTSAudioRawFrame
from pipecat.tests.utils import SleepFrame, run_test

from voicebot.dialog.engine import Line
from voicebot.pipeline.frames import SpeakFrame, SpeechFailedFrame
from voicebot.pipeline.tts import (
    PhraseCache,
    PiperSpeaker,
    PlaybackTimeline,
    SynthesisPace,
    plan_pieces,
    ready_to_start,
)

NOTICE = Line(
    "security_notice",
    "Thank you. Before we go on, Nova Wallet will never ask you for your PIN, "
    "password, card number, seed phrase or private key.",
    interruptible=False,
)
QUESTION = Line("payment_question", "Did you make this payment?", interruptible=True)


def test_turn_is_cut_into_sentences_keeping_each_line() -> None:
    pieces = plan_pieces((NOTICE, QUESTION))
    assert [p.text for p in pieces] == [
        "Thank you.",
        "Before we go on,",
        "Nova Wallet will never ask you for your PIN,",
        "password, card number, seed phrase or private key.",
        "Did you make this payment?",
    ]
    assert [p.line.key for p in pieces] == ["security_notice"] * 4 + ["payment_question"]


def test_long_sentence_is_cut_after_its_first_clause() -> None:
    line = Line("x", "Before we go on, Nova Wallet will never ask you for your PIN.", True)
    assert [p.text for p in plan_pieces((line,))] == [
        "Before we go on,",
        "Nova Wallet will never ask you for your PIN.",
    ]


def test_short_clauses_are_not_cut() -> None:
    line = Line("x", "Yes, thank you for confirming that.", True)
    assert [p.text for p in plan_pieces((line,))] == ["Yes, thank you for confirming that."]


def test_fast_synthesis_starts_at_once() -> None:
    pace = SynthesisPace(rtf=0.03)
    pending = plan_pieces((NOTICE, QUESTION))[1:]
    assert ready_to_start(0.6, pending, pace)


def test_slow_synthesis_holds_a_short_first_sentence_back() -> None:
    # A very busy CPU: even "Before we go on," takes longer to make than "Thank you." lasts.
    pace = SynthesisPace(rtf=0.5)
    pending = plan_pieces((NOTICE, QUESTION))[1:]
    assert not ready_to_start(0.6, pending, pace)
    # With the notice synthesised too, the rest can never run dry.
    assert ready_to_start(0.6 + 7.0, pending[3:], pace)


def test_pace_learns_from_what_it_observes() -> None:
    pace = SynthesisPace(rtf=0.05)
    for _ in range(20):
        pace.observe(chars=100, compute_s=2.0, audio_s=7.0)
    assert abs(pace.rtf - 2.0 / 7.0) < 0.01
    assert abs(pace.audio_per_char - 0.07) < 0.01
    pace.observe(chars=0, compute_s=1.0, audio_s=0.0)  # nothing to learn from
    assert abs(pace.rtf - 2.0 / 7.0) < 0.01


def test_one_stall_does_not_hold_every_turn_back() -> None:
    pace = SynthesisPace(rtf=0.05)
    pace.observe(chars=100, compute_s=7.0, audio_s=7.0)  # a 1x stall, once
    assert pace.rtf < 0.1
    pace.observe(chars=3, compute_s=0.3, audio_s=0.2)  # too short to learn from
    assert pace.rtf < 0.1


class _Chunk:
    def __init__(self, pcm: np.ndarray) -> None:
        self.audio_int16_bytes = pcm.tobytes()


class _BrokenVoice:
    """A voice whose synthesis fails: the stage must still produce sound and say so."""

    class config:  # mimics piper's voice.config
        sample_rate = 16000

    def synthesize(self, text: str) -> list[_Chunk]:
        raise RuntimeError("onnx session lost")


async def test_a_synthesis_failure_plays_the_prepared_apology_and_tells_the_policy() -> None:
    apology = np.full(8000, 1000, dtype=np.int16)  # 1 s at the telephone rate
    speaker = PiperSpeaker(_BrokenVoice(), PlaybackTimeline(), SynthesisPace(), apology=apology)
    turn = SpeakFrame(lines=(Line("payment_question", "Did you make this payment?", True),))
    down, up = await run_test(speaker, frames_to_send=[turn, SleepFrame(0.2)])
    played = b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame))
    assert played == apology.tobytes()
    assert [type(f) for f in up] == [SpeechFailedFrame]


def test_the_phrase_cache_keeps_the_most_recently_used() -> None:
    cache = PhraseCache(size=2)
    one, two, three = (np.full(4, i, dtype=np.int16) for i in (1, 2, 3))
    cache.put("Thank you.", one)
    cache.put("Goodbye.", two)
    assert cache.get("Thank you.") is one  # now the most recent
    cache.put("Is that right?", three)
    assert cache.get("Goodbye.") is None  # the least recently used went
    assert cache.get("Thank you.") is one and cache.hits == 2
