"""One live call's own record: who, the transcript so far, and how it ended."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from voicebot.calls.context import CallContext
from voicebot.dialog.engine import DialogEngine
from voicebot.records.calls import Turn


@dataclass
class CallSession:
    """Mutable per-call state shared by the pipeline stages of one call."""

    call_id: str
    call_sid: str
    stream_sid: str
    context: CallContext
    answered_by: str = ""  # Twilio's AnsweredBy: human, machine_start, machine_end_beep, ...
    started: float = field(default_factory=time.monotonic)
    turns: list[Turn] = field(default_factory=list)
    outcome: str | None = None
    escalated: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] | None = None
    failure: str | None = None

    @property
    def machine(self) -> str | None:
        """For a machine: "start" (greeting still playing) or "end" (its beep is past)."""
        if self.answered_by == "machine_start":
            return "start"
        if self.answered_by.startswith("machine_end"):
            return "end"
        return None

    def _offset(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def record_bot(self, text: str) -> None:
        self.turns.append(Turn("bot", text, "prompt", self._offset()))

    def record_caller(self, text: str, source: str, confidence: float) -> None:
        self.turns.append(Turn("caller", text, source, self._offset(), round(confidence, 3)))

    def redact_turns(self, indexes: list[int], text: str) -> None:
        """Replace what was recorded at ``indexes`` (keys that turned out to be a secret)."""
        for i in indexes:
            self.turns[i] = replace(self.turns[i], text=text)

    def conclude(self, engine: DialogEngine) -> None:
        """Copy the engine's decision into the record."""
        self.outcome = engine.outcome
        self.escalated = engine.escalated
        self.fields.update(engine.fields)
        if engine.evidence is not None:
            self.evidence = {
                "state": engine.evidence.state,
                "text": engine.evidence.text,
                "confidence": round(engine.evidence.confidence, 3),
                "source": engine.evidence.source,
                "read_back": engine.evidence.read_back,
            }

    def outcome_record(self) -> dict[str, Any]:
        """The outcome as it leaves the call (Redis now, SQL and webhooks at the end)."""
        return {
            "call_id": self.call_id,
            "call_sid": self.call_sid,
            "purpose": self.context.purpose,
            "outcome": self.outcome,
            "escalated": self.escalated,
            "fields": self.fields,
            "evidence": self.evidence,
            "failure": self.failure,
        }
