from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.dialog.engine import EXPECTATIONS, Heard
from voicebot.dialog.understanding import (
    RATING_SPEECH,
    TIME_SPEECH,
    YES_NO_KEYPAD,
    Intent,
    Interpretation,
    classify_comment,
    classify_keypad,
    classify_rating,
    classify_rating_keypad,
    classify_time,
    from_decision,
    request_from,
)
from voicebot.understanding.model import load_understanding

# These phrasings were written for the keyword rules this project had before the
# learned classifier (none of them is in its training corpus): they now check
# that the classifier, through the dialog's mapping, still reads them right.


# Readings the classifier still gets wrong, none of them a false confirmation or a
# missed opt-out (docs/understanding.md, "Known limits"). Not strict: a model that
# learns them passes too.
KNOWN_LIMIT = pytest.mark.xfail(reason="known limit of the intent classifier", strict=False)


def known(text: str) -> object:
    return pytest.param(text, marks=KNOWN_LIMIT)


def classify_yes_no(text: str, confidence: float) -> Interpretation:
    return from_decision(load_understanding().decide(text, "yes_no"), text, confidence)


def classify_identity(text: str, confidence: float, first_name: str) -> Interpretation:
    decision = load_understanding().decide(text, "identity")
    heard = Heard(
        text, confidence, {"first_name": first_name}, datetime.now().astimezone(), decision
    )
    return EXPECTATIONS["identity"].classify(heard)


def classify_anywhere(text: str, confidence: float, now: datetime) -> Interpretation | None:
    return request_from(load_understanding().decide(text, "yes_no"), text, confidence, now)


def answer_to(expect: str, text: str, now: datetime | None = None) -> Interpretation:
    """What the dialog makes of ``text`` as an answer to an ``expect`` question."""
    decision = load_understanding().decide(text, expect)
    heard = Heard(text, 0.9, {"first_name": "Alice"}, now or datetime.now().astimezone(), decision)
    return EXPECTATIONS[expect].classify(heard)


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
        ("This is Alice's husband.", Intent.DENY),  # someone else: never the customer
        ("Alice isn't here right now.", Intent.DENY),
        ("Who is this?", Intent.QUESTION),
    ],
)
def test_identity(text: str, intent: Intent) -> None:
    assert classify_identity(text, 0.8, "Alice").intent is intent


# -- yes / no: doubt beats a denial, a denial beats a yes ------------------------

NOW = datetime(2026, 6, 10, 11, 20, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    "text",
    [
        "Not sure.",
        "I'm not sure",
        "I'm not so sure",
        "I don't know",
        "I dunno",
        "I don't remember",
        "I can't remember",
        "I cannot recall",
        "Maybe.",
        "Maybe my wife did it",
        "No idea",
        "Not that I remember",
        known("Let me check"),
        "Could be",
        "Hmm, I forgot",
    ],
)
def test_doubt_is_unsure(text: str) -> None:
    assert classify_yes_no(text, 0.9).intent is Intent.UNSURE


@pytest.mark.parametrize(
    "text",
    ["I think so", "Probably", "Possibly", "I guess", "I believe so", "Pretty sure it was me"],
)
def test_hedged_yes_is_unsure_never_affirm(text: str) -> None:
    assert classify_yes_no(text, 0.9).intent is Intent.UNSURE


@pytest.mark.parametrize("text", ["I don't think so", "Probably not", "I think it was not me"])
def test_hedged_no_is_doubt_or_a_denial_never_a_yes(text: str) -> None:
    # The corpus's rule: a hedge either way is doubt. Both are escalated to a person.
    assert classify_yes_no(text, 0.9).intent in (Intent.DENY, Intent.UNSURE)


def test_doubt_beats_a_denial_in_the_same_answer() -> None:
    assert classify_yes_no("No... I mean, I'm not sure", 0.9).intent is Intent.UNSURE


def test_doubt_beats_a_yes_in_the_same_answer() -> None:
    assert classify_yes_no("Yes, I don't know, maybe", 0.9).intent is Intent.UNSURE


def test_not_sure_is_doubt() -> None:
    assert classify_yes_no("not sure", 0.9).intent is Intent.UNSURE


@KNOWN_LIMIT
def test_sure_alone_is_yes() -> None:
    assert classify_yes_no("Sure", 0.9).intent is Intent.AFFIRM


@KNOWN_LIMIT
def test_yes_im_sure_is_yes() -> None:
    assert classify_yes_no("Yes, I'm sure", 0.9).intent is Intent.AFFIRM


