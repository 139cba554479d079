from __future__ import annotations

import pytest

from voicebot.dialog.understanding import YES_NO_KEYPAD, Intent, classify_keypad, classify_yes_no


@pytest.mark.parametrize(
    "text",
    [
        "Yes.",
        "Yeah, that was me",
        "Yes, this is Alice.",
        "Speaking.",
        "Correct",
        "yep, I did",
        "Yes yes, that was me.",
    ],
)
def test_affirmations(text: str) -> None:
    assert classify_yes_no(text, 0.9).intent is Intent.AFFIRM


@pytest.mark.parametrize(
    "text",
    [
        "No.",
        "No, that wasn't me",
        "No, not one to meet",
        "I didn't make it",
        "Nope",
        "Yes... no, wait, I never made that",
        "That's not me",
        "You have the wrong number",
    ],
)
def test_denials_win(text: str) -> None:
    assert classify_yes_no(text, 0.9).intent is Intent.DENY


@pytest.mark.parametrize("text", ["banana", "what?", "hello", ""])
def test_nothing_recognisable(text: str) -> None:
    assert classify_yes_no(text, 0.9).intent is Intent.NONE


def test_keypad() -> None:
    assert classify_keypad("1", YES_NO_KEYPAD).intent is Intent.AFFIRM
    assert classify_keypad("2", YES_NO_KEYPAD).intent is Intent.DENY
    assert classify_keypad("7", YES_NO_KEYPAD).intent is Intent.NONE


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("this is Alice", Intent.AFFIRM),  # Whisper dropped the leading "yes"
        ("Alice here.", Intent.AFFIRM),
        ("It's me.", Intent.AFFIRM),
        ("This is Alice's husband.", Intent.NONE),  # someone else: never the customer
        ("Alice isn't here right now.", Intent.DENY),
        ("Who is this?", Intent.NONE),
    ],
)
def test_identity(text: str, intent: Intent) -> None:
    from voicebot.dialog.understanding import classify_identity

    assert classify_identity(text, 0.8, "Alice").intent is intent
