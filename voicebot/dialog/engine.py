"""The dialog engine: runs a flow, one caller input at a time.

Pure and synchronous (no audio, no I/O), so every branch is unit-testable and
the outcome of a call is decided here and only here. The pipeline's policy
stage feeds it what was heard and speaks what it returns.

Each input is first understood (``understand``: the intent classifier's
decision, an ``anywhere`` request if it is one, else the current question's
own answer with its value), then acted on (``act``). The split lets the policy
ask an optional LLM between the two when nothing was understood; the LLM can
only pick one of ``allowed_intents``. The classifier is injected
(``IntentReader``); by default the process's own, loaded once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
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
    classify_comment,
    classify_keypad,
    classify_rating,
    classify_rating_keypad,
    classify_time,
    from_decision,
    normalize,
    request_from,
)
from voicebot.errors import DialogError
from voicebot.understanding.decision import NONE, Decision, vetoed

NO_DECISION = Decision(NONE, 0.0)


class IntentReader(Protocol):
    """Which intent a turn carries, for the kind of question asked (``Understanding``)."""

    def decide(self, text: str, expect: str) -> Decision: ...


# The one request that must never be misheard. Without it Whisper hears "Please
# stop calling me" as "please start calling me"; with "Stop calling me." alone,
# often as "Place that call on me." (7 of 12 syntheses of the suite's caller-high
# voice, against 1 of 12 with this; docs/status.md).
OPT_OUT_SPEECH = "Please stop calling me."
# The ladder's "sorry, I didn't catch that", and what replaces it after a question back.
SORRY = "sorry_didnt_catch"
# "Say that again" this many times in one state; after that it counts as not understood.
MAX_REPEATS = 2
# The opt-out's confirmation; ``<key>_<purpose>`` says a scoped one back in its words.
OPT_OUT_CONFIRMED = "opt_out_confirmed"
QUESTION_DEFLECT = "question_deflect"
# Answers whose meaning is in a value an LLM label cannot carry: never asked of one.
_VALUE_INTENTS = frozenset({"rating", "time", "comment"})
# Answers the turn may end on before the VAD's silence is up (``complete_answer``).
EARLY_EXPECTS = frozenset({"yes_no", "identity", "rating"})
EARLY_INTENTS = frozenset({"affirm", "deny", "rating"})
EARLY_MAX_WORDS = 6


@dataclass(frozen=True)
class Heard:
    """What a classifier gets: the words, their confidence, the model's decision, the facts."""

    text: str
    confidence: float
    values: dict[str, Any]
    now: datetime
    decision: Decision = NO_DECISION


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


def _yes_no(heard: Heard) -> Interpretation:
    return from_decision(heard.decision, heard.text, heard.confidence)


def _identity(heard: Heard) -> Interpretation:
    """ "Am I speaking with Alice?": the model's answer, and the name itself as a yes.

    Whisper often drops a short leading "yes" ("Yes, this is Alice" -> "this is
    Alice"), and the model cannot know which name is the customer's: so a turn
    the model reads as a yes or as nothing in particular, that says the name
    (not "Alice's") and has no veto word ("Alice isn't here"), is a yes.
    """
    answer = from_decision(heard.decision, heard.text, heard.confidence)
    if answer.intent is not Intent.NONE or heard.decision.top not in ("affirm", "other"):
        return answer
    name = normalize(str(heard.values.get("first_name", "")))
    words = normalize(heard.text)
    said = bool(name) and re.search(rf"\b{re.escape(name)}\b(?!'s)", words) is not None
    if said and vetoed(heard.text) is None:
        return Interpretation(Intent.AFFIRM, heard.text, heard.confidence, "speech")
    return answer


def _rating(heard: Heard) -> Interpretation:
    """A rating said in words or digits; a refusal ("no time", "no") declines."""
    rating = classify_rating(heard.text, heard.confidence)
    if rating.intent is Intent.RATING:
        return rating
    if heard.decision.intent in ("decline", "deny"):
        return Interpretation(Intent.DECLINE, heard.text, heard.confidence, "speech")
    return rating


def _comment(heard: Heard) -> Interpretation:
    """Anything said is the comment, unless it says there is none ("no", "that's all")."""
    if heard.decision.intent in ("deny", "decline"):
        return Interpretation(Intent.DENY, heard.text, heard.confidence, "speech")
    return classify_comment(heard.text, heard.confidence)


def _time(heard: Heard) -> Interpretation:
    """A time, or a plain "no" ("no, don't bother") to "when should we call?"."""
    when = classify_time(heard.text, heard.confidence, heard.now)
    if when.intent != Intent.NONE:
        return when
    if heard.decision.intent in ("deny", "decline"):
        return Interpretation(Intent.DENY, heard.text, heard.confidence, "speech")
    return when


def _no_keypad(digits: str) -> Interpretation:
    return Interpretation(Intent.NONE, digits, 1.0, "keypad")


