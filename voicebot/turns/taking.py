"""Turn-taking: who holds the floor, and when the bot may answer. Pure, in virtual time.

Every decision about *when* lives here; *what* is said is the dialog engine's
(``voicebot.dialog.engine``), and moving audio and frames is the pipeline's
(``voicebot.pipeline.policy`` is the adapter). Events come in with the time
they happened (``now``, any monotonic clock), actions come out; the machine
never reads a clock, sleeps or awaits, so a whole call's turn-taking is
tested as a scripted timeline (``tests/turns``).

Events in: the caller started speaking (with the bot line playing then, if
any), words heard in a pause (with how they read and the turn model's
verdict), the caller resumed after such words, the turn's final words, a key,
the bot's audio finished, the silence deadline passed, a reply went out.
Actions out: barge in, answer now (provisionally, in a pause), answer the
turn, keep or redo an early answer, ignore a turn, start or cancel the
silence timer, hang up.

The rules, each a past bug:
- A disclosure is never cut short; speech over it answers nothing asked.
- Words in a pause are answered at once only if they fully answer the
  question, or the caller sounds finished; a guess Whisper is unsure of waits.
- No outcome is decided on half a turn: an early answer is provisional. If
  the caller goes on, the whole turn is decided afresh; an early answer that
  ends the call holds the hang-up until the final words agree (or the bot
  finished speaking and no words came).
- The silence timer runs only while nobody speaks and the call goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Act(Enum):
    """What the adapter must do."""

    BARGE_IN = "barge_in"  # stop the bot's audio: the caller cut a question short
    WARN = "warn"  # a secret is being said: talk over it with the warning
    ANSWER_KEY = "answer_key"  # act on the key (``text``) once its hold is over
    ANSWER_EARLY = "answer_early"  # answer the pause's words now, provisionally
    ANSWER = "answer"  # answer the turn's final words
    KEEP_EARLY = "keep_early"  # the early answer stands (hang up if it ended the call)
    REDO_EARLY = "redo_early"  # undo the early answer; decide on the whole turn (``text``)
    IGNORE = "ignore"  # the turn answers nothing (said over a disclosure or the goodbye)
    START_SILENCE_TIMER = "start_silence_timer"  # fire ``at``
    CANCEL_SILENCE_TIMER = "cancel_silence_timer"
    STILL_THERE = "still_there"  # the silence deadline passed: ask if they are there
    HANG_UP = "hang_up"


@dataclass(frozen=True)
class Action:
    act: Act
    text: str = ""  # ANSWER_EARLY, ANSWER, REDO_EARLY: the words to decide on
    at: float = 0.0  # START_SILENCE_TIMER: when it fires
    reason: str = ""  # why (logs, metrics)
    said_over: bool = False  # REDO_EARLY: the caller talked over the early answer
    held: bool = False  # REDO_EARLY: the early answer ended the call (its hang-up is held)


@dataclass(frozen=True)
class BotLine:
    """A bot line being played when the caller started speaking."""

    key: str
    interruptible: bool


@dataclass(frozen=True)
class Reading:
    """How the words heard in a pause read, from the engine's point of view."""

    understood: bool  # the classifier found an intent (not "none")
    complete: bool  # they fully answer the question asked (``DialogEngine.complete_answer``)
    confidence: float  # Whisper's


@dataclass(frozen=True)
class Rules:
    """The thresholds, from configuration (``voicebot.config.Settings``)."""

    silence_timeout_s: float = 7.0
    finished_threshold: float = 0.5  # the turn model's P(finished) that ends a turn in a pause
    early_min_confidence: float = 0.75  # Whisper's confidence for a pause's words to mean something
    # Words nobody understood wait for the final ones, which the LLM reads.
    llm_fallback: bool = False


@dataclass
class _Early:
    turn: int
    text: str
    said_over: bool = False  # the caller resumed over the early answer
    ended_call: bool = False  # the early answer ends the call (hang-up held)
    binding: bool = False  # an opt-out: never withdrawn, whatever the caller says next


