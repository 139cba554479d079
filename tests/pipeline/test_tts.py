"""The synthesiser's turn planning: early first audio, never a hole mid-turn."""

import threading

import numpy as np
from pipecat.frames.frames import TTSAudioRawFrame
from pipecat.tests.utils import SleepFrame, run_test

from voicebot.dialog.engine import Line
from voicebot.dialog.prompts import Prompts
from voicebot.pipeline.frames import SpeakFrame, SpeechFailedFrame
from voicebot.pipeline.tts import (
    PhraseCache,
    PiperSpeaker,
    PlaybackTimeline,
    SynthesisPace,
    fixed_pieces,
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


def test_cached_pieces_cost_nothing_to_start_with() -> None:
    # The same busy CPU as above, but every later piece is already made.
    pace = SynthesisPace(rtf=0.5)
    pending = plan_pieces((NOTICE, QUESTION))[1:]
    assert ready_to_start(0.6, pending, pace, cached=lambda _text: True)
    made = {"Before we go on,"}  # only the next one: the long clause after it still is not
    assert not ready_to_start(0.6, pending, pace, cached=made.__contains__)


class _CountingVoice:
    """A voice that makes 0.1 s of sound per call and counts what it was asked."""

    class config:
        sample_rate = 8000

    def __init__(self) -> None:
        self.said: list[str] = []

    def synthesize(self, text: str) -> list[_Chunk]:
        self.said.append(text)
        return [_Chunk(np.full(800, len(self.said), dtype=np.int16))]


def test_warmed_phrases_are_made_once_and_never_pushed_out() -> None:
    voice = _CountingVoice()
    cache = PhraseCache(size=1)
    assert cache.warm(voice, ["Thank you.", "Goodbye."]) == 2
    assert cache.warm(voice, ["Thank you.", "Goodbye."]) == 0  # a second warm-up skips them
    cache.put("A payment of 912 dollars.", np.zeros(4, dtype=np.int16))
    cache.put("A payment of 40 dollars.", np.zeros(4, dtype=np.int16))
    assert cache.get("A payment of 912 dollars.") is None  # the size limits only these
    assert cache.has("Thank you.") and cache.has("Goodbye.")
    assert voice.said == ["Thank you.", "Goodbye."]


def test_a_warm_up_stops_when_asked() -> None:
    voice = _CountingVoice()
    stop = threading.Event()
    stop.set()
    assert PhraseCache().warm(voice, ["Thank you."], stop=stop) == 0
    assert voice.said == []


def test_fixed_pieces_leave_out_what_changes_per_call_and_put_openings_first() -> None:
    prompts = Prompts(
        locale="en-US",
        lines={
            "identity_question": "Am I speaking with {first_name}?",
            "payment_details": "Thank you. We noticed a payment of {amount} at {merchant}.",
            "opening": "Hello, this is {business_name}. How are you today?",
        },
    )
    pieces = fixed_pieces(prompts, {"business_name": "Nova Wallet"})
    assert pieces == ["Hello, this is Nova Wallet.", "Thank you.", "How are you today?"]


async def test_the_likely_next_lines_are_made_while_the_turn_plays() -> None:
    voice = _CountingVoice()
    cache = PhraseCache()
    cache.warm(voice, ["Thank you for confirming."])
    speaker = PiperSpeaker(voice, PlaybackTimeline(), SynthesisPace(), phrases=cache)
    readback = "Just to be sure: you made the payment of 912 dollars at Amazon. Is that right?"
    turn = SpeakFrame(
        lines=(QUESTION,),
        likely_next=("Thank you for confirming. No further action is needed.", readback),
    )
    await run_test(speaker, frames_to_send=[turn, SleepFrame(0.3)])
    # The question, then only the read-back's first sentence: the thanks was made already.
    assert voice.said == [
        "Thank you for confirming.",
        QUESTION.text,
        "Just to be sure: you made the payment of 912 dollars at Amazon.",
    ]
    assert cache.has("Just to be sure: you made the payment of 912 dollars at Amazon.")