EXPECTATIONS: dict[str, Expectation] = {
    "yes_no": Expectation(_yes_no, _yes_no_keypad, YES_NO_SPEECH),
    "identity": Expectation(_identity, _yes_no_keypad, "Yes, this is {first_name}. No."),
    "rating": Expectation(_rating, classify_rating_keypad, RATING_SPEECH),
    "comment": Expectation(_comment, _no_keypad, ""),
    "time": Expectation(_time, _no_keypad, TIME_SPEECH),
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


@dataclass(frozen=True)
class EngineSnapshot:
    """A copy of a ``DialogEngine``'s mutable state (``snapshot``, ``restore``)."""

    state: State
    outcome: str | None
    escalated: bool
    evidence: Evidence | None
    fields: dict[str, Any]
    values: dict[str, Any]
    counters: tuple[int, int, int]
    pending: str | None
    read_back: bool


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
    reader: IntentReader | None = None  # default: the process's classifier
    state: State = field(init=False)
    outcome: str | None = field(default=None, init=False)
    escalated: bool = field(default=False, init=False)
    evidence: Evidence | None = field(default=None, init=False)
    fields: dict[str, Any] = field(default_factory=dict, init=False)
    _no_match: int = field(default=0, init=False)
    _repeats: int = field(default=0, init=False)  # "say that again" in this state
    _silences: int = field(default=0, init=False)
    _pending: str | None = field(default=None, init=False)  # target held for a read-back
    _read_back: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.state = self.flow.state(self.flow.start)
        if self.reader is None:
            from voicebot.understanding.model import load_understanding

            self.reader = load_understanding()

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
        assert self.reader is not None and self.state.expect is not None
        decision = self.reader.decide(text, self.state.expect)
        request = request_from(decision, text, confidence, self.now())
        if request is not None and request.intent.value in self.flow.anywhere:
            return request
        return expectation.classify(Heard(text, confidence, self.values, self.now(), decision))

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

    def snapshot(self) -> EngineSnapshot:
        """Where the call stands, to go back to if an answer given early is withdrawn."""
        return EngineSnapshot(
            state=self.state,
            outcome=self.outcome,
            escalated=self.escalated,
            evidence=self.evidence,
            fields=dict(self.fields),
            values=dict(self.values),
            counters=(self._no_match, self._silences, self._repeats),
            pending=self._pending,
            read_back=self._read_back,
        )

    def restore(self, snapshot: EngineSnapshot) -> None:
        """Back to ``snapshot``: the caller went on, and the whole turn is what counts."""
        self.state, self.outcome, self.escalated = (
            snapshot.state,
            snapshot.outcome,
            snapshot.escalated,
        )
        self.evidence, self._pending, self._read_back = (
            snapshot.evidence,
            snapshot.pending,
            snapshot.read_back,
        )
        self.fields = dict(snapshot.fields)
        self.values.clear()
        self.values.update(snapshot.values)
        self._no_match, self._silences, self._repeats = snapshot.counters

    def end_with(self, outcome: str, *, escalate: bool) -> None:
        """Close the call from outside the flow (hang-up, technical failure)."""
        if not self.finished:
            self.outcome, self.escalated = outcome, escalate

    # -- internals -----------------------------------------------------------

    def _request(self, target: str, heard: Interpretation) -> Reply:
        """An ``anywhere`` request: repeat, or go to its state (maybe answering it at once)."""
        self._pending = None
        if target == REPEAT:
            self._repeats += 1
            if self._repeats > MAX_REPEATS:  # "what?" again and again: not getting through
                return self._answer(
                    Interpretation(Intent.NONE, heard.text, heard.confidence, heard.source)
                )
            return self._reply(list(self.state.question), self.state)
        asked = self.state.name
        instead: dict[str, str] = {}
        if heard.intent is Intent.OPT_OUT:
            # "No more surveys": that purpose only, and said back in those words.
            scope = heard.value if isinstance(heard.value, str) else None
            self.fields["opt_out_scope"] = scope or "all"
            scoped = f"{OPT_OUT_CONFIRMED}_{scope}"
            if scope and scoped in self.prompts.keys():  # noqa: SIM118 (Prompts is no mapping)
                instead[OPT_OUT_CONFIRMED] = scoped
        reply = self._enter(target, instead)
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
            # A question we cannot answer was heard, not missed: say so, not "sorry?".
            instead = {SORRY: QUESTION_DEFLECT} if heard.intent is Intent.QUESTION else {}
            return self._recover(
                self.flow.on_no_match if ladder is None else ladder, self._no_match, instead
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

    def _recover(
        self, ladder: tuple[Recovery, ...], count: int, instead: dict[str, str] | None = None
    ) -> Reply:
        if not ladder:
            raise DialogError(f"flow {self.flow.name}: no recovery defined")
        step = ladder[min(count, len(ladder)) - 1]
        if step.goto:
            return self._enter(step.goto)
        keys = [self._reprompt_key() if k == REPROMPT else k for k in step.say]
        keys = [(instead or {}).get(k, k) for k in keys]
        return self._reply(keys, self.state)

    def _enter(self, name: str, instead: dict[str, str] | None = None) -> Reply:
        self.state = self.flow.state(name)
        self._no_match = self._silences = self._repeats = 0
        self._pending = None
        if self.state.is_terminal:
            self.outcome, self.escalated = self.state.outcome, self.state.escalate
        return self._reply([(instead or {}).get(k, k) for k in self.state.say], self.state)

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