def test_a_family_member_did_it_is_never_a_yes() -> None:
    assert classify_yes_no("Yes, my son bought it", 0.9).intent in (Intent.UNSURE, Intent.NONE)


@pytest.mark.parametrize(
    "text",
    ["That's fraud", "Somebody hacked me", "It's unauthorized", "I haven't used that card"],
)
def test_fraud_words_and_negations_deny(text: str) -> None:
    assert classify_yes_no(text, 0.9).intent is Intent.DENY


def test_yes_no_reports_speech_and_confidence() -> None:
    heard = classify_yes_no("yes", 0.42)
    assert (heard.source, heard.confidence, heard.text, heard.value) == (
        "speech",
        0.42,
        "yes",
        None,
    )


YESES = ["yes", "yeah", "yep", "sure", "correct", "that was me", "I did", "right", "okay"]
DOUBTS_AND_NOS = [
    "no",
    "not",
    "never",
    "not sure",
    "I don't know",
    "I don't remember",
    "maybe",
    "I think",
    "probably",
    "possibly",
    "didn't",
    "wasn't",
    "can't remember",
    "no idea",
]


@settings(deadline=None)  # the model's first runs on a busy machine take longer
@given(
    st.sampled_from(YESES),
    st.sampled_from(DOUBTS_AND_NOS),
    st.booleans(),
    st.sampled_from(["", ",", ".", "...", " um"]),
)
def test_a_yes_with_any_negation_or_doubt_is_never_affirm(
    yes: str, doubt: str, doubt_first: bool, joint: str
) -> None:
    text = f"{doubt}{joint} {yes}" if doubt_first else f"{yes}{joint} {doubt}"
    assert classify_yes_no(text, 0.9).intent is not Intent.AFFIRM


def test_identity_doubt_is_unsure_even_with_the_name() -> None:
    assert classify_identity("Alice? Maybe, who's asking", 0.9, "Alice").intent is Intent.UNSURE


def test_identity_name_alone_is_still_yes() -> None:
    assert classify_identity("Alice speaking", 0.9, "Alice").intent is Intent.AFFIRM


def test_interpretation_built_positionally_has_no_value() -> None:
    assert Interpretation(Intent.AFFIRM, "yes", 1.0, "keypad").value is None


# -- rating 1-5 -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("four", 4),
        ("4", 4),
        ("4/5", 4),
        ("Four out of five.", 4),
        ("I'd give it a four", 4),
        ("A solid three.", 3),
        ("Five stars!", 5),
        ("one", 1),
        ("One star.", 1),
        ("Two.", 2),
        ("5/5", 5),
        ("Five, five.", 5),
        ("On a scale of one to five, I'd say four", 4),
        ("Not a five, a four", 4),
        ("I've used it for 5 years, it's a 4", 4),
        ("Four. Thanks for calling.", 4),
    ],
)
def test_ratings(text: str, value: int) -> None:
    heard = classify_rating(text, 0.8)
    assert (heard.intent, heard.value) == (Intent.RATING, value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("I give it up for", 4),  # how Whisper heard "I'd give it a four"
        ("I'd give it a for", 4),
        ("give it for", 4),
        ("For out of five", 4),
        ("For.", 4),
        ("I'd give it a too", 2),
        ("To out of five", 2),
        ("I'd give you one", 1),
    ],
)
def test_sound_alikes_count_where_a_rating_stands(text: str, value: int) -> None:
    heard = classify_rating(text, 0.6)
    assert (heard.intent, heard.value) == (Intent.RATING, value)


@pytest.mark.parametrize(
    "text",
    [
        "Thanks for calling",
        "I'd give it to them",
        "I waited too long",
        "No one helped me",
        "That one was good",
        "It's for my son",
    ],
)
def test_sound_alikes_elsewhere_are_not_ratings(text: str) -> None:
    assert classify_rating(text, 0.9).intent is not Intent.RATING


@pytest.mark.parametrize(
    "text",
    [
        "ten",
        "zero",
        "six",
        "Eight out of ten",
        "three or four",
        "three or four out of five",
        "between 3 and 4",
        "4.5",
        "four and a half",
        "banana",
        "",
    ],
)
def test_out_of_range_or_ambiguous_ratings_ask_again(text: str) -> None:
    assert classify_rating(text, 0.9).intent is Intent.NONE


@pytest.mark.parametrize(
    "text",
    [
        "I don't have time",
        "Not now",
        "Not interested",
        "I'd rather not",
        "No thanks",
        "No thank you.",
        "I'm busy",
        "No.",
        "Skip it",
    ],
)
def test_declines(text: str) -> None:
    assert answer_to("rating", text).intent is Intent.DECLINE


