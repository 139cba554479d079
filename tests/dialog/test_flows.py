from __future__ import annotations

import pytest

from voicebot.dialog.flows import parse_flow
from voicebot.errors import DialogError


def test_broken_references_are_reported_together() -> None:
    raw = {
        "name": "broken",
        "start": "ask",
        "states": {
            "ask": {
                "say": ["missing_prompt"],
                "expect": "yes_no",
                "answers": {"affirm": "nowhere"},
            },
            "done": {"say": ["hello"], "outcome": "made_up"},
        },
    }
    with pytest.raises(DialogError) as error:
        parse_flow(raw, {"hello"})
    message = str(error.value)
    assert "missing_prompt" in message and "nowhere" in message and "made_up" in message


def test_a_state_without_answers_or_outcome_is_refused() -> None:
    raw = {"name": "f", "start": "a", "states": {"a": {"say": ["hello"]}}}
    with pytest.raises(DialogError, match="neither an outcome nor any answer"):
        parse_flow(raw, {"hello"})
