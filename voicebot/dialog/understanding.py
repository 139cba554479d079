"""Offline understanding of short answers, robust to telephone-grade Whisper.

Whisper tiny on 8 kHz audio mishears short answers ("No, that wasn't me" came
back as "No, not one to meet"; "I'd give it a four" as "I give it up for"), so
matching is by key words anywhere in the utterance, and caution always wins:
doubt beats a denial, a denial beats an affirmation, and doubt must never turn
into "confirmed". Plain regular expressions, no model: every decision can be
read here and is tested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from voicebot.dialog.numbers import UNITS
from voicebot.dialog.times import parse_time


class Intent(StrEnum):
    """What an answer means, independent of the words used."""

    AFFIRM = "affirm"
    DENY = "deny"
    UNSURE = "unsure"
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


def normalize(text: str) -> str:
    """Lower-case, unify apostrophes, drop punctuation except apostrophes."""
    text = text.lower().replace("\u2019", "'")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())


def _speech(intent: Intent, text: str, confidence: float, value: Any = None) -> Interpretation:
    return Interpretation(intent, text, confidence, "speech", value)


# -- yes / no ------------------------------------------------------------------

# Doubt: the customer cannot say. Checked first, because these phrases contain
# "not", "don't" or "no" and would otherwise read as a denial (or, for "sure",
# as a yes).
_UNSURE = re.compile(
    r"\b(not (so |too |quite |really |entirely |completely |totally |a hundred percent |"
    r"100 percent |one hundred percent )?(sure|certain)|unsure|uncertain|"
    r"(don'?t|do not|didn'?t|did not) (really |quite |even )?(know|remember|recall)|dunno|"
    r"(can'?t|cannot|can not|couldn'?t) (really )?(remember|recall|say|tell)|"
    r"not that i (know|remember|recall)|no idea|not a clue|no clue|i forg[eo]t|"
    r"maybe|may be|perhaps|might have|might be|could be|could have|hard to say|"
    r"let me (check|think|see)|(have|need) to check|"
    r"(my|the|our) (wife|husband|partner|son|daughter|kids?|child|children|mom|mum|mother|"
    r"dad|father|brother|sister|boyfriend|girlfriend|family|roommate|flatmate|assistant) "
    r"(did|made|used|bought|paid|might|may|could|probably|must))\b"
)
# Denial: any negation, or a word that says something is wrong.
_DENY = re.compile(
    r"\b(no|nope|nah|not|never|none|nothing|nobody|neither|nor|"
    r"didn'?t|wasn'?t|isn'?t|don'?t|doesn'?t|haven'?t|hasn'?t|hadn'?t|aren'?t|weren'?t|"
    r"won'?t|can'?t|cannot|couldn'?t|wouldn'?t|shouldn'?t|ain'?t|"
    r"wrong|fraud|fraudulent|stolen|scam|unauthori[sz]ed|hacked)\b"
)
# Hedges: a yes said with reservation is not a yes.
_HEDGE = re.compile(
    r"\b(i think|i believe|i guess|i suppose|i assume|i reckon|probably|possibly|presumably|"
    r"likely|pretty sure|fairly sure|almost sure|quite sure|kinda|sorta|"
    r"should be|must have|must be|more or less)\b"
)
_AFFIRM = re.compile(
    r"\b(yes|yeah|yep|yup|ya|yah|sure|correct|right|speaking|absolutely|definitely|"
    r"certainly|indeed|affirmative|okay|ok|it was me|that was me|i did|i made it)\b"
)

# What a caller is likely to say, written as a transcript: Whisper's initial
# prompt. Sentence case matters: a lowercase word list ("yes no") makes Whisper
# write lowercase too, and it is 0.1-0.2 less confident of a clear "Yes."
# (measured on the scenario suite's turns, docs/status.md). Bare "Yes. No."
# made it write "Yes. That was me." at 0.72 where "Yes, that was me." scores 0.88.
YES_NO_SPEECH = "Yes, that's right. No, it isn't."
YES_NO_KEYPAD = {"1": Intent.AFFIRM, "2": Intent.DENY}


def classify_yes_no(text: str, confidence: float) -> Interpretation:
    """Affirm, deny, unsure or none: doubt beats a denial, a denial beats a yes.

    A hedged yes ("I think so", "probably") is unsure; a hedged no ("I don't
    think so", "probably not") stays a denial, so that it is followed up.
    """
    words = normalize(text)
    if _UNSURE.search(words):
        intent = Intent.UNSURE
    elif _DENY.search(words):
        intent = Intent.DENY
    elif _HEDGE.search(words):
        intent = Intent.UNSURE
    elif _AFFIRM.search(words):
        intent = Intent.AFFIRM
    else:
        intent = Intent.NONE
    return _speech(intent, text, confidence)


_IDENTITY = re.compile(r"\b(it'?s me|this is me|that'?s me|that is me|me speaking|you got me)\b")


def classify_identity(text: str, confidence: float, first_name: str) -> Interpretation:
    """ "Am I speaking with Alice?": like yes/no, and hearing the name itself counts as yes.

    Whisper often drops a short leading "yes" ("Yes, this is Alice" -> "this is
    Alice"), so "Alice here" or "it's me" must be enough; any denial or doubt
    still wins.
    """
    heard = classify_yes_no(text, confidence)
    if heard.intent is not Intent.NONE:
        return heard
    words = normalize(text)
    name = normalize(first_name)
    if (name and re.search(rf"\b{re.escape(name)}\b(?!'s)", words)) or _IDENTITY.search(words):
        return _speech(Intent.AFFIRM, text, confidence)
    return heard


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
_DECLINE = re.compile(
    r"\b((don'?t|do not) have (the |any )?time|no time|not now|not right now|not today|"
    r"not interested|rather not|prefer not|no thanks|no thank you|busy|skip|i'?ll pass|pass on|"
    r"(don'?t|do not) want to|not really|leave it|no comment)\b|^(no|nope|nah|pass)$"
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
    """A 1-5 rating, a decline, or none ("three or four", "ten", "4.5": ask again).

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
    if not values and _DECLINE.search(words):
        return _speech(Intent.DECLINE, text, confidence)
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

# A call that is negated ("don't call me later") is never a request to call.
_NEGATED = re.compile(
    r"\b(don'?t|do not|never|no need to|not|needn'?t|won'?t need to)( \w+){0,2} $"
)
_CALL = r"(call|ring|phone|contact)"
# "start calling me": tiny.en's usual hearing of "Please stop calling me" (0.90,
# even with "Stop calling me." in its prompt). Nobody asks the bot to start
# calling while it is calling, and a wrongly honoured opt-out costs far less
# than a missed one.
_OPT_OUT = re.compile(
    rf"\b(stop|start) {_CALL}ing me\b|\bstop {_CALL}ing\b|"
    r"\bstop (the|these|your|all) calls\b|\bno more calls\b|"
    rf"\b(don'?t|do not|never) (ever )?{_CALL}( me| us| this number| here)?"
    r"( (again|anymore|any more|ever again|ever))?$|"
    rf"\b(don'?t|do not|never) (ever )?{_CALL}( me| us| this number| here)? "
    r"(again|anymore|any more|ever)\b|"
    r"\bdo not call list\b|\b(don'?t|do not) want (any )?(more )?(your )?calls\b|"
    r"\b(take|remove|delete|drop|erase|get) (me|my (phone )?number|my name|my details|"
    r"this number) (off|from)\b|\bremove my (phone )?number\b|\btake me off\b|"
    r"\bunsubscribe\b|\bopt(ing)? out\b|\bleave me alone\b"
)
_WHO = (
    r"(real |live |actual )?(person|human|human being|someone|somebody|agent|representative|rep|"
    r"operator|manager|supervisor|advisor|adviser|people|customer service|customer support)"
)
_AGENT = re.compile(
    r"\b(talk|speak|speaking|talking|chat) (to|with) "
    rf"(a |an |the |some |your |one of your )?{_WHO}\b|"
    rf"\b(transfer|connect|put) me (through )?(to|with) (a |an |the |some |your )?{_WHO}\b|"
    r"\b(real|live|actual) (person|human|agent|people)\b|\bhuman being\b|"
    r"\b(want|need|get me) (a |an )?(human|person|agent|representative|operator)\b|"
    r"^(a |an )?(agent|representative|operator|human|person)( please)?$"
)
_CALLBACK = re.compile(
    rf"\b{_CALL} (me |us )?(back|later|again|another time|some other time|tomorrow|tonight|today|"
    r"this (morning|afternoon|evening)|in (a|an|\d+|half|a couple|two|three|five|ten|"
    r"twenty|thirty)|at|on|around|after|next|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday)\b|"
    r"\btry (me )?(again )?later\b"
)
# "I'll call you back" is the customer's plan, "a call at 5" is a noun: neither asks us to call.
_NOT_A_REQUEST = re.compile(
    r"\b(i'?ll|i will|i can|let me|i'?m going to|i'?d|a|the|your|this|that|my|missed|last|"
    r"first|previous|earlier|phone|video|every|each) $"
)
_BAD_TIME = re.compile(
    r"\b(not|isn'?t|is not) (a )?(good|great|convenient) time\b|\bbad time\b|"
    r"\b(can'?t|cannot) (talk|speak)( right)? now\b"
)
_REPEAT = re.compile(
    r"\brepeat\b(?! (customer|order|purchase|payment|client))|"
    r"\bsay (that|it|this) again\b|\bsay again\b|\bcome again\b|\bpardon\b|"
    r"\bwhat( was| is| were|'s) (that|it|the amount|the merchant|the name|the date|the payment|"
    r"the charge|the number)\b|\bwhat did you (just )?say\b|"
    r"\b(didn'?t|did not|couldn'?t|could not|can'?t|cannot) (quite )?(catch|hear|understand|get) "
    r"(that|it|you|what you said|the amount|the last part)$|"
    r"\bmissed (that|it|what you said)\b|\bone more time\b|"
    r"\b(speak|talk) (up|louder|slower|more slowly)\b"
)
# Alone, these ask for the last line again; "Sorry, I don't have time" does not.
_REPEAT_ALONE = re.compile(r"^(what|huh|sorry|excuse me|sorry what|what sorry|pardon me|eh)$")


def _clauses(text: str) -> list[str]:
    """Normalized clauses: a comma or full stop ends a request ("don't call me, ...")."""
    return [c for c in (normalize(part) for part in re.split(r"[.,;!?]+", text)) if c]


def _said(pattern: re.Pattern[str], clause: str, *, unless: re.Pattern[str] = _NEGATED) -> bool:
    """``pattern`` occurs in ``clause`` where the words just before it do not undo it."""
    return any(not unless.search(clause[: m.start()]) for m in pattern.finditer(clause))


def _asks_for_call(clause: str) -> bool:
    if _BAD_TIME.search(clause):
        return True
    return any(
        not (_NEGATED.search(clause[: m.start()]) or _NOT_A_REQUEST.search(clause[: m.start()]))
        for m in _CALLBACK.finditer(clause)
    )


def classify_anywhere(text: str, confidence: float, now: datetime) -> Interpretation | None:
    """A request that applies whatever was asked, or None.

    Checked before the question's own answer, so it must be sure: opt-out beats
    a human agent, which beats a callback, which beats "say that again". A
    negated call ("don't call me later, I'm free now") is neither an opt-out
    nor a callback: it is left to the question.
    """
    clauses = _clauses(text)
    if any(_OPT_OUT.search(c) for c in clauses):
        return _speech(Intent.OPT_OUT, text, confidence)
    if any(_said(_AGENT, c) for c in clauses):
        return _speech(Intent.AGENT, text, confidence)
    if any(_asks_for_call(c) for c in clauses):
        return _speech(Intent.CALLBACK, text, confidence, parse_time(text, now))
    whole = normalize(text)
    if _REPEAT_ALONE.match(whole) or any(_REPEAT.search(c) for c in clauses):
        return _speech(Intent.REPEAT, text, confidence)
    return None