def test_a_rating_said_while_busy_is_still_a_rating() -> None:
    heard = classify_rating("I'm busy, but five", 0.9)
    assert (heard.intent, heard.value) == (Intent.RATING, 5)


@pytest.mark.parametrize("value", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(
    "template",
    ["{w}", "{d}", "I'd give it a {w}", "{w} out of five", "{d}/5", "a solid {w}", "{w} stars"],
)
def test_every_rating_in_every_form(value: int, template: str) -> None:
    word = ["one", "two", "three", "four", "five"][value - 1]
    text = template.format(w=word, d=value)
    assert classify_rating(text, 0.9).value == value


@given(st.integers(1, 5), st.integers(1, 5))
def test_two_different_numbers_ask_again(first: int, second: int) -> None:
    heard = classify_rating(f"{first} or {second}", 0.9)
    if first == second:
        assert heard.value == first
    else:
        assert heard.intent is Intent.NONE


@pytest.mark.parametrize(("digits", "value"), [("1", 1), ("3", 3), ("5", 5), ("25", 5)])
def test_rating_keypad(digits: str, value: int) -> None:
    heard = classify_rating_keypad(digits)
    assert (heard.intent, heard.value, heard.source, heard.confidence) == (
        Intent.RATING,
        value,
        "keypad",
        1.0,
    )


@given(st.text(alphabet="0123456789*#", max_size=4))
def test_rating_keypad_is_the_last_key_one_to_five(digits: str) -> None:
    heard = classify_rating_keypad(digits)
    if digits[-1:] in ("1", "2", "3", "4", "5"):
        assert heard.intent is Intent.RATING and heard.value == int(digits[-1])
    else:
        assert heard.intent is Intent.NONE and heard.value is None
    assert heard.source == "keypad" and heard.text == digits


def test_rating_speech_names_the_numbers() -> None:
    said = set(re.findall(r"[a-z]+", RATING_SPEECH.lower()))
    assert {"one", "two", "three", "four", "five"} <= said


# -- comment ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "No.",
        "Nope.",
        "Nothing.",
        "That's all.",
        "That's it, thanks.",
        "No thanks.",
        "No comment.",
        "No, nothing else.",
        "Not really, no.",
        "Nah, I'm good.",
        "I have no comment",
        "Thank you.",  # also what Whisper hallucinates over silence
        "Thank you very much, bye.",
        "Thanks for watching!",  # Whisper's favourite hallucination
    ],
)
def test_plain_no_comment_is_deny(text: str) -> None:
    heard = classify_comment(text, 0.9)
    assert (heard.intent, heard.value) == (Intent.DENY, None)


@pytest.mark.parametrize(
    "text",
    [
        "The agent was great.",
        "No, but the app is slow.",
        "Nothing, it was all fine, just the wait was long",
        "Make the app faster",
        "Yes",
    ],
)
def test_anything_else_is_the_comment(text: str) -> None:
    heard = classify_comment(f"  {text} ", 0.7)
    assert (heard.intent, heard.value) == (Intent.COMMENT, text)


@pytest.mark.parametrize("text", ["", "   ", "Um...", "uh"])
def test_silence_or_hesitation_is_no_answer_yet(text: str) -> None:
    assert classify_comment(text, 0.9).intent is Intent.NONE


# -- callback time ------------------------------------------------------------------


def test_time_answer_carries_the_moment() -> None:
    heard = classify_time("tomorrow at 5", 0.8, NOW)
    assert heard.intent is Intent.TIME
    assert heard.value == datetime(2026, 6, 11, 17, 0, tzinfo=NOW.tzinfo)


def test_time_answer_without_a_time_is_none() -> None:
    heard = classify_time("whenever you like", 0.8, NOW)
    assert (heard.intent, heard.value) == (Intent.NONE, None)


def test_time_speech_names_the_days() -> None:
    assert {"tomorrow", "tonight", "morning"} <= set(re.findall(r"[a-z]+", TIME_SPEECH.lower()))


