"""Scenario files (contract: shared/contracts/scenarios.md), parsed and checked.

Extensions to the contract (all optional, so older files keep working):
    caller[].voice   which simulated voice says a ``say`` turn (see ``voices``)
    voice            the scenario's default voice
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.errors import ScenarioError


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


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str
    escalated: bool | None = None
    rating: int | None = None
    bot_must_not_say: list[str] = Field(default_factory=list)
    transcript_must_not_contain: list[str] = Field(default_factory=list)


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
    caller: list[CallerTurn] = Field(default_factory=list)
    expect: Expect
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _purpose_data(self) -> Scenario:
        if self.purpose == "transaction_confirmation" and self.transaction is None:
            raise ValueError("transaction_confirmation needs a transaction")
        return self

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
