"""Flow files (``dialogs/*.yaml``) loaded into typed, validated objects.

A flow is data: states, the lines said in each, which answers are expected and
where each leads. ``load_flow`` checks every reference (states, prompt keys) so
that a broken flow fails at start-up, not in the middle of a call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from voicebot.errors import DialogError

REPROMPT = "$reprompt"  # in a recovery step: the current state's reprompt line

OUTCOMES = frozenset(
    {
        "confirmed",
        "denied",
        "unsure",
        "wrong_person",
        "feedback_collected",
        "declined",
        "opted_out",
        "callback_requested",
        "escalated",
        "voicemail_left",
        "no_response",
        "hung_up",
    }
)


@dataclass(frozen=True)
class State:
    """One step of a call."""

    name: str
    say: tuple[str, ...]
    disclosures: frozenset[str] = frozenset()
    expect: str | None = None
    reprompt: str | None = None
    on: dict[str, str] = field(default_factory=dict)
    outcome: str | None = None
    escalate: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.outcome is not None


@dataclass(frozen=True)
class Recovery:
    """One rung of the no-match or silence ladder: say something, or go somewhere."""

    say: tuple[str, ...] = ()
    goto: str | None = None


@dataclass(frozen=True)
class Flow:
    """A whole call, as data."""

    name: str
    start: str
    states: dict[str, State]
    on_no_match: tuple[Recovery, ...]
    on_silence: tuple[Recovery, ...]

    def state(self, name: str) -> State:
        try:
            return self.states[name]
        except KeyError as e:
            raise DialogError(f"flow {self.name}: no state {name!r}") from e


def _state(name: str, raw: dict[str, Any]) -> State:
    say = raw.get("say", [])
    return State(
        name=name,
        say=tuple([say] if isinstance(say, str) else say),
        disclosures=frozenset(raw.get("disclosures", [])),
        expect=raw.get("expect"),
        reprompt=raw.get("reprompt"),
        on=dict(raw.get("answers", {})),
        outcome=raw.get("outcome"),
        escalate=bool(raw.get("escalate", False)),
    )


def _ladder(raw: list[dict[str, Any]] | None) -> tuple[Recovery, ...]:
    return tuple(
        Recovery(say=tuple(step.get("say", [])), goto=step.get("goto")) for step in raw or []
    )


def parse_flow(raw: dict[str, Any], prompt_keys: set[str]) -> Flow:
    """Build a flow from its YAML mapping and check every reference in it."""
    try:
        states = {n: _state(n, s) for n, s in raw["states"].items()}
        states.update({n: _state(n, s) for n, s in raw.get("terminal_states", {}).items()})
        flow = Flow(
            name=raw["name"],
            start=raw["start"],
            states=states,
            on_no_match=_ladder(raw.get("on_no_match")),
            on_silence=_ladder(raw.get("on_silence")),
        )
    except (KeyError, TypeError, AttributeError) as e:
        raise DialogError(f"flow file is malformed: {e!r}") from e

    problems: list[str] = []
    targets = [flow.start]
    for state in states.values():
        targets += state.on.values()
        lines = [*state.say, *state.disclosures, *([state.reprompt] if state.reprompt else [])]
        problems += [
            f"state {state.name}: unknown prompt {k!r}" for k in lines if k not in prompt_keys
        ]
        if state.outcome is not None and state.outcome not in OUTCOMES:
            problems.append(f"state {state.name}: unknown outcome {state.outcome!r}")
        if state.outcome is None and not state.on:
            problems.append(f"state {state.name}: neither an outcome nor any answer")
    for step in (*flow.on_no_match, *flow.on_silence):
        targets += [step.goto] if step.goto else []
        problems += [
            f"recovery: unknown prompt {k!r}"
            for k in step.say
            if k != REPROMPT and k not in prompt_keys
        ]
    problems += [f"unknown state {t!r}" for t in targets if t not in states]
    if problems:
        raise DialogError(f"flow {flow.name}: " + "; ".join(problems))
    return flow


def load_flow(dialogs_dir: Path, name: str, prompt_keys: set[str]) -> Flow:
    """Load and validate ``dialogs/<name>.yaml``."""
    path = dialogs_dir / f"{name}.yaml"
    if not path.exists():
        raise DialogError(f"no flow file {path}")
    with path.open() as f:
        return parse_flow(yaml.safe_load(f), prompt_keys)
