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
                     until the bot hangs up.
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

A machine and the person's turns: the contract lets any scenario list
``caller`` turns, so a file with ``answered_by: machine`` and turns is valid.
The turns are ignored, not played: a machine's whole part is its greeting, its
beep and a silent recording, and it never answers the bot, so there is nothing
for a turn to answer. (A person picking up while the voicemail records would be
a different call, one the bot has already judged a machine.) The turns must
still be well-formed (one action each, known voices, clips that exist), and
each result of such a scenario carries a warning saying they were ignored
(``Scenario.warnings()``, the result's ``warnings``).

Loading many files: ``load_scenarios`` is strict (the first bad file raises
``ScenarioError``; the suite and the benchmark want that), while ``load_each``,
which ``voicebot simulate`` uses, loads every file on its own: a file that
cannot be read or breaks the contract becomes an ``InvalidScenario`` in its
place, so one bad file never hides the results of the others.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        # A machine's caller turns are allowed and ignored (see played_turns).
        if self.answered_by == "human" and (self.greeting is not None or self.beep_hz is not None):
            raise ValueError("greeting and beep_hz are for answered_by: machine only")
        return self

    @model_validator(mode="after")
    def _voices(self) -> Scenario:
        for name in [self.voice, *(turn.voice for turn in self.caller)]:
            if name is not None:
                check_voice(name)
        return self

    @property
    def played_turns(self) -> list[CallerTurn]:
        """The turns the simulator plays: none for a machine, which never answers the bot."""
        return self.caller if self.answered_by == "human" else []

    def warnings(self) -> list[str]:
        """What in the file is valid but has no effect (reported with the result)."""
        if self.answered_by == "machine" and self.caller:
            n = len(self.caller)
            return [
                f"answered_by: machine: {n} caller turn{'s' if n > 1 else ''} ignored "
                "(a machine plays its greeting and beep, then records in silence; "
                "it never answers the bot)"
            ]
        return []

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


class _FileProblem(Exception):
    """Why one scenario file cannot be used (the message names no path)."""


def _parse(path: Path) -> Scenario:
    try:
        raw = yaml.safe_load(path.read_text())
        scenario = Scenario.model_validate(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValidationError) as e:
        raise _FileProblem(str(e)) from e
    scenario.source = path
    for turn in scenario.caller:
        if turn.audio is not None and not turn.audio.is_absolute():
            turn.audio = path.parent / turn.audio
        if turn.audio is not None and not turn.audio.exists():
            raise _FileProblem(f"audio file {turn.audio} not found")
    return scenario


def load_scenario(path: Path) -> Scenario:
    try:
        return _parse(path)
    except _FileProblem as e:
        raise ScenarioError(f"{path}: {e}") from e


@dataclass
class InvalidScenario:
    """A scenario file that could not be used, in place of its scenario."""

    path: Path
    name: str  # the file's ``name:`` when it can be read, else the file's stem
    error: str


def _name_in(path: Path) -> str:
    """The ``name:`` of a file that may be broken, or the file's stem."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return path.stem
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) and name else path.stem


def _files(paths: list[Path]) -> list[tuple[Path, bool]]:
    """(file, exists) for scenario files, and every ``*.yaml`` under folders, sorted by path."""
    files: list[tuple[Path, bool]] = []
    for p in paths:
        if p.is_dir():
            files += [(f, True) for f in sorted(p.rglob("*.yaml"))]
        else:
            files.append((p, p.exists()))
    return files


def load_scenarios(paths: list[Path]) -> list[Scenario]:
    """Scenario files, and every ``*.yaml`` under folders, sorted by path.

    Strict: the first missing or invalid file, or a repeated name, raises.
    """
    scenarios: list[Scenario] = []
    for f, exists in _files(paths):
        if not exists:
            raise ScenarioError(f"{f}: no such file or folder")
        scenarios.append(load_scenario(f))
    names = [s.name for s in scenarios]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ScenarioError(f"scenario names must be unique: {sorted(duplicates)}")
    return scenarios


def load_each(paths: list[Path]) -> list[Scenario | InvalidScenario]:
    """Like ``load_scenarios``, but each file on its own: a bad one is an ``InvalidScenario``.

    In the same order as ``load_scenarios``. A path that does not exist, a file
    that is not readable YAML or breaks the contract, and a file whose name an
    earlier file already took each become an ``InvalidScenario``; the others load.
    """
    loaded: list[Scenario | InvalidScenario] = []
    taken: dict[str, Path] = {}
    for f, exists in _files(paths):
        if not exists:
            loaded.append(InvalidScenario(f, f.stem, "no such file or folder"))
            continue
        try:
            scenario = _parse(f)
        except _FileProblem as e:
            loaded.append(InvalidScenario(f, _name_in(f), str(e)))
            continue
        if scenario.name in taken:
            first = taken[scenario.name]
            error = f"scenario names must be unique: {scenario.name!r} is also {first}"
            loaded.append(InvalidScenario(f, scenario.name, error))
            continue
        taken[scenario.name] = f
        loaded.append(scenario)
    return loaded
