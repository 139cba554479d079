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
REPEAT = "$repeat"  # as a target in ``anywhere``: say the current question again

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

# What a state may listen for (``expect``), and the answers each can produce.
EXPECTS: dict[str, frozenset[str]] = {
    "yes_no": frozenset({"affirm", "deny", "unsure"}),
    "identity": frozenset({"affirm", "deny", "unsure"}),
    "rating": frozenset({"rating", "decline"}),
    "comment": frozenset({"comment", "deny"}),
    "time": frozenset({"time", "deny"}),
}
# Requests honoured in any state that listens (the flow's ``anywhere`` section).
ANYWHERE = frozenset({"opt_out", "agent", "callback", "repeat"})


@dataclass(frozen=True)
class Recovery:
    """One rung of the no-match or silence ladder: say something, or go somewhere."""

    say: tuple[str, ...] = ()
    goto: str | None = None


@dataclass(frozen=True)
class State:
    """One step of a call."""

    name: str
    say: tuple[str, ...]
    disclosures: frozenset[str] = frozenset()
    expect: str | None = None
    reprompt: str | None = None
    repeat: tuple[str, ...] = ()  # what "say that again" repeats; default: say minus disclosures
    on: dict[str, str] = field(default_factory=dict)
    store: str | None = None  # keep the answer's value (rating, time, comment) under this field
    confirm_below: float = 0.0  # a spoken "yes" less confident than this is read back first
    readback: str | None = None  # the read-back line
    on_no_match: tuple[Recovery, ...] | None = None  # this state's own ladders, if any
    on_silence: tuple[Recovery, ...] | None = None
    outcome: str | None = None
    escalate: bool = False

    @property
    def is_terminal(self) -> bool:
        return self.outcome is not None

    @property
    def question(self) -> tuple[str, ...]:
        """The lines that ask this state's question again."""
        return self.repeat or tuple(k for k in self.say if k not in self.disclosures)


@dataclass(frozen=True)
class Flow:
    """A whole call, as data."""

    name: str
    start: str
    states: dict[str, State]
    on_no_match: tuple[Recovery, ...]
    on_silence: tuple[Recovery, ...]
    anywhere: dict[str, str] = field(default_factory=dict)
    on_secret: tuple[str, ...] = ()  # said when the caller starts saying a secret
    voicemail: str | None = None  # the state that leaves a message on a machine
    min_confidence: float = 0.0  # speech recognised less surely than this is not understood

    def state(self, name: str) -> State:
        try:
            return self.states[name]
        except KeyError as e:
            raise DialogError(f"flow {self.name}: no state {name!r}") from e


def _ladder(raw: list[dict[str, Any]] | None) -> tuple[Recovery, ...]:
    return tuple(
        Recovery(say=tuple(step.get("say", [])), goto=step.get("goto")) for step in raw or []
    )


def _keys(raw: Any) -> tuple[str, ...]:
    return tuple([raw] if isinstance(raw, str) else raw or [])


def _state(name: str, raw: dict[str, Any]) -> State:
    return State(
        name=name,
        say=_keys(raw.get("say")),
        disclosures=frozenset(raw.get("disclosures", [])),
        expect=raw.get("expect"),
        reprompt=raw.get("reprompt"),
        repeat=_keys(raw.get("repeat")),
        on=dict(raw.get("answers", {})),
        store=raw.get("store"),
        confirm_below=float(raw.get("confirm_below", 0.0)),
        readback=raw.get("readback"),
        on_no_match=_ladder(raw["on_no_match"]) if "on_no_match" in raw else None,
        on_silence=_ladder(raw["on_silence"]) if "on_silence" in raw else None,
        outcome=raw.get("outcome"),
        escalate=bool(raw.get("escalate", False)),
    )


def _check_state(state: State, prompt_keys: set[str]) -> list[str]:
    where = f"state {state.name}"
    problems: list[str] = []
    lines = [
        *state.say,
        *state.disclosures,
        *state.repeat,
        *([state.reprompt] if state.reprompt else []),
        *([state.readback] if state.readback else []),
    ]
    problems += [f"{where}: unknown prompt {k!r}" for k in lines if k not in prompt_keys]
    if state.outcome is not None and state.outcome not in OUTCOMES:
        problems.append(f"{where}: unknown outcome {state.outcome!r}")
    if state.outcome is None and not state.on:
        problems.append(f"{where}: neither an outcome nor any answer")
    if state.on and state.expect not in EXPECTS:
        problems.append(f"{where}: expect must be one of {sorted(EXPECTS)}, not {state.expect!r}")
    elif state.expect is not None:
        allowed = EXPECTS[state.expect]
        problems += [
            f"{where}: {state.expect} questions cannot be answered {a!r}"
            for a in state.on
            if a not in allowed
        ]
    if state.confirm_below and not state.readback:
        problems.append(f"{where}: confirm_below needs a readback line")
    return problems


def _check_ladder(ladder: tuple[Recovery, ...], prompt_keys: set[str]) -> list[str]:
    return [
        f"recovery: unknown prompt {k!r}"
        for step in ladder
        for k in step.say
        if k != REPROMPT and k not in prompt_keys
    ]


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
            anywhere=dict(raw.get("anywhere", {})),
            on_secret=_keys(raw.get("on_secret")),
            voicemail=raw.get("voicemail"),
            min_confidence=float(raw.get("min_confidence", 0.0)),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise DialogError(f"flow file is malformed: {e!r}") from e

    problems: list[str] = []
    targets = [flow.start, *([flow.voicemail] if flow.voicemail else [])]
    for state in states.values():
        targets += state.on.values()
        problems += _check_state(state, prompt_keys)
        for ladder in (state.on_no_match, state.on_silence):
            if ladder is not None:
                problems += _check_ladder(ladder, prompt_keys)
                targets += [step.goto for step in ladder if step.goto]
    for step in (*flow.on_no_match, *flow.on_silence):
        targets += [step.goto] if step.goto else []
    problems += _check_ladder((*flow.on_no_match, *flow.on_silence), prompt_keys)
    problems += [
        f"anywhere: unknown request {k!r} (known: {sorted(ANYWHERE)})"
        for k in flow.anywhere
        if k not in ANYWHERE
    ]
    targets += [t for t in flow.anywhere.values() if t != REPEAT]
    problems += [
        f"on_secret: unknown prompt {k!r}"
        for k in flow.on_secret
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
