"""Scenario files (contract: shared/contracts/scenarios.md), parsed and checked.

Extensions to the contract (all optional, so older files keep working):
    caller[].voice   which simulated voice says a ``say`` turn: caller-low (the
                     default), caller-high (both Piper, re-pitched) or
                     caller-espeak (eSpeak NG, a different synthesiser); the
                     list is ``voices.VOICES``
    voice            the scenario's default voice
    expect.bot_must_say     words the bot must be heard saying (e.g. a read-back)
    expect.fields_present   fields the stored record must hold (e.g. callback_at)
    greeting         answered_by: machine only: the voicemail greeting, spoken
                     by ``voice``; ``{first_name}`` is the customer's. Default:
                     "Hi, you've reached {first_name}. I can't take your call
                     right now. Please leave a message after the tone."
    beep_hz          answered_by: machine only: the beep after the greeting
                     (default 1000 Hz, 0.5 s); then the machine records, silent,
                     until the bot hangs up. A machine scenario has no caller turns.
    line             the caller's telephone line, applied before mu-law:
                       snr_db: 20        noise this far below the caller's speech
                                         level, under speech and through pauses
                       band_limit: true  handset band-pass, 300-3400 Hz
                       noise: pink       or white
                     Deterministic: the noise is seeded from ``name``.
    answer           how the person takes successive calls to their number when
                     dialed through the simulated Twilio REST API
                     (``simulator/rest.py``), e.g. ``[busy, answered]``: each of
                     answered, busy, no-answer, failed; the last entry holds for
                     every later call. Default: always answered. ``voicebot
                     simulate`` ignores it (it plays the answered call).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.errors import ScenarioError
from voicebot.simulator.voices import check_voice

DEFAULT_GREETING = (
    "Hi, you've reached {first_name}. I can't take your call right now. "
    "Please leave a message after the tone."
)
DEFAULT_BEEP_HZ = 1000.0

AnswerKind = Literal["answered", "busy", "no-answer", "failed"]


class CallerTurn(BaseModel):
    """One thing the person who answers does."""

    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    audio: Path | None = None
    dtmf: str | None = None
    silence: float | None = None
    hangup: bool | None = None
    barge_in_after: float | None = None
    voice: str | None = None

    @model_validator(mode="after")
    def _one_action(self) -> CallerTurn:
        actions = [a for a in ("say", "audio", "dtmf", "silence", "hangup") if getattr(self, a)]
        if len(actions) != 1:
            raise ValueError(
                f"a turn needs exactly one of say/audio/dtmf/silence/hangup, got {actions}"
            )
        if self.dtmf is not None and not all(c in "0123456789*#" for c in self.dtmf):
            raise ValueError(f"dtmf must be keypad digits, got {self.dtmf!r}")
        return self

    @property
    def kind(self) -> str:
        return next(a for a in ("say", "audio", "dtmf", "silence", "hangup") if getattr(self, a))


class LineSpec(BaseModel):
    """The caller's telephone line (extension): noise and handset band-pass."""

    model_config = ConfigDict(extra="forbid")

    snr_db: float | None = Field(default=None, ge=-10, le=80)
    band_limit: bool = False
    noise: Literal["white", "pink"] = "pink"


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str
    escalated: bool | None = None
    rating: int | None = None
    bot_must_not_say: list[str] = Field(default_factory=list)
    transcript_must_not_contain: list[str] = Field(default_factory=list)
    bot_must_say: list[str] = Field(default_factory=list)  # extension
    fields_present: list[str] = Field(default_factory=list)  # extension


class Scenario(BaseModel):
    """One phone call, from the side of the person who answers."""

    model_config = ConfigDict(extra="forbid")

    name: str
    purpose: Literal["transaction_confirmation", "feedback"]
    locale: str = "en-US"
    customer: Customer
    transaction: Transaction | None = None
    case_id: str | None = None
    answered_by: Literal["human", "machine"] = "human"
    voice: str | None = None
    greeting: str | None = None
    beep_hz: float | None = Field(default=None, ge=300, le=3400)
    line: LineSpec = Field(default_factory=LineSpec)
    caller: list[CallerTurn] = Field(default_factory=list)
    answer: list[AnswerKind] = Field(default_factory=list)
    expect: Expect
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _purpose_data(self) -> Scenario:
        if self.purpose == "transaction_confirmation" and self.transaction is None:
            raise ValueError("transaction_confirmation needs a transaction")
        return self

    @model_validator(mode="after")
    def _machine(self) -> Scenario:
        # A machine does not converse: its whole part is greeting, beep, silence.
        if self.answered_by == "machine" and self.caller:
            raise ValueError(
                "answered_by: machine plays its greeting and beep, then records: "
                "it takes no caller turns (set greeting: or beep_hz: instead)"
            )
        if self.answered_by == "human" and (self.greeting is not None or self.beep_hz is not None):
            raise ValueError("greeting and beep_hz are for answered_by: machine only")
        return self

    @model_validator(mode="after")
    def _voices(self) -> Scenario:
        for name in [self.voice, *(turn.voice for turn in self.caller)]:
            if name is not None:
                check_voice(name)
        return self

    def greeting_text(self) -> str:
        """The machine's greeting, with the customer's first name filled in."""
        text = self.greeting if self.greeting is not None else DEFAULT_GREETING
        return text.replace("{first_name}", self.customer.first_name)

    def answer_for(self, attempt: int) -> AnswerKind:
        """How the person takes the ``attempt``-th call (from 0) to their number."""
        if not self.answer:
            return "answered"
        return self.answer[min(attempt, len(self.answer) - 1)]

    def call_context(self) -> CallContext:
        return CallContext(
            purpose=self.purpose,
            locale=self.locale,
            customer=self.customer,
            transaction=self.transaction,
            case_id=self.case_id,
        )


def load_scenario(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text())
        scenario = Scenario.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise ScenarioError(f"{path}: {e}") from e
    scenario.source = path
    for turn in scenario.caller:
        if turn.audio is not None and not turn.audio.is_absolute():
            turn.audio = path.parent / turn.audio
        if turn.audio is not None and not turn.audio.exists():
            raise ScenarioError(f"{path}: audio file {turn.audio} not found")
    return scenario


def load_scenarios(paths: list[Path]) -> list[Scenario]:
    """Scenario files, and every ``*.yaml`` under folders, sorted by path."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += sorted(p.rglob("*.yaml"))
        elif p.exists():
            files.append(p)
        else:
            raise ScenarioError(f"{p}: no such file or folder")
    scenarios = [load_scenario(f) for f in files]
    names = [s.name for s in scenarios]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ScenarioError(f"scenario names must be unique: {sorted(duplicates)}")
    return scenarios
