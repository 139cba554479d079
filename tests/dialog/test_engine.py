"""The dialog engine decides every outcome: each branch of the confirmation flow."""

from __future__ import annotations

import pytest

from voicebot.config import REPO_ROOT
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.flows import load_flow
from voicebot.dialog.prompts import load_prompts

VALUES = {
    "business_name": "Nova Wallet",
    "first_name": "Alice",
    "amount": "912 dollars and 40 cents",
    "merchant": "Amazon",
    "when": "yesterday at 6:03 AM",
    "callback_number": "1 8 0 0",
}


@pytest.fixture
def engine() -> DialogEngine:
    prompts = load_prompts(REPO_ROOT / "prompts", "en-US")
    flow = load_flow(REPO_ROOT / "dialogs", "transaction_confirmation", prompts.keys())
    return DialogEngine(flow, prompts, dict(VALUES))


def said(reply: object) -> str:
    return " ".join(line.text for line in reply.lines)  # type: ignore[attr-defined]


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
