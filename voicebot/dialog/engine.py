"""The dialog engine: runs a flow, one caller input at a time.

Pure and synchronous (no audio, no I/O), so every branch is unit-testable and
the outcome of a call is decided here and only here. The pipeline's policy
stage feeds it what was heard and speaks what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voicebot.dialog.flows import REPROMPT, Flow, Recovery, State
from voicebot.dialog.prompts import Prompts
from voicebot.dialog.understanding import (
    YES_NO_HOTWORDS,
    YES_NO_KEYPAD,
    Intent,
    Interpretation,
    classify_identity,
    classify_keypad,
    classify_yes_no,
)
from voicebot.errors import DialogError


@dataclass(frozen=True)
class Expectation:
    """How answers to one kind of question are understood.

    ``classify`` gets the call's prompt values too (the identity check needs the
    customer's name); ``hotwords`` is a template over the same values.
    """

    classify: Callable[[str, float, dict[str, Any]], Interpretation]
    keypad: dict[str, Intent]
    hotwords: str


EXPECTATIONS: dict[str, Expectation] = {
    "yes_no": Expectation(
        lambda text, conf, _values: classify_yes_no(text, conf), YES_NO_KEYPAD, YES_NO_HOTWORDS
    ),
    "identity": Expectation(
        lambda text, conf, values: classify_identity(text, conf, str(values.get("first_name", ""))),
        YES_NO_KEYPAD,
        YES_NO_HOTWORDS + " {first_name}",
    ),
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
    hotwords: str = ""
    outcome: str | None = None
    escalate: bool = False

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


@dataclass
class DialogEngine:
    """One call's position in its flow."""

    flow: Flow
    prompts: Prompts
    values: dict[str, Any]
    state: State = field(init=False)
    outcome: str | None = field(default=None, init=False)
    escalated: bool = field(default=False, init=False)
    evidence: Evidence | None = field(default=None, init=False)
    _no_match: int = field(default=0, init=False)
    _silences: int = field(default=0, init=False)

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

    def start(self) -> Reply:
        """The opening of the call."""
        return self._enter(self.state.name)

    def hear(self, text: str, confidence: float) -> Reply | None:
        """The caller said ``text``. ``None`` when there was nothing to act on."""
        if self.finished or not text.strip():
            return None
        expectation = self.expectation
        if expectation is None:
            return None
        return self._answer(expectation.classify(text, confidence, self.values))

    def keypad(self, digits: str) -> Reply | None:
        """The caller pressed keys."""
        expectation = self.expectation
        if self.finished or expectation is None:
            return None
        return self._answer(classify_keypad(digits, expectation.keypad))

    def silence(self) -> Reply | None:
        """The caller said nothing for the silence timeout."""
        if self.finished:
            return None
        self._silences += 1
        return self._recover(self.flow.on_silence, self._silences)

    def end_with(self, outcome: str, *, escalate: bool) -> None:
        """Close the call from outside the flow (hang-up, technical failure)."""
        if not self.finished:
            self.outcome, self.escalated = outcome, escalate

    # -- internals ---------------------------------------------------------

    def _answer(self, heard: Interpretation) -> Reply:
        target = self.state.on.get(heard.intent.value) if heard.intent != Intent.NONE else None
        if target is None:
            self._no_match += 1
            return self._recover(self.flow.on_no_match, self._no_match)
        asked = self.state.name
        reply = self._enter(target)
        if self.finished:
            self.evidence = Evidence(asked, heard.text, heard.confidence, heard.source)
        return reply

    def _recover(self, ladder: tuple[Recovery, ...], count: int) -> Reply:
        if not ladder:
            raise DialogError(f"flow {self.flow.name}: no recovery defined")
        step = ladder[min(count, len(ladder)) - 1]
        if step.goto:
            return self._enter(step.goto)
        keys = [self.state.reprompt or self.state.say[-1] if k == REPROMPT else k for k in step.say]
        return self._reply(keys, self.state)

    def _enter(self, name: str) -> Reply:
        self.state = self.flow.state(name)
        self._no_match = self._silences = 0
        if self.state.is_terminal:
            self.outcome, self.escalated = self.state.outcome, self.state.escalate
        return self._reply(list(self.state.say), self.state)

    def _reply(self, keys: list[str], state: State) -> Reply:
        lines = tuple(
            Line(
                key=k,
                text=self.prompts.render(k, self.values),
                interruptible=k not in state.disclosures,
            )
            for k in keys
        )
        expectation = self.expectation
        return Reply(
            lines=lines,
            hotwords=expectation.hotwords.format_map(self.values) if expectation else "",
            outcome=state.outcome,
            escalate=state.escalate,
        )
