"""The ``voicebot`` command's own work: ``dnc-import`` (the rest is driven by the e2e tests)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.outcomes.helpers import isolated_schema
from voicebot.cli import main
from voicebot.config import Settings, get_settings
from voicebot.consent.registry import consent_facts
from voicebot.records.db import Database


@pytest.fixture
def database_url(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with isolated_schema(settings.database_url) as url:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        yield url
    get_settings.cache_clear()


def test_dnc_import_stores_the_list_and_reports_bad_lines(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    phone = f"+1415{secrets.randbelow(10**7):07d}"
    csv_file = tmp_path / "dnc.csv"
    csv_file.write_text(f"phone,note\n{phone},asked\n(202) 555-0143,\nnot a number,\n")
    assert main(["dnc-import", "internal", str(csv_file), "--region", "US"]) == 0
    printed = capsys.readouterr().out
    assert "2 numbers imported" in printed
    assert "line 4" in printed
    db = Database(database_url)
    try:
        now = datetime.now(UTC)
        assert consent_facts(db, phone, "feedback", now).on_dnc
        assert consent_facts(db, "+12025550143", "feedback", now).on_dnc
    finally:
        db.engine.dispose()


def test_dnc_import_of_a_missing_file_is_a_clear_error(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dnc-import", "internal", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err
