"""The dialog engine: runs a flow, one caller input at a time.

Pure and synchronous (no audio, no I/O), so every branch is unit-testable and
the outcome of a call is decided here and only here. The pipeline's policy
stage feeds it what was heard and speaks what it returns.

Each input is first understood (``understand``: the flow's ``anywhere``
requests, then the current question's own answers), then acted on (``act``).
The split lets the policy ask an optional LLM between the two when the offline
classifier found nothing; the LLM can only pick one of ``allowed_intents``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from voicebot.dialog.flows import REPEAT, REPROMPT, Flow, Recovery, State
from voicebot.dialog.phrasing import say_when
from voicebot.dialog.prompts import Prompts
from voicebot.dialog.understanding import (
    RATING_SPEECH,
    TIME_SPEECH,
    YES_NO_KEYPAD,
    YES_NO_SPEECH,
    Intent,
    Interpretation,
    classify_anywhere,
    classify_comment,
    classify_identity,
    classify_keypad,
    classify_rating,
    classify_rating_keypad,
    classify_time,
    classify_yes_no,
)
from voicebot.errors import DialogError

# The one request that must never be misheard. Without it Whisper hears "Please
# stop calling me" as "please start calling me"; with "Stop calling me." alone,
# often as "Place that call on me." (7 of 12 syntheses of the suite's caller-high
# voice, against 1 of 12 with this; docs/status.md).
OPT_OUT_SPEECH = "Please stop calling me."
# Answers whose meaning is in a value an LLM label cannot carry: never asked of one.
_VALUE_INTENTS = frozenset({"rating", "time", "comment"})
# Answers the turn may end on before the VAD's silence is up (``complete_answer``).
EARLY_EXPECTS = frozenset({"yes_no", "identity", "rating"})
EARLY_INTENTS = frozenset({"affirm", "deny", "rating"})
EARLY_MAX_WORDS = 6


@dataclass(frozen=True)
class Heard:
    """What a classifier gets: the words, their confidence, and the call's facts."""

    text: str
    confidence: float
    values: dict[str, Any]
    now: datetime


@dataclass(frozen=True)
class Expectation:
    """How answers to one kind of question are understood.

    ``expected_speech`` (likely answers, as a transcript: Whisper's initial
    prompt) is a template over the call's prompt values, so the identity check
    biases recognition toward the customer's name.
    """

    classify: Callable[[Heard], Interpretation]
    keypad: Callable[[str], Interpretation]
    expected_speech: str


def _yes_no_keypad(digits: str) -> Interpretation:
    return classify_keypad(digits, YES_NO_KEYPAD)


def _classify_time(heard: Heard) -> Interpretation:
    """A time, or a plain "no" ("no, don't bother") to "when should we call?"."""
    when = classify_time(heard.text, heard.confidence, heard.now)
    if when.intent != Intent.NONE:
        return when
    answer = classify_yes_no(heard.text, heard.confidence)
    return answer if answer.intent == Intent.DENY else when


def _no_keypad(digits: str) -> Interpretation:
    return Interpretation(Intent.NONE, digits, 1.0, "keypad")


EXPECTATIONS: dict[str, Expectation] = {
    "yes_no": Expectation(
        lambda h: classify_yes_no(h.text, h.confidence), _yes_no_keypad, YES_NO_SPEECH
    ),
    "identity": Expectation(
        lambda h: classify_identity(h.text, h.confidence, str(h.values.get("first_name", ""))),
        _yes_no_keypad,
        "Yes, this is {first_name}. No.",
    ),
    "rating": Expectation(
        lambda h: classify_rating(h.text, h.confidence), classify_rating_keypad, RATING_SPEECH
    ),
    "comment": Expectation(lambda h: classify_comment(h.text, h.confidence), _no_keypad, ""),
    "time": Expectation(lambda h: _classify_time(h), _no_keypad, TIME_SPEECH),
}


@dataclass(frozen=True)
class Line:
    """One line for the bot to say."""

    key: str
    text: str
    interruptible: bool


@dataclass(frozen=True)
class Reply:
    """What the bot does next: say these lines, then listen or hang up."""

    lines: tuple[Line, ...]
    expected_speech: str = ""
    outcome: str | None = None
    escalate: bool = False
    # What the caller's answer may make the bot say next (``DialogEngine.likely_next``).
    likely_next: tuple[str, ...] = ()

    @property
    def ends_call(self) -> bool:
        return self.outcome is not None


@dataclass
class Evidence:
    """The caller input that decided the outcome."""

    state: str
    text: str
    confidence: float
    source: str
    read_back: bool = False  # a low-confidence "yes" that the caller confirmed when read back


