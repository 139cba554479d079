"""The decision rules, on made-up probabilities: what no data is trusted to learn."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.understanding.corpus import INTENTS
from voicebot.understanding.decision import (
    NONE,
    Thresholds,
    clauses,
    combine,
    opt_out_rule,
    opt_out_scope,
    vetoed,
)


def row(**probs: float) -> np.ndarray:
    """A probability row: the named intents, the rest spread evenly."""
    values = np.zeros(len(INTENTS), dtype=np.float32)
    for intent, p in probs.items():
        values[INTENTS.index(intent)] = p
    rest = [i for i in INTENTS if i not in probs]
    for intent in rest:
        values[INTENTS.index(intent)] = (1.0 - sum(probs.values())) / len(rest)
    return values


T = Thresholds()


def test_a_clear_yes_to_a_yes_no_question_is_a_confirmation() -> None:
    assert combine("yes that was me", "yes_no", [row(affirm=0.95)], T).intent == "affirm"


def test_a_yes_the_model_is_not_sure_enough_of_is_asked_again() -> None:
    assert combine("yes that was me", "yes_no", [row(affirm=0.8)], T).intent == NONE


def test_any_clause_leaning_to_another_request_blocks_a_confirmation() -> None:
    rows = [row(affirm=0.9), row(affirm=0.1, callback=0.85)]
    assert combine("yes that was me, but later", "yes_no", rows, T).intent == NONE


def test_the_whole_turn_leaning_even_a_little_elsewhere_blocks_a_confirmation() -> None:
    assert combine("yes that was me", "yes_no", [row(affirm=0.86, unsure=0.21)], T).intent == NONE


@pytest.mark.parametrize(
    "text",
    [
        "yes, I don't know",
        "yeah not me",
        "yes, maybe",
        "yes who is this",
        "that's nod me",
        "yes my son bought it",
        "yeah my husband got that",
    ],
)
def test_a_veto_word_blocks_a_confirmation_whatever_the_model_says(text: str) -> None:
    assert vetoed(text) is not None
    assert combine(text, "yes_no", [row(affirm=0.99)], T).intent == NONE


@pytest.mark.parametrize("text", ["Yes, no problem, that was me.", "Yeah no worries, mine."])
def test_no_problem_is_not_a_negation(text: str) -> None:
    assert vetoed(text) is None


def test_a_yes_where_no_yes_no_was_asked_affirms_nothing() -> None:
    for expect in ("rating", "comment", "time"):
        assert combine("yes", expect, [row(affirm=0.99)], T).intent == "other"


def test_an_opt_out_in_any_clause_wins_at_a_low_probability() -> None:
    rows = [row(affirm=0.9), row(opt_out=0.35)]
    assert combine("yes it was me, and stop it", "yes_no", rows, T).intent == "opt_out"


@pytest.mark.parametrize(
    "text",
    [
        "Please start calling me.",  # tiny.en's hearing of "please stop calling me"
        "quit calling this number",
        "take me off your list",
        "I want to unsubscribe",
        "enough with the calls",
        "don't ever call me again",
    ],
)
def test_the_opt_out_rule_catches_it_even_when_the_model_does_not(text: str) -> None:
    assert opt_out_rule(text)
    assert combine(text, "yes_no", [row(other=0.99)], T).intent == "opt_out"


@pytest.mark.parametrize(
    "text",
    ["don't call me back later, I'm free now", "I can't stop laughing", "stop, let me think"],
)
def test_the_opt_out_rule_leaves_other_uses_of_its_words_alone(text: str) -> None:
    assert not opt_out_rule(text)


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("Don't call me for surveys ever again.", "feedback"),
        ("no more feedback calls please", "feedback"),
        ("Stop calling me to confirm payments.", "transaction_confirmation"),
        ("I don't want these payment confirmation calls", "transaction_confirmation"),
        ("Stop calling me.", None),
        ("stop calling me, I already confirmed the payment", None),  # a reason, not a scope
        ("no surveys and no payment calls", None),  # both: every purpose
    ],
)
def test_a_scope_is_read_only_where_the_words_say_it(text: str, scope: str | None) -> None:
    assert opt_out_scope(text) == scope


def test_below_the_decision_threshold_the_bot_abstains() -> None:
    flat = np.full(len(INTENTS), 1.0 / len(INTENTS), dtype=np.float32)
    assert combine("hmm", "yes_no", [flat], T).intent == NONE


def test_an_empty_turn_means_nothing() -> None:
    assert combine("  ", "yes_no", [row(affirm=0.99)], T).intent == NONE


def test_clauses_split_on_sentences_commas_and_but() -> None:
    assert clauses("Yes, that was me. But call me later") == [
        "Yes",
        "that was me",
        "But call me later",
    ]
    assert clauses("that was me but call me later") == ["that was me", "call me later"]


def test_a_no_or_not_sure_that_would_end_the_call_needs_more_than_a_request() -> None:
    """ "The kitchen table is blue." read as unsure at 0.38: asked again, not escalated."""
    assert combine("the kitchen table is blue", "yes_no", [row(unsure=0.38)], T).intent == NONE
    assert combine("no it wasn't", "yes_no", [row(deny=0.45)], T).intent == NONE
    assert combine("call me later", "yes_no", [row(callback=0.45)], T).intent == "callback"
    assert combine("no it wasn't", "yes_no", [row(deny=0.6)], T).intent == "deny"