# -- requests that apply whatever was asked -----------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Stop calling me.",
        "Take me off your list",
        "Don't call me again!",
        "Please remove my number",
        "Unsubscribe",
        "Do not call.",
        "Don't call me, I'll call you",
        "Never call this number again",
        "I want to opt out",
        "Put me on your do not call list",
        "Please start calling me.",  # tiny.en's hearing of "Please stop calling me."
    ],
)
def test_opt_out(text: str) -> None:
    heard = classify_anywhere(text, 0.9, NOW)
    assert heard is not None and heard.intent is Intent.OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "Can I talk to a person?",
        "I want to speak to a human",
        "Let me talk to someone",
        "Talk to an agent",
        "Speak to a representative please",
        "Can I talk to the operator",
        "Speak to someone",
        "Agent.",
        "Transfer me to customer service",
    ],
)
def test_agent(text: str) -> None:
    heard = classify_anywhere(text, 0.9, NOW)
    assert heard is not None and heard.intent is Intent.AGENT


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Call me later", None),
        ("Can you call me back?", None),
        ("It's not a good time", None),
        ("Call me tomorrow", datetime(2026, 6, 11, 10, 0, tzinfo=NOW.tzinfo)),
        ("Call me tonight", datetime(2026, 6, 10, 18, 0, tzinfo=NOW.tzinfo)),
        ("Can you call back at 5?", datetime(2026, 6, 10, 17, 0, tzinfo=NOW.tzinfo)),
        ("I'm busy, call me tomorrow at 5", datetime(2026, 6, 11, 17, 0, tzinfo=NOW.tzinfo)),
        ("Ring me back in an hour", datetime(2026, 6, 10, 12, 20, tzinfo=NOW.tzinfo)),
    ],
)
def test_callback_with_its_time(text: str, value: datetime | None) -> None:
    heard = classify_anywhere(text, 0.9, NOW)
    assert heard is not None and heard.intent is Intent.CALLBACK
    assert heard.value == value


@pytest.mark.parametrize(
    "text",
    [
        "Repeat that",
        "Can you repeat the amount?",
        "Say that again?",
        "What was the amount?",
        "Sorry, what?",
        "What?",
        "Pardon?",
        "Come again?",
        "I didn't catch that",
        "What was that?",
        "Could you speak up",
    ],
)
def test_repeat(text: str) -> None:
    heard = classify_anywhere(text, 0.9, NOW)
    assert heard is not None and heard.intent is Intent.REPEAT


@pytest.mark.parametrize(
    "text",
    [
        "No, I didn't make that payment",
        "No, not one to meet",
        "Yes",
        "Yes, that was me",
        "I'd give it a four",
        known("I'm a repeat customer"),
        "I didn't get that package",
        known("I got a call at 5 from you yesterday"),
        known("I'll call you back"),
        "Sorry, I don't have time for this.",
        "Sorry, that wasn't me",
        "I'm busy",  # a decline of the rating, not a callback request
        "Not now",
        "Nothing else, thank you",
        "Maybe",
        "",
    ],
)
def test_ordinary_answers_are_not_requests(text: str) -> None:
    assert classify_anywhere(text, 0.9, NOW) is None


def test_asking_whether_it_is_a_person_is_a_question_not_a_request() -> None:
    assert classify_yes_no("Is this a real person?", 0.9).intent is Intent.QUESTION


@KNOWN_LIMIT
def test_dont_call_me_later_is_neither_callback_nor_opt_out() -> None:
    # "I'm free now": left to the question being asked.
    assert classify_anywhere("Don't call me later, I'm free now", 0.9, NOW) is None


@KNOWN_LIMIT
def test_negated_agent_request_is_not_a_request() -> None:
    assert classify_anywhere("I don't need to talk to a person", 0.9, NOW) is None


def test_opt_out_beats_agent() -> None:
    heard = classify_anywhere("Stop calling me, I want to talk to a person", 0.9, NOW)
    assert heard is not None and heard.intent is Intent.OPT_OUT


@KNOWN_LIMIT
def test_agent_beats_callback() -> None:
    heard = classify_anywhere("Call me back with a real person", 0.9, NOW)
    assert heard is not None and heard.intent is Intent.AGENT


def test_callback_beats_repeat() -> None:
    heard = classify_anywhere("Sorry, what? Call me back later", 0.9, NOW)
    assert heard is not None and heard.intent is Intent.CALLBACK


def test_request_keeps_text_confidence_and_source() -> None:
    heard = classify_anywhere("Repeat that", 0.31, NOW)
    assert heard is not None
    assert (heard.text, heard.confidence, heard.source) == ("Repeat that", 0.31, "speech")


def test_four_clipped_to_form_on_a_phone_line_is_still_a_rating() -> None:
    # Heard twice in full-suite runs for "I'd give it a four".
    heard = classify_rating("I give it a form", 0.7)
    assert (heard.intent, heard.value) == (Intent.RATING, 4)
    assert classify_rating("please fill in the form", 0.9).intent == Intent.NONE
