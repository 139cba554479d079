"""The dialog policy stage with fake sinks: ordering and fallbacks that a call cannot show.

Whole calls (tests/e2e) prove the outcomes; these pin what must happen in
which order inside the stage: an opt-out stored before its goodbye is queued,
an LLM consulted only when the offline classifier understood nothing, an
error turned into an apology.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    EndWorkerFrame,
    Frame,
    InputDTMFFrame,
    InterruptionFrame,
)
from pipecat.tests.utils import SleepFrame, run_test

from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.config import REPO_ROOT
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.flows import load_flow
from voicebot.dialog.prompts import load_prompts
from voicebot.pipeline.frames import (
    CallerResumedFrame,
    HeardFrame,
    RecognitionFailedFrame,
    SpeakFrame,
    SpeechFailedFrame,
)
from voicebot.pipeline.policy import (
    KEYPAD_BURST_GAP_S,
    KEYPAD_HOLD_S,
    KEYPAD_REDACTED,
    DialogPolicy,
)
from voicebot.pipeline.session import CallSession
from voicebot.pipeline.tts import PlaybackTimeline

VALUES = {
    "business_name": "Nova Wallet",
    "first_name": "Alice",
    "amount": "912 dollars",
    "merchant": "Amazon",
    "when": "yesterday at 6:03 AM",
    "callback_number": "1 8 0 0",
}


class FakeAssistant:
    """Answers a fixed label; records what it was asked."""

    def __init__(self, label: str | None) -> None:
        self.label = label
        self.asked: list[dict[str, Any]] = []

    async def classify(
        self, *, question: str, answer: str, allowed: Sequence[str], locale: str = "en-US"
    ) -> str | None:
        self.asked.append({"question": question, "answer": answer, "allowed": list(allowed)})
        return self.label


class Harness:
    """One policy, its session, and everything its sinks saw, in order."""

    def __init__(self, assistant: FakeAssistant | None = None, fail_events: bool = False) -> None:
        prompts = load_prompts(REPO_ROOT / "prompts", "en-US")
        flow = load_flow(REPO_ROOT / "dialogs", "transaction_confirmation", prompts.keys())
        self.engine = DialogEngine(flow, prompts, dict(VALUES), clock=lambda: datetime.now(UTC))
        context = CallContext(
            purpose="transaction_confirmation",
            customer=Customer(first_name="Alice", phone="+14155550100"),
            transaction=Transaction(
                id="tx_1", amount="912.00", merchant="Amazon", time=datetime.now(UTC)
            ),
        )
        self.session = CallSession(
            call_id="call_1", call_sid="CA1", stream_sid="MZ1", context=context
        )
        self.log: list[str] = []
        self.fail_events = fail_events

        async def on_outcome(s: CallSession) -> None:
            self.log.append(f"outcome:{s.outcome}")

        async def on_opt_out(s: CallSession) -> None:
            self.log.append("opt_out_stored")

        async def on_event(event: dict[str, Any]) -> None:
            if self.fail_events and event.get("type") == "heard":
                raise RuntimeError("event bus down")
            self.log.append(f"{event['type']}:{event.get('key', '')}")

        self.policy = DialogPolicy(
            engine=self.engine,
            session=self.session,
            timeline=PlaybackTimeline(),
            on_outcome=on_outcome,
            on_opt_out=on_opt_out,
            on_event=on_event,
            silence_timeout_s=30.0,
            voicemail_wait_s=30.0,
            fallback_text="Sorry, something went wrong.",
            assistant=assistant,
        )

    async def run(self, *frames: Frame) -> list[Frame]:
        down, _up = await run_test(self.policy, frames_to_send=list(frames), send_end_frame=True)
        return list(down)


def heard(text: str, confidence: float = 0.9) -> list[Frame]:
    return [HeardFrame(text=text, confidence=confidence), SleepFrame(0.05)]


def spoken_keys(frames: list[Frame]) -> list[str]:
    return [line.key for f in frames if isinstance(f, SpeakFrame) for line in f.lines]


async def test_opt_out_is_stored_before_its_goodbye_is_queued() -> None:
    h = Harness()
    frames = await h.run(*heard("Please stop calling me."))
    assert "opt_out_confirmed" in spoken_keys(frames)
    assert h.log.index("opt_out_stored") < h.log.index("bot:opt_out_confirmed")
    assert h.session.outcome == "opted_out"


async def test_llm_is_asked_only_when_nothing_was_understood() -> None:
    assistant = FakeAssistant("deny")
    h = Harness(assistant)
    await h.run(*heard("Yes, this is Alice."), *heard("purple elephant"))
    assert len(assistant.asked) == 1  # not for the clear "yes"
    assert assistant.asked[0]["answer"] == "purple elephant"
    assert "deny" in assistant.asked[0]["allowed"] and "rating" not in assistant.asked[0]["allowed"]
    assert h.session.outcome == "denied"
    assert h.session.evidence is not None and h.session.evidence["source"] == "speech+llm"


async def test_llm_label_outside_the_state_is_ignored() -> None:
    h = Harness(FakeAssistant("rating"))
    frames = await h.run(*heard("Yes, this is Alice."), *heard("purple elephant"))
    assert not h.engine.finished
    assert spoken_keys(frames)[-2:] == ["sorry_didnt_catch", "payment_reprompt"]


async def test_a_secret_mid_turn_cuts_in_with_the_warning() -> None:
    h = Harness()
    partial = HeardFrame(
        text="my seed phrase is [redacted seed_phrase]", secrets=("seed_phrase",), partial=True
    )
    final = HeardFrame(text="my seed phrase is [redacted seed_phrase]", secrets=("seed_phrase",))
    frames = await h.run(
        *heard("Yes, this is Alice."), partial, SleepFrame(0.05), final, SleepFrame(0.05)
    )
    keys = spoken_keys(frames)
    assert keys.count("secret_warning") == 1  # the final frame of the same turn does not warn again
    assert any(isinstance(f, InterruptionFrame) for f in frames)
    assert not h.engine.finished and keys[-1] == "payment_reprompt"


async def test_an_error_becomes_an_apology_and_an_escalation() -> None:
    h = Harness()

    def broken(_heard: object) -> None:
        raise RuntimeError("dialog bug")

    h.engine.act = broken  # type: ignore[method-assign,assignment]
    frames = await h.run(*heard("Yes, this is Alice."))
    assert spoken_keys(frames)[-1] == "technical_apology"
    assert (h.session.outcome, h.session.escalated) == ("escalated", True)
    assert h.session.failure is not None and "dialog bug" in h.session.failure


async def test_live_events_failing_never_hold_up_or_break_the_call() -> None:
    h = Harness(fail_events=True)
    frames = await h.run(*heard("Yes, this is Alice."))
    keys = spoken_keys(frames)
    assert "payment_question" in keys and "technical_apology" not in keys
    assert h.session.outcome is None  # the call goes on


async def test_a_clear_answer_heard_in_a_pause_is_answered_once() -> None:
    h = Harness()
    early = HeardFrame(text="yes this is Alice", confidence=0.9, speculative=True, turn=1)
    final = HeardFrame(text="yes this is Alice", confidence=0.9, turn=1, same_as_speculative=True)
    frames = await h.run(early, SleepFrame(0.05), final, SleepFrame(0.05))
    keys = spoken_keys(frames)
    assert keys.count("payment_question") == 1
    assert [t.text for t in h.session.turns if t.speaker == "caller"] == ["yes this is Alice"]


async def test_words_said_after_an_early_answer_still_count() -> None:
    h = Harness()
    early = HeardFrame(text="yes this is Alice", confidence=0.9, speculative=True, turn=1)
    final = HeardFrame(text="yes this is Alice, can I talk to a person?", confidence=0.9, turn=1)
    frames = await h.run(early, SleepFrame(0.05), final, SleepFrame(0.05))
    assert h.session.escalated  # the request for a person, said after the pause
    assert "payment_question" in spoken_keys(frames)


async def test_an_unfinished_answer_in_a_pause_waits_for_the_turn_to_end() -> None:
    h = Harness()
    early = HeardFrame(text="well I", confidence=0.9, speculative=True, turn=1)
    frames = await h.run(early, SleepFrame(0.05))
    assert "payment_question" not in spoken_keys(frames)
    assert h.engine.state.name == "identify"


async def test_any_words_are_answered_in_a_pause_when_the_caller_sounds_finished() -> None:
    h = Harness()
    early = HeardFrame(
        text="I want to talk to a real person",
        confidence=0.9,
        speculative=True,
        turn=1,
        finished_probability=0.9,
    )
    final = replace(early, speculative=False, same_as_speculative=True)
    frames = await h.run(early, SleepFrame(0.05))
    assert "connecting_to_specialist" in spoken_keys(frames)
    assert h.session.outcome is None  # said at once, but decided only when the turn ends
    h = Harness()
    await h.run(early, SleepFrame(0.05), final, SleepFrame(0.05))
    assert h.session.escalated


def at_payment(h: Harness) -> list[Frame]:
    return heard("Yes, this is Alice.")


async def test_an_early_yes_is_kept_when_the_turn_ends_on_it() -> None:
    h = Harness()
    early = HeardFrame(text="Yes, that was me.", confidence=0.9, speculative=True, turn=2)
    final = replace(early, speculative=False, same_as_speculative=True)
    frames = await h.run(*at_payment(h), early, SleepFrame(0.05), final, SleepFrame(0.05))
    assert h.session.outcome == "confirmed"
    assert any(isinstance(f, EndWorkerFrame) for f in frames)


async def test_an_early_yes_is_withdrawn_when_the_caller_goes_on_to_ask_for_a_person() -> None:
    """No outcome is decided on words from a turn the caller is still speaking."""
    h = Harness()
    early = HeardFrame(text="Yes, that was me.", confidence=0.9, speculative=True, turn=2)
    final = HeardFrame(
        text="Yes, that was me. Actually, can I talk to a real person?", confidence=0.9, turn=2
    )
    frames = await h.run(
        *at_payment(h),
        early,
        SleepFrame(0.05),
        CallerResumedFrame(turn=2),
        SleepFrame(0.05),
        final,
        SleepFrame(0.05),
    )
    assert h.session.outcome == "escalated"
    assert "outcome:confirmed" not in h.log
    assert spoken_keys(frames).count("connecting_to_specialist") == 1


async def test_a_pause_in_im_driving_right_now_never_confirms_the_payment() -> None:
    """The first case of the understanding issue, as a timeline: the caller pauses, goes on."""
    h = Harness()
    early = HeardFrame(
        text="I'm driving right now.",
        confidence=0.9,
        speculative=True,
        turn=2,
        finished_probability=0.9,
    )
    final = HeardFrame(
        text="I'm driving right now. Can you call me back tomorrow morning?",
        confidence=0.9,
        turn=2,
    )
    await h.run(
        *at_payment(h),
        early,
        SleepFrame(0.05),
        CallerResumedFrame(turn=2),
        SleepFrame(0.05),
        final,
        SleepFrame(0.05),
    )
    assert h.session.outcome == "callback_requested"
    assert "outcome:confirmed" not in h.log


async def test_an_early_answer_stands_when_the_final_words_never_come() -> None:
    h = Harness()
    early = HeardFrame(text="Yes, that was me.", confidence=0.9, speculative=True, turn=2)
    frames = await h.run(
        *at_payment(h), early, SleepFrame(0.05), BotStoppedSpeakingFrame(), SleepFrame(0.05)
    )
    assert h.session.outcome == "confirmed"
    assert any(isinstance(f, EndWorkerFrame) for f in frames)


async def test_other_words_wait_if_the_caller_does_not_sound_finished() -> None:
    h = Harness()
    words = HeardFrame(text="I want to talk to a real person", speculative=True, turn=1)
    judged = replace(words, finished_probability=0.2)
    await h.run(words, SleepFrame(0.05), judged, SleepFrame(0.05))
    assert not h.session.escalated


async def test_a_full_answer_is_taken_whatever_the_turn_model_says() -> None:
    """smart-turn scores "Yes, that was me." as low as 0.06 on these voices."""
    h = Harness()
    early = HeardFrame(
        text="Yes, this is Alice.",
        confidence=0.9,
        speculative=True,
        turn=1,
        finished_probability=0.06,
    )
    frames = await h.run(early, SleepFrame(0.05))
    assert "payment_question" in spoken_keys(frames)


async def test_words_whisper_is_unsure_of_wait_for_the_turn_to_end() -> None:
    """A guess at 0.51 can read differently after the pause ("But never pancakes.")."""
    h = Harness()
    words = HeardFrame(text="No.", confidence=0.51, speculative=True, turn=1)
    judged = replace(words, finished_probability=0.95)
    frames = await h.run(words, SleepFrame(0.05), judged, SleepFrame(0.05))
    assert spoken_keys(frames) == ["opening", "identity_question"]  # nothing more yet
    assert h.engine.state.name == "identify"
    sure = Harness()
    await sure.run(replace(words, confidence=0.9), SleepFrame(0.05))
    assert sure.engine.state.name != "identify"


async def test_a_synthesis_failure_ends_the_call_as_an_escalation() -> None:
    h = Harness()
    frames = await h.run(*heard("Yes, this is Alice."), SpeechFailedFrame(error="boom"))
    assert (h.session.outcome, h.session.escalated) == ("escalated", True)
    assert h.session.failure == "speech synthesis: boom"
    assert any(isinstance(f, EndWorkerFrame) for f in frames)


async def test_a_turn_that_could_not_be_recognised_is_apologised_for_and_escalated() -> None:
    h = Harness()
    frames = await h.run(*heard("Yes, this is Alice."), RecognitionFailedFrame(error="timed out"))
    assert (h.session.outcome, h.session.escalated) == ("escalated", True)
    assert h.session.failure == "speech recognition: timed out"
    spoken = [line.key for f in frames if isinstance(f, SpeakFrame) for line in f.lines]
    assert spoken[-1] == "technical_apology"
    assert any(isinstance(f, EndWorkerFrame) for f in frames)


def key(digit: str, then_s: float = 0.1) -> list[Frame]:
    return [InputDTMFFrame(KeypadEntry(digit)), SleepFrame(then_s)]


async def test_a_key_is_answered_once_its_hold_is_over() -> None:
    h = Harness()
    frames = await h.run(*key("1", then_s=KEYPAD_HOLD_S + 0.3))
    assert "payment_question" in spoken_keys(frames)  # 1: "yes, this is me"
    assert [(t.text, t.source) for t in h.session.turns if t.speaker == "caller"] == [
        ("1", "keypad")
    ]


async def test_a_pin_typed_on_the_keypad_answers_nothing_and_is_never_recorded() -> None:
    h = Harness()
    pin = [frame for digit in "1234" for frame in key(digit)]
    frames = await h.run(*pin, *key("5", then_s=KEYPAD_HOLD_S + 0.3))
    keys = spoken_keys(frames)
    assert keys.count("secret_warning") == 1
    assert "payment_question" not in keys and h.engine.state.name == "identify"
    caller = [t for t in h.session.turns if t.speaker == "caller"]
    assert [t.text for t in caller] == [KEYPAD_REDACTED] * 5
    assert h.log.count("pressed:") == 5  # live events say a key was pressed, never which


async def test_keys_pressed_apart_are_separate_answers() -> None:
    h = Harness()
    gap = max(KEYPAD_BURST_GAP_S, KEYPAD_HOLD_S) + 0.2
    await h.run(*key("1", then_s=gap), *key("1", then_s=gap))
    assert h.session.outcome == "confirmed"
    assert [t.text for t in h.session.turns if t.speaker == "caller"] == ["1", "1"]
