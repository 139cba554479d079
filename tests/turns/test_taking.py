"""Turn-taking as scripted timelines in virtual time, and its invariants on every ordering.

Each test scripts what the pipeline would report (the bot's lines with their
start and end, the caller's speech, words in a pause, final words) at the
second it happens, and reads the actions. No clock, no audio, no models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.turns.taking import Act, Action, BotLine, Reading, Rules, TurnTaking

CLEAR_YES = Reading(understood=True, complete=True, confidence=0.92)
UNDERSTOOD_PART = Reading(understood=True, complete=False, confidence=0.9)
NOTHING = Reading(understood=False, complete=False, confidence=0.9)


@dataclass
class Call:
    """One call's turn-taking, driven by a script: ``at(t)`` moves virtual time to ``t``."""

    rules: Rules = field(default_factory=Rules)
    now: float = 0.0
    lines: list[tuple[float, float, BotLine]] = field(default_factory=list)
    log: list[tuple[float, Action]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.turns = TurnTaking(self.rules)

    def bot(self, start: float, end: float, key: str, *, interruptible: bool = True) -> None:
        """The bot's line ``key`` plays from ``start`` to ``end``."""
        self.lines.append((start, end, BotLine(key, interruptible)))

    def at(self, t: float) -> Call:
        """Let time pass to ``t``: bot lines start and end, the silence timer may fire."""
        edges = sorted(  # at the same instant, a line ends before the next begins
            [(s, 1, "start") for s, _, _ in self.lines if self.now < s <= t]
            + [(e, 0, "stop") for _, e, _ in self.lines if self.now < e <= t]
        )
        for when, _, edge in edges:
            self._tick(when)
            self.now = when
            if edge == "start":
                self._record(self.turns.bot_started())
            else:
                self._record(self.turns.bot_stopped(when))
        self._tick(t)
        self.now = t
        return self

    def _tick(self, t: float) -> None:
        deadline = self.turns._silence_at
        if deadline is not None and self.now <= deadline <= t:
            self.now = deadline
            self._record(self.turns.tick(deadline))

    def playing(self) -> BotLine | None:
        for start, end, line in self.lines:
            if start <= self.now < end:
                return line
        return None

    def cut_bot(self) -> None:
        """A barge-in: the line playing stops now."""
        self.lines = [(s, min(e, self.now), line) for s, e, line in self.lines if s <= self.now]

    def _record(self, actions: list[Action]) -> list[Action]:
        for a in actions:
            self.log.append((self.now, a))
            if a.act is Act.BARGE_IN:
                self.cut_bot()
        return actions

    # The pipeline's events, at the current time.
    def caller_starts(self) -> list[Act]:
        return acts(self._record(self.turns.caller_started(self.now, self.playing())))

    def words(self, turn: int, text: str, reading: Reading, finished: float | None) -> list[Act]:
        actions = self.turns.words_in_pause(turn, text, reading, finished, self.now)
        return acts(self._record(actions))

    def resumes(self, turn: int) -> list[Act]:
        return acts(self._record(self.turns.caller_resumed(turn, self.now, self.playing())))

    def final(
        self, turn: int, text: str, *, same: bool = False, secret: bool = False
    ) -> list[Action]:
        return self._record(
            self.turns.turn_ended(turn, text, self.now, same_as_early=same, secret=secret)
        )

    def replies(self, seconds: float, key: str, **kw: bool) -> list[Act]:
        """The adapter said a reply (``seconds`` long) in answer: it plays from now."""
        self.bot(self.now, self.now + seconds, key)
        return acts(self._record(self.turns.replied(self.now, **kw)))

    def acts_between(self, start: float, end: float) -> list[Act]:
        return [a.act for t, a in self.log if start <= t <= end]


def acts(actions: list[Action]) -> list[Act]:
    return [a.act for a in actions]


def asked(call: Call, question_ends: float) -> Call:
    """The greeting (a question) and the disclosure played; the payment question is asked."""
    call.bot(0.0, question_ends, "payment_question")
    return call.at(question_ends)


# -- the cases that were bugs ---------------------------------------------------


def test_im_driving_right_now_is_not_an_answer_when_the_caller_goes_on() -> None:
    """The understanding issue's first case: a pause after "I'm driving right now."."""
    call = asked(Call(), 5.0)
    call.at(5.6)
    assert call.caller_starts() == [Act.CANCEL_SILENCE_TIMER]
    call.at(6.9)  # 0.35 s into a pause; the caller sounds done to the turn model
    assert call.words(1, "I'm driving right now.", UNDERSTOOD_PART, 0.8) == [Act.ANSWER_EARLY]
    assert call.replies(2.0, "sorry_didnt_catch", ends_call=False, provisional=True) == []
    call.at(7.2)
    assert call.resumes(1) == [Act.BARGE_IN]  # the caller is not talked over
    call.at(9.5)
    (redo,) = call.final(1, "I'm driving right now. Can you call me back tomorrow morning?")
    assert redo.act is Act.REDO_EARLY and redo.said_over
    assert redo.text == "I'm driving right now. Can you call me back tomorrow morning?"


def test_an_early_yes_is_kept_when_the_turn_ends_on_it() -> None:
    call = asked(Call(), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(6.6)
    assert call.words(1, "Yes, that was me.", CLEAR_YES, None) == [Act.ANSWER_EARLY]
    assert call.replies(2.5, "goodbye_confirmed", ends_call=True, provisional=True) == []
    call.at(6.8)  # the VAD's 0.5 s are up: the same words
    assert acts(call.final(1, "Yes, that was me.", same=True)) == [Act.KEEP_EARLY, Act.HANG_UP]


def test_an_early_goodbye_waits_for_the_final_words_and_is_redone_if_they_differ() -> None:
    call = asked(Call(), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(6.6)
    call.words(1, "Yes, that was me.", CLEAR_YES, None)
    call.replies(2.5, "goodbye_confirmed", ends_call=True, provisional=True)
    call.at(6.9)
    call.resumes(1)
    call.at(8.0)
    (redo,) = call.final(1, "Yes, that was me. Actually no, it wasn't.")
    assert redo.act is Act.REDO_EARLY and redo.held and redo.said_over
    assert Act.HANG_UP not in call.acts_between(0, 8.0)


def test_an_early_goodbye_hangs_up_when_it_played_whole_and_no_words_came() -> None:
    call = asked(Call(), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(6.6)
    call.words(1, "Yes, that was me.", CLEAR_YES, None)
    call.replies(2.5, "goodbye_confirmed", ends_call=True, provisional=True)
    call.final(1, "", same=False)  # the final recognition never came back with words
    call.at(9.2)
    assert Act.HANG_UP in call.acts_between(6.6, 9.2)


def test_an_opt_out_in_a_pause_hangs_up_at_once_and_is_never_withdrawn() -> None:
    call = asked(Call(), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(6.6)
    call.words(1, "Stop calling me.", CLEAR_YES, None)
    out = call.replies(2.0, "opt_out_confirmed", ends_call=True, provisional=True, opted_out=True)
    assert out == [Act.HANG_UP]
    call.at(7.0)
    assert acts(call.final(1, "Stop calling me. Actually, never mind.")) == [Act.KEEP_EARLY]


def test_a_disclosure_is_never_cut_and_speech_over_it_answers_nothing() -> None:
    call = Call()
    call.bot(0.0, 6.0, "disclosure", interruptible=False)
    call.at(2.0)
    assert call.caller_starts() == []
    call.at(3.0)
    assert acts(call.final(1, "Yes.")) == [Act.IGNORE]  # the bot still talks: no timer yet
    call.at(6.0)
    assert call.acts_between(6.0, 6.0) == [Act.START_SILENCE_TIMER]


def test_a_question_is_cut_short_by_the_caller() -> None:
    call = Call()
    call.bot(0.0, 6.0, "payment_question")
    call.at(4.0)
    assert call.caller_starts() == [Act.BARGE_IN]
    call.at(5.0)
    assert acts(call.final(1, "Yes, that was me.")) == [Act.ANSWER]


def test_speech_over_the_goodbye_answers_nothing() -> None:
    call = asked(Call(), 5.0)
    call.replies(2.0, "goodbye", ends_call=True)
    call.at(5.5)
    call.caller_starts()
    call.at(6.0)
    assert acts(call.final(1, "Wait, what?")) == [Act.IGNORE]


def test_the_silence_timer_asks_if_they_are_there_and_speech_cancels_it() -> None:
    call = asked(Call(Rules(silence_timeout_s=7.0)), 5.0)
    call.at(11.9)
    assert Act.STILL_THERE not in call.acts_between(0, 11.9)
    call.at(12.0)
    assert call.acts_between(12.0, 12.0) == [Act.STILL_THERE]

    quiet = asked(Call(Rules(silence_timeout_s=7.0)), 5.0)
    quiet.at(8.0)
    assert quiet.caller_starts() == [Act.CANCEL_SILENCE_TIMER]
    quiet.at(30.0)
    assert Act.STILL_THERE not in quiet.acts_between(0, 30.0)


def test_no_silence_timer_while_the_bot_is_still_talking() -> None:
    call = Call()
    call.bot(0.0, 20.0, "payment_question", interruptible=False)
    call.at(1.0)
    call.caller_starts()
    call.at(1.5)
    call.final(1, "")  # a cough over the question
    call.at(19.9)
    assert Act.STILL_THERE not in call.acts_between(0, 19.9)


def test_words_whisper_is_unsure_of_wait_for_the_end_of_the_turn() -> None:
    call = asked(Call(Rules(early_min_confidence=0.75)), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(6.5)
    unsure = Reading(understood=True, complete=True, confidence=0.6)
    assert call.words(1, "Yeah, what me?", unsure, 0.9) == []


def test_partial_words_are_answered_only_when_the_caller_sounds_finished() -> None:
    for finished, expected in ((None, []), (0.3, []), (0.8, [Act.ANSWER_EARLY])):
        call = asked(Call(Rules(finished_threshold=0.5)), 5.0)
        call.at(5.5)
        call.caller_starts()
        call.at(6.5)
        assert call.words(1, "Well, I was", NOTHING, finished) == expected


def test_words_nobody_understood_wait_for_the_llm_when_there_is_one() -> None:
    call = asked(Call(Rules(llm_fallback=True)), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(6.5)
    assert call.words(1, "banana pancakes", NOTHING, 0.95) == []


def test_a_pauses_words_are_answered_once() -> None:
    call = asked(Call(), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(6.5)
    assert call.words(1, "Yes, that was me.", CLEAR_YES, None) == [Act.ANSWER_EARLY]
    assert call.words(1, "Yes, that was me.", CLEAR_YES, 0.9) == []


def test_a_secret_is_warned_about_once_per_turn() -> None:
    call = asked(Call(), 5.0)
    call.at(5.5)
    call.caller_starts()
    call.at(7.0)
    assert acts(call.turns.secret_heard()) == [Act.WARN]
    assert call.turns.secret_heard() == []
    call.at(9.0)
    assert acts(call.final(1, "my card number is [redacted]", secret=True)) == []
    call.at(12.0)
    call.caller_starts()
    call.at(13.0)
    assert acts(call.final(2, "[redacted]", secret=True)) == [Act.WARN]


def test_a_key_cuts_a_question_short_but_never_a_disclosure() -> None:
    call = Call()
    call.bot(0.0, 4.0, "disclosure", interruptible=False)
    call.bot(4.0, 8.0, "payment_question")
    call.at(2.0)
    assert acts(call.turns.key_pressed("1", call.now, call.playing())) == [Act.IGNORE]
    call.at(5.0)
    assert acts(call.turns.key_pressed("1", call.now, call.playing())) == [
        Act.BARGE_IN,
        Act.ANSWER_KEY,
    ]


# -- every ordering ------------------------------------------------------------------

EVENTS = st.sampled_from(
    ["caller_starts", "words_yes", "words_part", "resumes", "final_same", "final_more",
     "final_empty", "reply", "reply_goodbye", "reply_goodbye_early", "reply_opt_out_early",
     "wait", "key", "secret"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(EVENTS, max_size=25), st.booleans())
def test_invariants_hold_on_every_ordering(events: list[str], disclosure: bool) -> None:
    """Whatever order the pipeline's events come in, the rules that protect a call hold.

    - Nothing is answered, asked or warned once the call hangs up, and it hangs up once.
    - A disclosure is never cut.
    - An early goodbye that is not an opt-out does not hang up when it is said: only
      after its turn's final words, or once it played whole and no words came.
    """
    call = Call()
    call.bot(0.0, 3.0, "disclosure" if disclosure else "question", interruptible=not disclosure)
    turn, t = 0, 0.0
    for event in events:
        t += 0.4
        call.at(t)
        match event:
            case "caller_starts":
                turn += 1
                call.caller_starts()
            case "words_yes":
                call.words(turn, "Yes, that was me.", CLEAR_YES, None)
            case "words_part":
                call.words(turn, "I'm driving", UNDERSTOOD_PART, 0.9)
            case "resumes":
                call.resumes(turn)
            case "final_same":
                call.final(turn, "Yes, that was me.", same=True)
            case "final_more":
                call.final(turn, "Yes, that was me. Actually no.")
            case "final_empty":
                call.final(turn, "")
            case "reply":
                call.replies(1.0, "reprompt", ends_call=False)
            case "reply_goodbye":
                call.replies(1.0, "goodbye", ends_call=True)
            case "reply_goodbye_early":
                pending = call.turns.early_turn is not None
                out = call.replies(1.0, "goodbye", ends_call=True, provisional=True)
                assert not (pending and Act.HANG_UP in out), "hung up on half a turn"
            case "reply_opt_out_early":
                call.replies(1.0, "opt_out", ends_call=True, provisional=True, opted_out=True)
            case "wait":
                call.at(t + 8.0)
                t += 8.0
            case "key":
                call._record(call.turns.key_pressed("1", call.now, call.playing()))
            case "secret":
                call._record(call.turns.secret_heard())
    log = call.log
    hang_ups = [i for i, (_, a) in enumerate(log) if a.act is Act.HANG_UP]
    assert len(hang_ups) <= 1
    if hang_ups:
        after = {a.act for _, a in log[hang_ups[0] + 1 :]}
        assert not after & {Act.ANSWER, Act.ANSWER_EARLY, Act.STILL_THERE, Act.WARN, Act.BARGE_IN}
    for when, a in log:
        if a.act is Act.BARGE_IN and disclosure:
            assert not (0.0 <= when < 3.0), "a disclosure was cut"