def _utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass
class DialogEngine:
    """One call's position in its flow."""

    flow: Flow
    prompts: Prompts
    values: dict[str, Any]
    timezone: str = "UTC"
    clock: Callable[[], datetime] = _utc_now
    state: State = field(init=False)
    outcome: str | None = field(default=None, init=False)
    escalated: bool = field(default=False, init=False)
    evidence: Evidence | None = field(default=None, init=False)
    fields: dict[str, Any] = field(default_factory=dict, init=False)
    _no_match: int = field(default=0, init=False)
    _silences: int = field(default=0, init=False)
    _pending: str | None = field(default=None, init=False)  # target held for a read-back
    _read_back: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.state = self.flow.state(self.flow.start)

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def expectation(self) -> Expectation | None:
        if self.state.expect is None:
            return None
        try:
            return EXPECTATIONS[self.state.expect]
        except KeyError as e:
            raise DialogError(
                f"state {self.state.name}: unknown expect {self.state.expect!r}"
            ) from e

    def now(self) -> datetime:
        """Now, in the customer's time zone (times they say are theirs)."""
        return self.clock().astimezone(ZoneInfo(self.timezone))

    # -- inputs --------------------------------------------------------------

    def start(self) -> Reply:
        """The opening of the call."""
        return self._enter(self.state.name)

    def voicemail(self) -> Reply:
        """A machine answered and beeped: leave the flow's message and hang up."""
        if self.flow.voicemail is None:
            raise DialogError(f"flow {self.flow.name}: no voicemail state")
        return self._enter(self.flow.voicemail)

    def understand(self, text: str, confidence: float) -> Interpretation:
        """What ``text`` means here: an ``anywhere`` request, or an answer (maybe NONE)."""
        expectation = self.expectation
        if expectation is None or confidence < self.flow.min_confidence:
            # Noise Whisper turned into words ("banana pancakes" -> "but no no pancakes",
            # 0.31) must not answer anything: it is asked again instead.
            return Interpretation(Intent.NONE, text, confidence, "speech")
        request = classify_anywhere(text, confidence, self.now())
        if request is not None and request.intent.value in self.flow.anywhere:
            return request
        return expectation.classify(Heard(text, confidence, self.values, self.now()))

    def complete_answer(self, heard: Interpretation) -> bool:
        """Whether ``heard`` fully answers the question, so the turn may end before the VAD is sure.

        Only a short, clear yes/no (or identity) or a rating, that the current
        state acts on without reading it back: such an answer rarely goes on.
        Anything open-ended (a comment, a time, a request) waits for the VAD.
        """
        if self.finished or self.state.expect not in EARLY_EXPECTS:
            return False
        if heard.source != "speech" or heard.intent.value not in EARLY_INTENTS:
            return False
        if len(heard.text.split()) > EARLY_MAX_WORDS:
            return False
        if self._pending is not None:  # a read-back: "is that right?"
            return heard.intent in (Intent.AFFIRM, Intent.DENY)
        if heard.intent.value not in self.state.on:
            return False
        return not self._needs_read_back(heard)

    def allowed_intents(self) -> list[str]:
        """Labels an LLM may choose from here: the question's answers and ``anywhere``."""
        if self.finished or self.expectation is None:
            return []
        answers = [a for a in self.state.on if a not in _VALUE_INTENTS]
        return [*answers, *self.flow.anywhere]

    def question_text(self) -> str:
        """The current question as the caller heard it (context for an LLM)."""
        return " ".join(self.prompts.render(k, self.values) for k in self.state.question)

    def hear(self, text: str, confidence: float) -> Reply | None:
        """The caller said ``text``. ``None`` when there was nothing to act on."""
        if self.finished or not text.strip() or self.expectation is None:
            return None
        return self.act(self.understand(text, confidence))

    def act(self, heard: Interpretation) -> Reply | None:
        """Move the call on from an understood input."""
        if self.finished or self.expectation is None:
            return None
        target = self.flow.anywhere.get(heard.intent.value)
        if target is not None:
            return self._request(target, heard)
        if self._pending is not None:
            return self._after_read_back(heard)
        return self._answer(heard)

    def keypad(self, digits: str) -> Reply | None:
        """The caller pressed keys."""
        expectation = self.expectation
        if self.finished or expectation is None:
            return None
        return self.act(expectation.keypad(digits))

    def silence(self) -> Reply | None:
        """The caller said nothing for the silence timeout."""
        if self.finished:
            return None
        self._silences += 1
        ladder = self.state.on_silence
        return self._recover(self.flow.on_silence if ladder is None else ladder, self._silences)

    def secret(self) -> Reply | None:
        """The caller started saying a secret: warn them, then ask the question again."""
        if self.finished or not self.flow.on_secret:
            return None
        keys = [self._reprompt_key() if k == REPROMPT else k for k in self.flow.on_secret]
        warning = frozenset(k for k in self.flow.on_secret if k != REPROMPT)
        return self._reply(keys, self.state, disclosures=warning)

    def end_with(self, outcome: str, *, escalate: bool) -> None:
        """Close the call from outside the flow (hang-up, technical failure)."""
        if not self.finished:
            self.outcome, self.escalated = outcome, escalate

    # -- internals -----------------------------------------------------------

    def _request(self, target: str, heard: Interpretation) -> Reply:
        """An ``anywhere`` request: repeat, or go to its state (maybe answering it at once)."""
        self._pending = None
        if target == REPEAT:
            return self._reply(list(self.state.question), self.state)
        asked = self.state.name
        reply = self._enter(target)
        if heard.value is not None and self.state.expect == "time":
            # "Call me tomorrow at 5" already answers "when should we call?".
            return self._answer(
                Interpretation(Intent.TIME, heard.text, heard.confidence, heard.source, heard.value)
            )
        if self.finished:
            self.evidence = Evidence(asked, heard.text, heard.confidence, heard.source)
        return reply

    def _answer(self, heard: Interpretation) -> Reply:
        target = self.state.on.get(heard.intent.value) if heard.intent != Intent.NONE else None
        if target is None:
            self._no_match += 1
            ladder = self.state.on_no_match
            return self._recover(
                self.flow.on_no_match if ladder is None else ladder, self._no_match
            )
        if self._needs_read_back(heard):
            self._pending = target
            assert self.state.readback is not None  # the flow loader checks it
            return self._reply([self.state.readback], self.state)
        return self._go(target, heard)

    def _needs_read_back(self, heard: Interpretation) -> bool:
        """A yes counts at once only if it was clearly heard and not inferred by an LLM."""
        if heard.intent != Intent.AFFIRM or not self.state.readback:
            return False
        if heard.source == "speech+llm":
            return True
        return heard.source == "speech" and heard.confidence < self.state.confirm_below

    def _after_read_back(self, heard: Interpretation) -> Reply:
        """The answer to "You made it, is that right?": only a clear yes lets it count."""
        pending, self._pending = self._pending, None
        assert pending is not None
        if heard.intent == Intent.AFFIRM:
            self._read_back = True
            return self._go(pending, heard)
        if heard.intent == Intent.DENY:
            # "No, that's not right" undoes the yes; it is not an answer to the question.
            return self._reply([self._reprompt_key()], self.state)
        return self._answer(heard)

    def _go(self, target: str, heard: Interpretation) -> Reply:
        asked = self.state.name
        if self.state.store and heard.value is not None:
            self._store(self.state.store, heard.value)
        reply = self._enter(target)
        if self.finished:
            self.evidence = Evidence(
                asked, heard.text, heard.confidence, heard.source, read_back=self._read_back
            )
        return reply

    def _store(self, name: str, value: Any) -> None:
        if isinstance(value, datetime):
            self.fields[name] = value.isoformat()
            self.values[name] = say_when(value, self.timezone, now=self.now())
        else:
            self.fields[name] = value
            self.values[name] = value

    def likely_next(self) -> tuple[str, ...]:
        """The first line of each reply the current question may lead to, as said on this call.

        For the synthesiser to make while the caller answers: a line with the
        customer's name or amount ("Just to be sure: you made the payment of
        912 dollars...") is not among the phrases made at start-up. A line
        that needs a value not known yet (the callback time) is left out.
        """
        if self.finished or self.expectation is None:
            return ()
        targets = [*self.state.on.values(), *self.flow.anywhere.values()]
        says = [self.flow.state(t).say for t in targets if t != REPEAT]
        keys = [say[0] for say in says if say]
        keys += [k for k in (self.state.readback, self._reprompt_key()) if k]
        texts: list[str] = []
        for key in dict.fromkeys(keys):
            try:
                texts.append(self.prompts.render(key, self.values))
            except DialogError:
                continue  # a value the caller has yet to give
        return tuple(texts)

    def _reprompt_key(self) -> str:
        return self.state.reprompt or self.state.say[-1]

    def _recover(self, ladder: tuple[Recovery, ...], count: int) -> Reply:
        if not ladder:
            raise DialogError(f"flow {self.flow.name}: no recovery defined")
        step = ladder[min(count, len(ladder)) - 1]
        if step.goto:
            return self._enter(step.goto)
        keys = [self._reprompt_key() if k == REPROMPT else k for k in step.say]
        return self._reply(keys, self.state)

    def _enter(self, name: str) -> Reply:
        self.state = self.flow.state(name)
        self._no_match = self._silences = 0
        self._pending = None
        if self.state.is_terminal:
            self.outcome, self.escalated = self.state.outcome, self.state.escalate
        return self._reply(list(self.state.say), self.state)

    def _reply(
        self, keys: list[str], state: State, disclosures: frozenset[str] = frozenset()
    ) -> Reply:
        lines = tuple(
            Line(
                key=k,
                text=self.prompts.render(k, self.values),
                interruptible=k not in state.disclosures and k not in disclosures,
            )
            for k in keys
        )
        expectation = self.expectation
        speech = expectation.expected_speech.format_map(self.values) if expectation else ""
        if expectation and "opt_out" in self.flow.anywhere:
            speech = f"{speech} {OPT_OUT_SPEECH}".strip()
        return Reply(
            lines=lines,
            expected_speech=speech,
            outcome=state.outcome,
            escalate=state.escalate,
            likely_next=self.likely_next(),
        )
