"""``voicebot simulate`` over many files: an invalid one is a failed result, the rest run.

The loading and reporting layer is driven through the real command with a
stand-in for the simulator (no calls are placed); ``test_machine_with_turns_call``
in this folder places a real one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import SCENARIOS
from voicebot import cli
from voicebot.config import Settings
from voicebot.errors import ScenarioError
from voicebot.simulator import runner
from voicebot.simulator.runner import ScenarioResult
from voicebot.simulator.scenario import InvalidScenario, Scenario, load_each, load_scenarios

VALID = (SCENARIOS / "confirm-yes.yaml").read_text()


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    return path


def batch(folder: Path) -> dict[str, Path]:
    """One valid scenario and one broken file of each kind, in a folder."""
    return {
        "valid": write(folder, "a-valid.yaml", VALID),
        "yaml": write(folder, "b-bad-yaml.yaml", "name: [unclosed\n"),
        "schema": write(
            folder,
            "c-schema.yaml",
            VALID.replace("confirm-yes", "no-outcome").replace("  outcome: confirmed\n", ""),
        ),
        "audio": write(
            folder,
            "d-audio.yaml",
            VALID.replace("confirm-yes", "clip").replace(
                '  - say: "Yes, that was me."', "  - audio: clips/missing.wav"
            ),
        ),
        "voice": write(
            folder,
            "e-voice.yaml",
            VALID.replace("confirm-yes", "voice").replace(
                '  - say: "Yes, that was me."', '  - {say: "Yes.", voice: nobody}'
            ),
        ),
        "duplicate": write(folder, "f-duplicate.yaml", VALID),
    }


def test_each_file_loads_on_its_own(tmp_path: Path) -> None:
    files = batch(tmp_path)
    loaded = load_each([tmp_path])
    paths = [item.source if isinstance(item, Scenario) else item.path for item in loaded]
    assert paths == sorted(files.values())
    valid, *invalid = loaded
    assert isinstance(valid, Scenario) and valid.name == "confirm-yes"
    assert all(isinstance(item, InvalidScenario) for item in invalid)
    by_file = {item.path.name: item for item in invalid if isinstance(item, InvalidScenario)}
    assert by_file["b-bad-yaml.yaml"].name == "b-bad-yaml"  # unreadable: the file's stem
    assert "while parsing" in by_file["b-bad-yaml.yaml"].error
    assert by_file["c-schema.yaml"].name == "no-outcome"  # readable: its name
    assert "outcome" in by_file["c-schema.yaml"].error
    assert "clips/missing.wav not found" in by_file["d-audio.yaml"].error
    assert "unknown caller voice 'nobody'" in by_file["e-voice.yaml"].error
    assert by_file["f-duplicate.yaml"].name == "confirm-yes"
    assert "must be unique" in by_file["f-duplicate.yaml"].error
    assert str(files["valid"]) in by_file["f-duplicate.yaml"].error


def test_a_missing_path_is_one_invalid_file(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", VALID)
    loaded = load_each([tmp_path / "nowhere.yaml", good])
    assert isinstance(loaded[0], InvalidScenario) and loaded[0].name == "nowhere"
    assert loaded[0].error == "no such file or folder"
    assert isinstance(loaded[1], Scenario)


def test_the_strict_loader_still_fails_fast(tmp_path: Path) -> None:
    batch(tmp_path)
    with pytest.raises(ScenarioError, match=r"b-bad-yaml\.yaml"):
        load_scenarios([tmp_path])
    with pytest.raises(ScenarioError, match="no such file or folder"):
        load_scenarios([tmp_path / "nowhere.yaml"])


class FakeSimulator:
    """Stands in for ``runner.Simulator``: every call 'passes' with its expected outcome."""

    instances: ClassVar[list[FakeSimulator]] = []

    def __init__(self, settings: Settings, **_: Any) -> None:
        self.ran: list[str] = []
        FakeSimulator.instances.append(self)

    async def __aenter__(self) -> FakeSimulator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def run(self, scenarios: list[Scenario], concurrency: int = 1) -> list[ScenarioResult]:
        self.ran += [s.name for s in scenarios]
        return [
            ScenarioResult(
                name=s.name,
                passed=True,
                outcome=s.expect.outcome,
                expected=s.expect.model_dump(exclude_defaults=True),
                escalated=False,
                rating=None,
                failures=[],
                transcript=[],
                latency_ms=[600],
                call_sid="CA123",
                wav=f"out/{s.name}.wav",
                file=str(s.source),
                warnings=s.warnings(),
            )
            for s in scenarios
        ]


@pytest.fixture
def fake_simulator(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> list[FakeSimulator]:
    FakeSimulator.instances = []
    monkeypatch.setattr(runner, "Simulator", FakeSimulator)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    return FakeSimulator.instances


def test_simulate_reports_the_valid_result_and_the_invalid_file(
    tmp_path: Path, fake_simulator: list[FakeSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "a-good.yaml", VALID)
    bad = write(
        tmp_path,
        "b-bad.yaml",
        VALID.replace("confirm-yes", "bad").replace(
            "purpose: transaction_confirmation", "purpose: sales"
        ),
    )
    assert cli.main(["simulate", str(tmp_path), "--json"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [sim.ran for sim in fake_simulator] == [["confirm-yes"]]
    ok, broken = lines
    assert ok["name"] == "confirm-yes" and ok["passed"] and ok["outcome"] == "confirmed"
    assert ok["file"] == str(good) and ok["failures"] == [] and ok["warnings"] == []
    assert broken["name"] == "bad" and broken["passed"] is False
    assert broken["file"] == str(bad)
    [failure] = broken["failures"]
    assert failure.startswith("invalid scenario: ") and "purpose" in failure
    # Every contract field is there, so a reader of the JSON lines needs no special case.
    assert set(ok) <= set(broken)


def test_simulate_text_report_names_the_invalid_file(
    tmp_path: Path, fake_simulator: list[FakeSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "a-good.yaml", VALID)
    write(tmp_path, "b-bad.yaml", "just: [broken\n")
    assert cli.main(["simulate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "PASS confirm-yes" in out
    assert f"FAIL b-bad: {tmp_path / 'b-bad.yaml'}" in out
    assert "- invalid scenario: " in out
    assert "1/2 scenarios passed" in out


def test_simulate_with_only_invalid_files_places_no_call(
    tmp_path: Path, fake_simulator: list[FakeSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "bad.yaml", "name: bad\n")
    assert (
        cli.main(["simulate", str(tmp_path / "bad.yaml"), str(tmp_path / "gone.yaml"), "--json"])
        == 1
    )
    assert fake_simulator == []  # the server and models were never started
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["passed"]) for r in lines] == [("bad", False), ("gone", False)]
    assert lines[1]["failures"] == ["invalid scenario: no such file or folder"]


def test_simulate_runs_a_machine_scenario_with_turns_and_warns(
    fake_simulator: list[FakeSimulator], capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(__file__).parent / "scenarios" / "voicemail-with-turns.yaml"
    assert cli.main(["simulate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "PASS voicemail-with-turns" in out
    assert "! answered_by: machine: 1 caller turn ignored" in out