@dataclass
class TurnTaking:
    """One call's turn-taking state. Each method takes an event and returns the actions."""

    rules: Rules = field(default_factory=Rules)
    ending: bool = False  # the call is ending: the goodbye plays, nothing more is answered
    caller_speaking: bool = False  # from the VAD's start until the turn's final words
    bot_done_at: float | None = None  # when the bot last finished speaking (None: it is)
    _early: _Early | None = None
    _talked_over: bool = False  # this turn began over a disclosure
    _cut_in: bool = False  # the bot already talked over this turn (a secret being said)
    _silence_at: float | None = None  # the silence timer's deadline, if running

    @property
    def early_turn(self) -> int | None:
        """The turn answered in its pause and not yet settled by its final words, if any."""
        return None if self._early is None else self._early.turn

    # -- the caller ------------------------------------------------------------

    def caller_started(self, now: float, playing: BotLine | None) -> list[Action]:
        """The VAD heard speech (``playing``: the bot line playing at that moment)."""
        actions = self._cancel_timer()
        self.caller_speaking = True
        self._cut_in = False
        if playing is None or self.ending:
            self._talked_over = playing is not None
            return actions
        if playing.interruptible:
            self._talked_over = False
            return [*actions, Action(Act.BARGE_IN, reason=f"over {playing.key}")]
        self._talked_over = True
        return actions

    def caller_resumed(self, turn: int, now: float, playing: BotLine | None) -> list[Action]:
        """Speech again after the pause whose words were answered early."""
        if self._early is None or self._early.turn != turn:
            return []
        self._early.said_over = True
        return self.caller_started(now, playing)

    def secret_heard(self) -> list[Action]:
        """A secret is being said mid-turn: cut in with the warning, once per turn."""
        if self._cut_in or self.ending:
            return []
        self._cut_in = True
        return [*self._cancel_timer(), Action(Act.WARN)]

    def key_pressed(self, digit: str, now: float, playing: BotLine | None) -> list[Action]:
        """A key: it answers (after its hold), cutting a question short, but never a disclosure."""
        if self.ending or (self._early is not None and self._early.ended_call):
            return [Action(Act.IGNORE, reason="key over the goodbye")]
        if playing is not None and not playing.interruptible:
            return [Action(Act.IGNORE, reason=f"key over {playing.key}")]
        actions = self._cancel_timer()
        if playing is not None:
            actions.append(Action(Act.BARGE_IN, reason=f"key over {playing.key}"))
        return [*actions, Action(Act.ANSWER_KEY, text=digit)]

    def words_in_pause(
        self, turn: int, text: str, reading: Reading, finished: float | None, now: float
    ) -> list[Action]:
        """Words heard in a pause, before the VAD is sure the turn ended.

        ``finished``: the turn model's P(the caller has finished), None if it
        has not spoken yet. Answered now only if they fully answer the question
        (whatever the turn model says: it scores finished answers as low as
        0.06 on these voices) or the caller sounds finished; words Whisper is
        not sure of wait, since they may read differently once the pause is
        over; words nothing understood wait for an LLM if there is one.
        """
        if self.ending or self._cut_in or self._talked_over or not text.strip():
            return []
        if self._early is not None and (self._early.turn == turn or self._early.ended_call):
            return []  # this pause's words were answered already, or the call is ending
        reason = self._early_reason(reading, finished)
        if reason is None:
            return []
        self._early = _Early(turn, text)
        self.caller_speaking = False
        return [Action(Act.ANSWER_EARLY, text=text, reason=reason)]

    def turn_ended(
        self, turn: int, text: str, now: float, *, same_as_early: bool = False, secret: bool = False
    ) -> list[Action]:
        """The turn's final words.

        ``same_as_early``: the words answered in the pause were the whole turn;
        ``secret``: the words held a secret (already redacted from ``text``).
        """
        self.caller_speaking = False
        early, self._early = self._early, None
        if early is not None and early.turn == turn:
            if same_as_early or early.binding or not text.strip():
                keep = [Action(Act.KEEP_EARLY, text=early.text)]
                return keep + self._hang_up_if(early.ended_call)
            whole = _whole(early.text, text)
            held = early.ended_call
            return [Action(Act.REDO_EARLY, text=whole, said_over=early.said_over, held=held)]
        if early is not None and early.ended_call:
            # A later turn began before the early goodbye was confirmed: it stands.
            return self._hang_up_if(True)
        if self.ending:
            return [Action(Act.IGNORE, reason="speech over the goodbye")]
        if secret:
            warn = [] if self._cut_in else [Action(Act.WARN)]
            self._cut_in = False
            return warn
        if self._cut_in or self._talked_over:
            self._cut_in = self._talked_over = False
            ignore = Action(Act.IGNORE, reason="said over a disclosure or a warning")
            return [ignore, *self._start_timer(now)]
        if not text.strip():
            return self._start_timer(now)
        return [Action(Act.ANSWER, text=text)]

    # -- the bot -----------------------------------------------------------------

    def replied(
        self, now: float, *, ends_call: bool, provisional: bool = False, opted_out: bool = False
    ) -> list[Action]:
        """A reply went out; ``provisional``: it answers words from a pause.

        An opt-out is final at once (it was stored before its goodbye): it
        hangs up even when heard in a pause, and is never withdrawn.
        """
        self.bot_done_at = None  # the bot is about to speak
        if provisional and self._early is not None:
            self._early.binding = opted_out
            if ends_call and not opted_out:
                self._early.ended_call = True  # hang up once the final words agree
                return []
        if ends_call:
            return self._hang_up_if(True)
        if self._early is not None and not provisional:
            self._early.ended_call = False  # superseded: this reply decides how the call goes on
        return []

    def nothing_to_say(self, now: float) -> list[Action]:
        """A turn was heard and nothing is said back: wait for the caller again."""
        return self._start_timer(now)

    def bot_started(self) -> list[Action]:
        """The bot's audio began: nobody is waiting in silence."""
        self.bot_done_at = None
        return self._cancel_timer()

    def bot_stopped(self, now: float) -> list[Action]:
        """The transport sent the bot's last audio (authoritative, unlike any schedule)."""
        self.bot_done_at = now
        actions: list[Action] = []
        early = self._early
        if early is not None and early.ended_call and not self.caller_speaking:
            # The early goodbye played whole and the caller said nothing more.
            self._early = None
            actions += [Action(Act.KEEP_EARLY, text=early.text), *self._hang_up_if(True)]
            return actions
        return actions + self._start_timer(now)

    def tick(self, now: float) -> list[Action]:
        """Time passed: the silence timer fires once its deadline is reached."""
        if self._silence_at is None or now < self._silence_at:
            return []
        self._silence_at = None
        if self.ending or self.caller_speaking:
            return []
        return [Action(Act.STILL_THERE)]

    def end(self) -> list[Action]:
        """The call is ending (an outcome, a failure, a hang-up): stop every timer."""
        self.ending = True
        return self._cancel_timer()

    # -- internals ---------------------------------------------------------------

    def _early_reason(self, reading: Reading, finished: float | None) -> str | None:
        if reading.understood and reading.confidence < self.rules.early_min_confidence:
            return None
        if reading.complete:
            return "answer"
        if finished is None:
            return None
        if not reading.understood and self.rules.llm_fallback:
            return None
        return "sounds_finished" if finished >= self.rules.finished_threshold else None

    def _start_timer(self, now: float) -> list[Action]:
        if self.ending or self.caller_speaking or self.bot_done_at is None:
            return []  # still talking: the bot's end starts it
        at = now + self.rules.silence_timeout_s
        self._silence_at = at
        return [Action(Act.START_SILENCE_TIMER, at=at)]

    def _cancel_timer(self) -> list[Action]:
        if self._silence_at is None:
            return []
        self._silence_at = None
        return [Action(Act.CANCEL_SILENCE_TIMER)]

    def _hang_up_if(self, ended_call: bool) -> list[Action]:
        if not ended_call or self.ending:
            return []
        self.ending = True
        return [*self._cancel_timer(), Action(Act.HANG_UP)]


def _whole(early: str, final: str) -> str:
    """The whole turn: the early words and what the final words add after them.

    The final recognition covers the whole turn; if it starts with the early
    words it is the early words plus the rest, and if it reads differently
    (Whisper changed its mind on more audio) the final reading wins.
    """
    said, more = _words(early), _words(final)
    if more[: len(said)] != said:
        return final.strip()
    rest = " ".join(final.split()[len(said) :]).strip()
    return f"{early} {rest}".strip()


def added_words(early: str, final: str) -> str | None:
    """What ``final`` adds after ``early``; None if it does not start with those words."""
    said, more = _words(early), _words(final)
    if more[: len(said)] != said:
        return None
    return " ".join(final.split()[len(said) :]).strip()


def _words(text: str) -> list[str]:
    return ["".join(ch for ch in w.lower() if ch.isalnum()) for w in text.split()]
