"""The dialog engine decides every outcome: each branch of both flows, as data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from voicebot.config import REPO_ROOT
from voicebot.dialog.engine import EXPECTATIONS, DialogEngine, Reply
from voicebot.dialog.flows import EXPECTS, load_flow
from voicebot.dialog.prompts import load_prompts
from voicebot.dialog.understanding import Intent, Interpretation

# Saturday 2026-11-21, 10:00 in Los Angeles.
NOW = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)

VALUES = {
    "business_name": "Nova Wallet",
    "first_name": "Alice",
    "amount": "912 dollars and 40 cents",
    "merchant": "Amazon",
    "when": "yesterday at 6:03 AM",
    "callback_number": "1 8 0 0",
}


def make_engine(purpose: str) -> DialogEngine:
    prompts = load_prompts(REPO_ROOT / "prompts", "en-US")
    flow = load_flow(REPO_ROOT / "dialogs", purpose, prompts.keys())
    return DialogEngine(
        flow, prompts, dict(VALUES), timezone="America/Los_Angeles", clock=lambda: NOW
    )


@pytest.fixture
def engine() -> DialogEngine:
    return make_engine("transaction_confirmation")


@pytest.fixture
def feedback() -> DialogEngine:
    engine = make_engine("feedback")
    engine.start()
    engine.hear("Yes, this is Alice.", 0.9)
    return engine


def said(reply: Reply | None) -> str:
    assert reply is not None
    return " ".join(line.text for line in reply.lines)


def at_payment_question(engine: DialogEngine) -> DialogEngine:
    engine.start()
    engine.hear("Yes, this is Alice.", 0.9)
    assert engine.state.name == "read_payment"
    return engine


def test_every_expectation_the_flows_know_is_implemented() -> None:
    assert set(EXPECTATIONS) == set(EXPECTS)


def test_opening_says_no_payment_detail_before_the_identity_check(engine: DialogEngine) -> None:
    opening = engine.start()
    text = said(opening)
    assert "Nova Wallet" in text and "automated assistant" in text and "Alice" in text
    assert "912" not in text and "Amazon" not in text
    assert opening.lines[0].interruptible is False  # the disclosure is heard whole


def test_yes_then_yes_is_confirmed_with_evidence(engine: DialogEngine) -> None:
    engine.start()
    details = engine.hear("Yes, this is Alice.", 0.9)
    assert details is not None and "912 dollars and 40 cents" in said(details)
    assert "never ask you for your PIN" in said(details)
    final = engine.hear("Yes, that was me.", 0.8)
    assert final is not None and final.ends_call
    assert (engine.outcome, engine.escalated) == ("confirmed", False)
    assert engine.evidence is not None
    assert engine.evidence.state == "read_payment" and engine.evidence.source == "speech"


def test_no_is_denied_and_escalated(engine: DialogEngine) -> None:
    engine.start()
    engine.hear("yes", 0.9)
    engine.hear("No, not one to meet", 0.6)  # how Whisper hears "No, that wasn't me"
    assert (engine.outcome, engine.escalated) == ("denied", True)


def test_wrong_person_hears_no_detail(engine: DialogEngine) -> None:
    engine.start()
    reply = engine.hear("No, wrong number.", 0.9)
    assert reply is not None and engine.outcome == "wrong_person"
    assert "912" not in said(reply) and "Amazon" not in said(reply)


def test_keypad_answers(engine: DialogEngine) -> None:
    engine.start()
    engine.keypad("1")
    engine.keypad("2")
    assert engine.outcome == "denied"
    assert engine.evidence is not None and engine.evidence.source == "keypad"


def test_not_understood_twice_offers_keypad_then_escalates(engine: DialogEngine) -> None:
    engine.start()
    first = engine.hear("banana", 0.5)
    second = engine.hear("purple", 0.5)
    assert first is not None and not first.ends_call
    assert second is not None and "Press 1 for yes" in said(second)
    third = engine.hear("tomato", 0.5)
    assert third is not None and third.ends_call
    assert (engine.outcome, engine.escalated) == ("escalated", True)


def test_silence_reprompts_then_gives_up(engine: DialogEngine) -> None:
    engine.start()
    assert "still there" in said(engine.silence())
    assert "Press 1" in said(engine.silence())
    engine.silence()
    assert engine.outcome == "no_response"


def test_empty_speech_is_not_an_answer(engine: DialogEngine) -> None:
    engine.start()
    assert engine.hear("   ", 0.0) is None
    assert engine.outcome is None


def test_end_with_does_not_override_a_decided_outcome(engine: DialogEngine) -> None:
    engine.start()
    engine.keypad("1")
    engine.keypad("1")
    engine.end_with("hung_up", escalate=False)
    assert engine.outcome == "confirmed"


def test_not_sure_is_unsure_and_escalated_never_confirmed(engine: DialogEngine) -> None:
    at_payment_question(engine)
    engine.hear("Maybe my wife did it, I'm not sure.", 0.9)
    assert (engine.outcome, engine.escalated) == ("unsure", True)


def test_low_confidence_yes_is_read_back_before_it_counts(engine: DialogEngine) -> None:
    at_payment_question(engine)
    readback = engine.hear("yes", 0.5)
    assert not engine.finished
    assert "Just to be sure" in said(readback) and "912 dollars" in said(readback)
    engine.hear("Yes, that's right.", 0.5)
    assert engine.outcome == "confirmed"
    assert engine.evidence is not None and engine.evidence.read_back


def test_no_to_a_read_back_asks_again_and_never_confirms(engine: DialogEngine) -> None:
    at_payment_question(engine)
    engine.hear("yes", 0.5)
    again = engine.hear("No, that's not right.", 0.9)
    assert not engine.finished and "Did you make the payment" in said(again)
    engine.hear("No.", 0.9)
    assert engine.outcome == "denied"


def test_an_llm_yes_is_always_read_back(engine: DialogEngine) -> None:
    at_payment_question(engine)
    reply = engine.act(Interpretation(Intent.AFFIRM, "guess it was", 0.95, "speech+llm"))
    assert not engine.finished and "Just to be sure" in said(reply)


def test_stop_calling_me_opts_out_in_any_state(engine: DialogEngine) -> None:
    engine.start()
    reply = engine.hear("Stop calling me.", 0.9)
    assert reply is not None and reply.outcome == "opted_out"
    assert "will not call you again" in said(reply)
    assert engine.outcome == "opted_out" and engine.evidence is not None
    assert engine.evidence.state == "identify"


def test_asking_for_a_person_escalates(engine: DialogEngine) -> None:
    at_payment_question(engine)
    engine.hear("I want to talk to a real person.", 0.9)
    assert (engine.outcome, engine.escalated) == ("escalated", True)


def test_repeat_says_the_question_again_without_the_disclosure(engine: DialogEngine) -> None:
    at_payment_question(engine)
    again = engine.hear("Sorry, what was the amount?", 0.9)
    assert "912 dollars" in said(again) and "never ask" not in said(again)
    assert not engine.finished and engine.state.name == "read_payment"


def test_callback_with_a_time_is_scheduled_in_the_customers_zone(engine: DialogEngine) -> None:
    at_payment_question(engine)
    reply = engine.hear("I'm busy, can you call me back tomorrow at 5 pm?", 0.9)
    assert engine.outcome == "callback_requested"
    assert engine.fields["callback_at"] == "2026-11-22T17:00:00-08:00"
    assert "tomorrow at 5:00 PM" in said(reply)


def test_callback_without_a_time_asks_when(engine: DialogEngine) -> None:
    at_payment_question(engine)
    ask = engine.hear("Can you call me later?", 0.9)
    assert not engine.finished and "good time" in said(ask)
    engine.hear("Tomorrow morning.", 0.9)
    assert engine.outcome == "callback_requested"
    assert engine.fields["callback_at"].startswith("2026-11-22T10:00")


def test_callback_time_not_understood_still_ends_as_a_callback(engine: DialogEngine) -> None:
    at_payment_question(engine)
    engine.hear("Call me later.", 0.9)
    engine.hear("mumble mumble", 0.3)
    engine.hear("mumble", 0.3)
    assert engine.outcome == "callback_requested" and "callback_at" not in engine.fields


def test_secret_warning_is_a_disclosure_then_the_question_again(engine: DialogEngine) -> None:
    at_payment_question(engine)
    reply = engine.secret()
    assert reply is not None
    assert reply.lines[0].key == "secret_warning" and not reply.lines[0].interruptible
    assert reply.lines[-1].key == "payment_reprompt" and reply.lines[-1].interruptible
    assert not engine.finished


def test_voicemail_leaves_no_transaction_detail(engine: DialogEngine) -> None:
    reply = engine.voicemail()
    text = said(reply)
    assert engine.outcome == "voicemail_left"
    assert "Nova Wallet" in text and "1 8 0 0" in text
    assert "912" not in text and "Amazon" not in text and "Alice" not in text


def test_llm_labels_exclude_answers_that_carry_values(feedback: DialogEngine) -> None:
    assert feedback.allowed_intents() == ["decline", "opt_out", "agent", "callback", "repeat"]


def test_feedback_rating_in_words_then_a_comment(feedback: DialogEngine) -> None:
    feedback.hear("I'd give it a four.", 0.8)
    assert feedback.state.name == "ask_comment"
    feedback.hear("The agent was quick and friendly.", 0.8)
    assert feedback.outcome == "feedback_collected"
    assert feedback.fields == {"rating": 4, "comment": "The agent was quick and friendly."}


def test_feedback_rating_on_the_keypad_and_no_comment(feedback: DialogEngine) -> None:
    feedback.keypad("5")
    feedback.hear("No, that's all.", 0.9)
    assert feedback.outcome == "feedback_collected" and feedback.fields == {"rating": 5}


def test_feedback_silence_on_the_comment_means_no_comment(feedback: DialogEngine) -> None:
    feedback.hear("three out of five", 0.8)
    feedback.silence()
    assert feedback.outcome == "feedback_collected" and feedback.fields == {"rating": 3}


def test_feedback_declined(feedback: DialogEngine) -> None:
    feedback.hear("Sorry, I don't have time for this.", 0.9)
    assert feedback.outcome == "declined"


def test_feedback_out_of_range_rating_is_asked_again(feedback: DialogEngine) -> None:
    again = feedback.hear("ten", 0.9)
    assert not feedback.finished and "1 to 5" in said(again)


def test_noise_turned_into_words_answers_nothing(engine: DialogEngine) -> None:
    at_payment_question(engine)
    again = engine.hear("but no no pancakes", 0.31)  # "Banana pancakes", as Whisper heard it
    assert not engine.finished and "didn't catch" in said(again)


def test_every_question_biases_recognition_toward_an_opt_out(engine: DialogEngine) -> None:
    # Whisper heard "Please stop calling me" as "please start calling me" without it.
    assert engine.start().expected_speech.endswith("Please stop calling me.")


def test_only_a_short_clear_answer_may_end_a_turn_early(engine: DialogEngine) -> None:
    engine.start()
    clear = engine.understand("Yes, this is Alice.", 0.9)
    assert engine.complete_answer(clear)
    rambling = "yes this is Alice but I wanted to ask you something"
    assert not engine.complete_answer(engine.understand(rambling, 0.9))
    assert not engine.complete_answer(engine.understand("Stop calling me.", 0.9))  # a request
    assert not engine.complete_answer(engine.understand("banana pancakes", 0.9))
    engine.hear("Yes, this is Alice.", 0.9)
    assert engine.state.name == "read_payment"
    assert engine.complete_answer(engine.understand("No, that wasn't me.", 0.9))
    assert not engine.complete_answer(engine.understand("Yes.", 0.5))  # it would be read back


def test_open_questions_never_end_a_turn_early(feedback: DialogEngine) -> None:
    assert feedback.complete_answer(feedback.understand("Five.", 0.9))  # the rating
    feedback.hear("Five.", 0.9)
    assert feedback.state.name == "ask_comment"
    assert not feedback.complete_answer(feedback.understand("No.", 0.9))
    assert not feedback.complete_answer(feedback.understand("It was fine.", 0.9))


def test_the_likely_next_lines_include_the_read_back_with_this_calls_values(
    engine: DialogEngine,
) -> None:
    opening = engine.start()
    assert opening.likely_next == engine.likely_next()
    assert "Am I speaking with Alice? Please say yes or no." in opening.likely_next  # reprompt
    asked = engine.hear("Yes, this is Alice.", 0.9)
    assert asked is not None
    texts = asked.likely_next
    assert any(t.startswith("Just to be sure: you made the payment of 912 dollars") for t in texts)
    assert any(t.startswith("Thank you for confirming.") for t in texts)
    assert "Of course. When would be a good time to call you back?" in texts  # "call me later"
    # "When?": the confirmation needs the time the caller is about to say.
    when = engine.hear("Can you call me later?", 0.9)
    assert when is not None and engine.state.name == "callback_when"
    callbacks = [t for t in when.likely_next if t.startswith("Thank you. We will call you back")]
    assert callbacks == ["Thank you. We will call you back later."]  # the unscheduled one


def test_a_finished_call_has_nothing_next(engine: DialogEngine) -> None:
    at_payment_question(engine)
    reply = engine.hear("Yes, that was me.", 0.95)
    assert reply is not None and reply.ends_call
    assert reply.likely_next == () and engine.likely_next() == ()


def test_a_scoped_opt_out_is_said_back_in_its_words(feedback: DialogEngine) -> None:
    reply = feedback.hear("Don't call me for surveys ever again.", 0.95)
    assert reply is not None and reply.outcome == "opted_out"
    assert reply.lines[0].key == "opt_out_confirmed_feedback"
    assert "surveys or feedback" in said(reply)
    assert feedback.fields["opt_out_scope"] == "feedback"


def test_an_unscoped_opt_out_covers_every_purpose(engine: DialogEngine) -> None:
    at_payment_question(engine)
    reply = engine.hear("Please stop calling me.", 0.95)
    assert reply is not None and reply.lines[0].key == "opt_out_confirmed"
    assert engine.fields["opt_out_scope"] == "all"


def test_a_question_back_is_answered_then_the_question_asked_again(engine: DialogEngine) -> None:
    at_payment_question(engine)
    reply = engine.hear("Is this a scam?", 0.9)
    keys = [line.key for line in (reply.lines if reply else ())]
    assert keys == ["question_deflect", "payment_reprompt"]
    assert not engine.finished


def test_three_questions_back_hand_over_to_a_person(engine: DialogEngine) -> None:
    at_payment_question(engine)
    for text in ("Is this a scam?", "Why are you calling me?", "How did you get my number?"):
        reply = engine.hear(text, 0.9)
    assert reply is not None and engine.outcome == "escalated" and engine.escalated


def test_say_that_again_twice_repeats_a_third_time_counts_as_not_understood(
    engine: DialogEngine,
) -> None:
    at_payment_question(engine)
    first = engine.hear("Sorry, how much was it again?", 0.9)
    second = engine.hear("What was the amount?", 0.9)
    third = engine.hear("Say that again?", 0.9)
    assert first is not None and "912 dollars" in said(first)
    assert second is not None and "912 dollars" in said(second)
    assert third is not None and third.lines[0].key == "sorry_didnt_catch"


def test_an_answer_withdrawn_before_it_counted_leaves_no_trace(engine: DialogEngine) -> None:
    at_payment_question(engine)
    before = engine.snapshot()
    engine.hear("Yes, that was me.", 0.95)
    assert engine.outcome == "confirmed"
    engine.restore(before)
    assert (engine.outcome, engine.evidence, engine.state.name) == (None, None, "read_payment")
