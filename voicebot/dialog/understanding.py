"""What an answer means to the question asked: intents from the model, values by rule.

Which intent a turn carries (yes, no, not sure, stop calling, a person, later,
say again, a question, no thanks) is decided by the learned classifier in
``voicebot.understanding`` (``Decision``); this module maps that decision onto
the question asked, and reads the values a label cannot carry with rules,
where rules are right: a rating 1-5, a callback time, a comment's text, keys.
Whisper tiny on 8 kHz audio mishears short numbers ("I'd give it a four" as "I
give it up for"), so the rating rules know its sound-alikes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from voicebot.dialog.numbers import UNITS
from voicebot.dialog.times import parse_time
from voicebot.understanding.decision import Decision


class Intent(StrEnum):
    """What an answer means, independent of the words used."""

    AFFIRM = "affirm"
    DENY = "deny"
    UNSURE = "unsure"
    QUESTION = "question"
    RATING = "rating"
    DECLINE = "decline"
    COMMENT = "comment"
    TIME = "time"
    OPT_OUT = "opt_out"
    CALLBACK = "callback"
    REPEAT = "repeat"
    AGENT = "agent"
    NONE = "none"


@dataclass(frozen=True)
class Interpretation:
    """An intent, with the words and the recognition confidence behind it.

    ``value`` carries what the answer said beyond its intent: the rating (int
    1-5), the callback moment (aware datetime in the customer's zone, or None),
    or the comment text.
    """

    intent: Intent
    text: str
    confidence: float
    source: str  # "speech" | "keypad"
    value: Any = None


# The model's labels that are answers in their own right ("other" and "none" are not).
_DECIDED = {
    "affirm": Intent.AFFIRM,
    "deny": Intent.DENY,
    "unsure": Intent.UNSURE,
    "question": Intent.QUESTION,
    "decline": Intent.DECLINE,
}


def normalize(text: str) -> str:
    """Lower-case, unify apostrophes, drop punctuation except apostrophes."""
    text = text.lower().replace("\u2019", "'")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def _speech(intent: Intent, text: str, confidence: float, value: Any = None) -> Interpretation:
    return Interpretation(intent, text, confidence, "speech", value)


# -- yes / no ------------------------------------------------------------------

# What a caller is likely to say, written as a transcript: Whisper's initial
# prompt. Sentence case matters: a lowercase word list ("yes no") makes Whisper
# write lowercase too, and it is 0.1-0.2 less confident of a clear "Yes."
# (measured on the scenario suite's turns, docs/status.md). Bare "Yes. No."
# made it write "Yes. That was me." at 0.72 where "Yes, that was me." scores 0.88.
YES_NO_SPEECH = "Yes, that's right. No, it isn't."
YES_NO_KEYPAD = {"1": Intent.AFFIRM, "2": Intent.DENY}


def from_decision(decision: Decision, text: str, confidence: float) -> Interpretation:
    """A yes/no or identity answer: the model's decision, as the flow's answer names it.

    Anything that is not a yes, a no, doubt, a question or a refusal is no
    answer (``NONE``): the flow asks again, offers the keypad, or hands over.
    """
    intent = _DECIDED.get(decision.intent, Intent.NONE)
    return _speech(intent, text, confidence)


def classify_keypad(digits: str, mapping: dict[str, Intent]) -> Interpretation:
    """A keypad answer: the mapping of the current question, or none."""
    intent = mapping.get(digits[-1:], Intent.NONE) if digits else Intent.NONE
    return Interpretation(intent=intent, text=digits, confidence=1.0, source="keypad")


# -- rating 1-5 ----------------------------------------------------------------

RATING_SPEECH = "One. Two. Three. Four. Five out of five stars."

# Only the numbers someone might say for a rating; others fall through as words.
_NUMBERS = {
    "nought": 0,
    **UNITS,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "hundred": 100,
}
# Words Whisper writes for a short number, trusted only where a rating stands.
# "one" is here too: it is a pronoun far more often than a rating.
# Only where a rating is expected ("give it a ..."): "four" comes back as "for", "fore",
# or, with its end clipped on a phone line, "form" ("I give it a form", seen twice).
_SOUND_ALIKE = {"for": 4, "fore": 4, "form": 4, "to": 2, "too": 2, "won": 1, "one": 1}
# Where a rating stands: "give it a _", "a solid _", "I'd say a _".
_RATING_BEFORE = re.compile(
    r"\b((give|gave|giving|rate|rated|rating|score) (it|you|them|this|that|us|you guys|the app|"
    r"the service|the call) (an? )|(a solid|solid|say an?|maybe an?|probably an?|definitely an?|"
    r"like an?|just an?|only an?|it's an?|its an?|that's an?|thats an?|gets an?|deserves an?|"
    r"rating of|rating is|score of|score is) )$"
)
# "I'd give it four", "I give it up for": a sound-alike at the very end.
_RATING_BEFORE_LAST = re.compile(
    r"\b(give|gave|giving|rate|rated) (it|you|them|this|that|us)( up| an?)? $"
)
_RATING_AFTER = re.compile(r"^ (stars?|points?)\b")
_NOT_A_RATING_AFTER = re.compile(
    r"^ (minutes?|mins?|hours?|days?|weeks?|months?|years?|times|dollars?|bucks|cents?|"
    r"percent|people|kids|calls?|euros?|pounds?)\b"
)
# The scale, repeated back from the question: "on a scale of one to five".
_SCALE = re.compile(
    r"\b((on )?a scale (of|from) (1|one) (to|and) (5|five)|"
    r"(from|between) (1|one) (to|and) (5|five))\b"
)
_RATING_FILLER = re.compile(
    r"\b(um+|uh+|er+|erm|hmm+|well|oh|ok|okay|so|yeah|yes|i'?d say|i guess|maybe|probably|"
    r"a|an|like|just|please|thanks|thank you|number|stars?|rating)\b"
)


def _number(word: str) -> int | None:
    if word.isdigit():
        return int(word)
    return _NUMBERS.get(word)


def _rating_values(words: list[str]) -> set[int] | None:
    """Every number said where a rating could stand; None for a scale other than five.

    Sound-alikes count only where a rating must stand; the "five" of "out of
    five" is the scale, not a rating, and the word before it is one.
    """
    scale: set[int] = set()
    placed_at: set[int] = set()
    for i in range(len(words) - 2):
        if words[i : i + 2] == ["out", "of"]:
            if _number(words[i + 2]) != 5:
                return None  # "eight out of ten": not our scale, ask again
            scale.add(i + 2)
            j = i - 1
            while j >= 0 and words[j] in ("star", "stars", "points"):
                j -= 1
            placed_at.add(j)
    values: set[int] = set()
    alone = _RATING_FILLER.sub(" ", " ".join(words)).split()
    for i, word in enumerate(words):
        if i in scale:
            continue
        before = " ".join(words[:i]) + " "
        after = " " + " ".join(words[i + 1 :])
        if word in _SOUND_ALIKE:
            placed = (
                i in placed_at
                or _RATING_BEFORE.search(before)
                or (i == len(words) - 1 and _RATING_BEFORE_LAST.search(before))
                or _RATING_AFTER.match(after)
                or alone == [word]
            )
            value = _SOUND_ALIKE[word] if placed else None
        else:
            value = _number(word)
        if value is None or _NOT_A_RATING_AFTER.match(after):
            continue
        if re.search(r"\bnot (an? )?$", before):  # "not a five, a four"
            continue
        values.add(value)
    return values


def classify_rating(text: str, confidence: float) -> Interpretation:
    """A 1-5 rating, or none ("three or four", "ten", "4.5": ask again).

    "X out of five" names one rating even though two numbers are said; any
    other pair of different numbers is a question for the customer, not for us.
    """
    if re.search(r"\d[.,]\d", text):
        return _speech(Intent.NONE, text, confidence)
    words = _SCALE.sub(" ", normalize(text.replace("/", " out of ")))
    values = _rating_values(words.split())
    if values is None or "half" in words.split():
        return _speech(Intent.NONE, text, confidence)
    if len(values) == 1:
        (value,) = values
        if 1 <= value <= 5:
            return _speech(Intent.RATING, text, confidence, value)
        return _speech(Intent.NONE, text, confidence)
    return _speech(Intent.NONE, text, confidence)


def classify_rating_keypad(digits: str) -> Interpretation:
    """The last key pressed, 1 to 5, is the rating; any other key means nothing."""
    key = digits[-1:]
    if key in ("1", "2", "3", "4", "5"):
        return Interpretation(Intent.RATING, digits, 1.0, "keypad", int(key))
    return Interpretation(Intent.NONE, digits, 1.0, "keypad")


# -- comment -------------------------------------------------------------------

_HESITATION = re.compile(r"\b(um+|uh+|er+|erm|hmm+|well|oh|so|actually|like)\b")
_CLOSER = re.compile(
    r"\b(thank(s| you)( (very|so) much| a lot)?( for (watching|listening|calling))?|"
    r"much appreciated|bye|goodbye|cheers|"
    r"ok|okay|please)\b"
)
_NOTHING_MORE = re.compile(
    r"^(((i have|i've got|i got|there's|there is) )?(no|nope|nah|none|no comments?|nothing|"
    r"nothing else|nothing more|not really|no thanks|no that's all|all good|i'm good|i'm fine|"
    r"i'm done|that's all|that is all|that's it|that is it|that's everything|that's about it|"
    r"(nothing|no comments?|nothing else|nothing more) (to add|to say|for now|at all))( |$))+$"
)


def classify_comment(text: str, confidence: float) -> Interpretation:
    """Anything said is the comment, except a plain "no", "nothing", "that's all" (deny).

    "Thank you" alone is no comment either: it is what a caller says to close,
    and what Whisper hallucinates over silence (so is "Thanks for watching").
    """
    words = normalize(text)
    if not words:
        return _speech(Intent.NONE, text, confidence)
    closed = _CLOSER.search(words) is not None
    rest = " ".join(_CLOSER.sub(" ", _HESITATION.sub(" ", words)).split())
    if not rest:
        return _speech(Intent.DENY if closed else Intent.NONE, text, confidence)
    if _NOTHING_MORE.match(rest):
        return _speech(Intent.DENY, text, confidence)
    return _speech(Intent.COMMENT, text, confidence, text.strip())


# -- callback time -------------------------------------------------------------

TIME_SPEECH = (
    "Tomorrow morning. Tonight at half past seven. This afternoon at five o'clock. In two hours."
)


def classify_time(text: str, confidence: float, now: datetime) -> Interpretation:
    """ "When should we call back?": a moment in ``now``'s zone, or none."""
    moment = parse_time(text, now)
    if moment is None:
        return _speech(Intent.NONE, text, confidence)
    return _speech(Intent.TIME, text, confidence, moment)


# -- requests that apply whatever was asked ------------------------------------

REQUESTS = frozenset({"opt_out", "agent", "callback", "repeat"})


def request_from(
    decision: Decision, text: str, confidence: float, now: datetime
) -> Interpretation | None:
    """An ``anywhere`` request (opt-out, a person, call later, say again), or None.

    A callback carries the moment said with it ("call me tomorrow at 5"), if
    any; an opt-out carries its scope: the purpose named ("no more surveys":
    ``feedback``), or None for every purpose.
    """
    if decision.intent not in REQUESTS:
        return None
    intent = Intent(decision.intent)
    if intent is Intent.CALLBACK:
        return _speech(intent, text, confidence, parse_time(text, now))
    if intent is Intent.OPT_OUT:
        return _speech(intent, text, confidence, decision.scope)
    return _speech(intent, text, confidence)
