"""``voicebot check-line``'s verdict: whole lines must mean what is meant, cuts must not say yes."""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.cli import QUESTION_KINDS
from voicebot.dialog.engine import EXPECTATIONS
from voicebot.simulator.linecheck import (
    WHOLE,
    Reading,
    problems,
    prompt_for,
    table,
    understand,
)
from voicebot.understanding.decision import Decision


def reading(
    cut: float, intent: str, voice: str = "caller-low", rating: int | None = None
) -> Reading:
    return Reading(voice, cut, "words", 0.9, intent, intent, rating)


def test_a_line_read_as_meant_everywhere_is_fine() -> None:
    readings = [reading(WHOLE, "deny"), reading(0.4, "none"), reading(0.6, "deny")]
    assert problems(readings, "deny") == []


def test_a_whole_line_misheard_in_one_voice_fails() -> None:
    readings = [reading(WHOLE, "deny"), reading(WHOLE, "none", voice="caller-espeak")]
    [problem] = problems(readings, "deny")
    assert "caller-espeak whole" in problem and "reads as none, expected deny" in problem


def test_a_cut_read_as_a_yes_fails_unless_a_yes_is_meant() -> None:
    readings = [reading(WHOLE, "deny"), reading(0.6, "affirm")]
    [problem] = problems(readings, "deny")
    assert "cut 60%" in problem and "false confirmation" in problem
    assert problems([reading(WHOLE, "affirm"), reading(0.4, "affirm")], "affirm") == []


def test_a_cut_read_as_an_opt_out_fails_unless_one_is_meant() -> None:
    readings = [reading(WHOLE, "callback"), reading(0.8, "opt_out")]
    assert "never withdrawn" in problems(readings, "callback")[0]
    assert problems([reading(WHOLE, "opt_out"), reading(0.8, "opt_out")], "opt_out") == []


def test_a_rating_must_be_the_one_meant_whole_and_cut() -> None:
    good = [reading(WHOLE, "rating", rating=4), reading(0.6, "none")]
    assert problems(good, "rating", 4) == []
    wrong = [reading(WHOLE, "rating", rating=2)]
    assert "rating 2, expected 4" in problems(wrong, "rating", 4)[0]
    cut = [reading(WHOLE, "rating", rating=4), reading(0.4, "rating", rating=1)]
    assert "cut 40%" in problems(cut, "rating", 4)[0]


def test_the_table_has_a_row_per_reading() -> None:
    scoped = Reading(
        "caller-high", 0.4, "No more surveys.", 0.9, "opt_out", "opt_out", None, "feedback"
    )
    lines = table([reading(WHOLE, "rating", rating=4), scoped]).splitlines()
    assert len(lines) == 3
    assert "whole" in lines[1] and "rating 4" in lines[1]
    assert "40%" in lines[2] and "opt_out feedback" in lines[2]


def test_the_prompt_is_the_dialog_s_with_the_opt_out() -> None:
    assert prompt_for("identity", "Amara") == "Yes, this is Amara. No. Please stop calling me."
    assert prompt_for("comment", "Amara") == "Please stop calling me."


def test_the_cli_knows_every_kind_of_question() -> None:
    assert sorted(QUESTION_KINDS) == sorted(EXPECTATIONS)


@dataclass
class FixedReader:
    decision: Decision

    def decide(self, text: str, expect: str) -> Decision:
        return self.decision


def test_understanding_follows_the_dialog() -> None:
    # The customer's own name is a yes at the identity check, as in the engine.
    other = FixedReader(Decision("none", 0.0, top="other"))
    assert understand(other, "Amara here", 0.9, "identity", "Amara")[1] == "affirm"
    # Heard too unsurely, it answers nothing.
    yes = FixedReader(Decision("affirm", 0.95, top="affirm"))
    assert understand(yes, "Yes.", 0.3, "yes_no", "Amara")[1] == "none"
    assert understand(yes, "Yes.", 0.9, "yes_no", "Amara")[1] == "affirm"
    # A request honoured anywhere wins over the question's own answers.
    stop = FixedReader(Decision("opt_out", 0.9, top="opt_out"))
    assert understand(stop, "Take me off your list.", 0.9, "rating", "Amara")[1:] == (
        "opt_out",
        None,
        None,
    )
    surveys = FixedReader(Decision("opt_out", 0.9, scope="feedback", top="opt_out"))
    assert understand(surveys, "No more surveys.", 0.9, "rating", "Amara")[3] == "feedback"
    # A rating carries its value.
    rate = FixedReader(Decision("other", 0.9, top="other"))
    assert understand(rate, "I'd say a four.", 0.9, "rating", "Amara")[1:] == ("rating", 4, None)


def test_a_turn_the_vad_never_heard_is_a_problem_whatever_was_meant() -> None:
    """A line the server cuts to nothing (no turn) cannot be relied on."""
    lost = Reading("caller-low", WHOLE, "", 0.0, "none", "none", phase_ms=7)
    [problem] = problems([reading(WHOLE, "affirm"), lost], "affirm")
    assert "vad+7ms" in problem and "reads as none" in problem
