"""Offline understanding of short answers, robust to telephone-grade Whisper.

Whisper tiny on 8 kHz audio mishears short answers ("No, that wasn't me" came
back as "No, not one to meet"), so matching is by key words anywhere in the
utterance, and a denial always wins over an affirmation: doubt must never turn
into "confirmed".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Intent(StrEnum):
    """What an answer means, independent of the words used."""

    AFFIRM = "affirm"
    DENY = "deny"
    NONE = "none"


@dataclass(frozen=True)
class Interpretation:
    """An intent, with the words and the recognition confidence behind it."""

    intent: Intent
    text: str
    confidence: float
    source: str  # "speech" | "keypad"


_DENY = re.compile(r"\b(no|nope|nah|not|never|didn'?t|wasn'?t|isn'?t|don'?t|wrong)\b")
_AFFIRM = re.compile(
    r"\b(yes|yeah|yep|yup|ya|yah|sure|correct|right|speaking|absolutely|definitely|"
    r"certainly|indeed|affirmative|okay|ok|it was me|that was me|i did|i made it)\b"
)

# Hotwords that nudge Whisper toward the answers a yes/no question expects.
YES_NO_HOTWORDS = "yes no"
YES_NO_KEYPAD = {"1": Intent.AFFIRM, "2": Intent.DENY}


def normalize(text: str) -> str:
    """Lower-case, unify apostrophes, drop punctuation except apostrophes."""
    text = text.lower().replace("\u2019", "'")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def classify_yes_no(text: str, confidence: float) -> Interpretation:
    """Affirm, deny or none; a denial anywhere beats an affirmation."""
    words = normalize(text)
    if _DENY.search(words):
        intent = Intent.DENY
    elif _AFFIRM.search(words):
        intent = Intent.AFFIRM
    else:
        intent = Intent.NONE
    return Interpretation(intent=intent, text=text, confidence=confidence, source="speech")


_IDENTITY = re.compile(r"\b(it'?s me|this is me|that'?s me|that is me|me speaking|you got me)\b")


def classify_identity(text: str, confidence: float, first_name: str) -> Interpretation:
    """ "Am I speaking with Alice?": like yes/no, and hearing the name itself counts as yes.

    Whisper often drops a short leading "yes" ("Yes, this is Alice" -> "this is
    Alice"), so "Alice here" or "it's me" must be enough; any denial still wins.
    """
    heard = classify_yes_no(text, confidence)
    if heard.intent is not Intent.NONE:
        return heard
    words = normalize(text)
    name = normalize(first_name)
    if (name and re.search(rf"\b{re.escape(name)}\b(?!'s)", words)) or _IDENTITY.search(words):
        return Interpretation(Intent.AFFIRM, text, confidence, "speech")
    return heard


def classify_keypad(digits: str, mapping: dict[str, Intent]) -> Interpretation:
    """A keypad answer: the mapping of the current question, or none."""
    intent = mapping.get(digits[-1:], Intent.NONE) if digits else Intent.NONE
    return Interpretation(intent=intent, text=digits, confidence=1.0, source="keypad")
