"""The consent registry on real PostgreSQL (a schema of its own) and on SQLite.

Each test gets empty tables: the age of the newest DNC list is a fact about the
whole database, so a shared one would make it depend on other tests.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from voicebot.config import Settings
from voicebot.consent.gate import ConsentFacts
from voicebot.consent.registry import (
    InvalidRow,
    consent_facts,
    grant_consent,
    import_dnc_csv,
    parse_dnc_csv,
    revoke_consent,
)
from voicebot.errors import ConsentError, PhoneNumberError
from voicebot.records.db import Database, normalize_url
from voicebot.records.models import ConsentRecord, DncListRecord
from voicebot.records.opt_outs import record_opt_out

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PHONE = "+14155550100"


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'consent.db'}")
        database.create_tables()
        yield database
        database.engine.dispose()
        return
    url = settings.database_url.get_secret_value()
    if not url.startswith("postgres"):
        pytest.skip("TEST_DATABASE_URL is not PostgreSQL")
    schema = f"consent_test_{secrets.token_hex(4)}"
    admin = create_engine(normalize_url(url))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    database = Database(f"{url}?options=-csearch_path%3D{schema}")
    try:
        database.create_tables()
        yield database
    finally:
        database.engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def facts(
    db: Database, purpose: str = "feedback", now: datetime = NOW, phone: str = PHONE
) -> ConsentFacts:
    return consent_facts(db, phone, purpose, now)


def test_the_tables_live_in_the_test_schema_on_postgres(db: Database) -> None:
    grant_consent(db, PHONE, "feedback", "app", NOW)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ConsentRecord)) == 1


def test_nothing_known_about_a_number(db: Database) -> None:
    f = facts(db)
    assert (f.opted_out, f.on_dnc, f.dnc_list_age_days, f.has_consent) == (
        False,
        False,
        None,
        False,
    )


def test_consent_is_per_purpose(db: Database) -> None:
    assert grant_consent(db, PHONE, "feedback", "app", NOW - timedelta(days=1))
    assert facts(db, "feedback").has_consent
    assert not facts(db, "transaction_confirmation").has_consent
    assert not facts(db, "feedback", phone="+14155550101").has_consent


def test_consent_counts_from_its_grant_until_its_revocation(db: Database) -> None:
    grant_consent(db, PHONE, "feedback", "app", NOW)
    assert not facts(db, now=NOW - timedelta(seconds=1)).has_consent
    assert facts(db, now=NOW).has_consent
    assert revoke_consent(db, PHONE, "feedback", "call", NOW + timedelta(hours=1))
    assert facts(db, now=NOW + timedelta(minutes=59)).has_consent
    assert not facts(db, now=NOW + timedelta(hours=1)).has_consent


def test_grant_twice_keeps_the_first_and_one_row(db: Database) -> None:
    assert grant_consent(db, PHONE, "feedback", "app", NOW)
    assert not grant_consent(db, PHONE, "feedback", "web", NOW + timedelta(days=1))
    with db.session() as s:
        [row] = s.scalars(select(ConsentRecord).where(ConsentRecord.phone == PHONE))
        assert (row.source, row.granted_at.replace(tzinfo=UTC)) == ("app", NOW)


def test_a_new_grant_after_a_revocation_restores_consent(db: Database) -> None:
    grant_consent(db, PHONE, "feedback", "app", NOW - timedelta(days=3))
    revoke_consent(db, PHONE, "feedback", "sms", NOW - timedelta(days=2))
    assert not revoke_consent(db, PHONE, "feedback", "sms", NOW - timedelta(days=2))
    assert grant_consent(db, PHONE, "feedback", "web", NOW - timedelta(days=1))
    assert facts(db).has_consent


def test_a_grant_older_than_the_revocation_is_stale(db: Database) -> None:
    grant_consent(db, PHONE, "feedback", "app", NOW - timedelta(days=3))
    revoke_consent(db, PHONE, "feedback", "sms", NOW - timedelta(days=1))
    assert not grant_consent(db, PHONE, "feedback", "app", NOW - timedelta(days=2))
    assert not facts(db).has_consent


def test_a_revocation_that_arrives_before_its_grant_still_wins(db: Database) -> None:
    assert revoke_consent(db, PHONE, "feedback", "sms", NOW - timedelta(days=1))
    assert not grant_consent(db, PHONE, "feedback", "app", NOW - timedelta(days=2))
    assert not facts(db).has_consent


def test_a_revocation_older_than_the_grant_in_force_is_stale(db: Database) -> None:
    grant_consent(db, PHONE, "feedback", "app", NOW - timedelta(days=1))
    assert not revoke_consent(db, PHONE, "feedback", "sms", NOW - timedelta(days=2))
    assert facts(db).has_consent


def test_opt_outs_come_from_the_opt_out_store(db: Database) -> None:
    record_opt_out(db, phone=PHONE, call_id=None, source="sms")
    assert facts(db).opted_out
    assert not facts(db, phone="+14155550101").opted_out


def test_only_e164_numbers(db: Database) -> None:
    with pytest.raises(PhoneNumberError):
        grant_consent(db, "4155550100", "feedback", "app", NOW)
    with pytest.raises(PhoneNumberError):
        revoke_consent(db, "4155550100", "feedback", "app", NOW)
    with pytest.raises(PhoneNumberError):
        consent_facts(db, "+1 415 555 0100", "feedback", NOW)


DNC_CSV = """phone,name
+1 (415) 555-0100,Alice
+442079460000
not a number,Bob
+14155550100,duplicate
,
+1212555010,too short
"""


def test_a_dnc_import_stores_numbers_and_reports_the_rest(db: Database) -> None:
    imported = import_dnc_csv(db, "national", DNC_CSV, "ftc-2025-06.csv", NOW)
    assert (imported.name, imported.source, imported.imported_at) == (
        "national",
        "ftc-2025-06.csv",
        NOW,
    )
    assert imported.entries == 2
    assert imported.invalid == (InvalidRow(4, "not a number"), InvalidRow(7, "+1212555010"))
    assert facts(db).on_dnc
    assert facts(db, phone="+442079460000").on_dnc
    assert not facts(db, phone="+14155550101").on_dnc
    with db.session() as s:
        row = s.get(DncListRecord, imported.id)
        assert row is not None and row.entries == 2


def test_the_dnc_age_is_that_of_the_newest_list(db: Database) -> None:
    import_dnc_csv(db, "national", "+14155550100\n", "file", NOW - timedelta(days=40))
    assert facts(db).dnc_list_age_days == 40
    import_dnc_csv(db, "internal", "+14155550101\n", "file", NOW - timedelta(days=2, hours=12))
    assert facts(db).dnc_list_age_days == 2.5


def test_a_reimport_replaces_the_list_of_that_name_only(db: Database) -> None:
    import_dnc_csv(db, "national", "+14155550100\n+14155550101\n", "may", NOW - timedelta(days=30))
    import_dnc_csv(db, "internal", "+14155550102\n", "ops", NOW - timedelta(days=30))
    import_dnc_csv(db, "national", "+14155550101\n", "june", NOW)
    assert not facts(db, phone="+14155550100").on_dnc  # no longer on the national list
    assert facts(db, phone="+14155550101").on_dnc
    assert facts(db, phone="+14155550102").on_dnc  # the internal list still holds


def test_national_numbers_are_read_in_the_given_region(db: Database) -> None:
    imported = import_dnc_csv(db, "ftc", "4155550100\n", "file", NOW, region="US")
    assert (imported.entries, imported.invalid) == (1, ())
    assert facts(db).on_dnc
    assert parse_dnc_csv("4155550100\n") == ([], [InvalidRow(1, "4155550100")])


@pytest.mark.parametrize("csv_text", ["", "phone\n", "phone\nnope\n12\n"])
def test_a_file_without_numbers_is_refused_and_stores_nothing(db: Database, csv_text: str) -> None:
    with pytest.raises(ConsentError):
        import_dnc_csv(db, "national", csv_text, "file", NOW)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(DncListRecord)) == 0
    assert facts(db).dnc_list_age_days is None


def test_a_large_list_is_stored_in_batches(db: Database) -> None:
    numbers = "\n".join(f"+1415{n:07d}" for n in range(12_000))
    imported = import_dnc_csv(db, "big", "\ufeffphone\n" + numbers, "file", NOW)
    assert (imported.entries, imported.invalid) == (12_000, ())
    assert facts(db, phone="+14150011999").on_dnc


def test_a_withdrawn_purpose_is_known_until_consent_is_given_again(db: Database) -> None:
    """ "No more payment calls" on a call: that purpose alone, even without a grant before."""
    assert revoke_consent(db, PHONE, "transaction_confirmation", "call", NOW - timedelta(hours=1))
    assert facts(db, "transaction_confirmation").purpose_revoked
    assert not facts(db, "feedback").purpose_revoked
    assert not facts(db, "transaction_confirmation").opted_out  # not every purpose
    assert grant_consent(db, PHONE, "transaction_confirmation", "app", NOW - timedelta(minutes=1))
    assert not facts(db, "transaction_confirmation").purpose_revoked


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14))),
    ],
    ids=["year 1 at +14", "year 9999 at -14"],
)
def test_a_moment_with_no_date_in_utc_is_refused_before_anything_is_stored(
    db: Database, at: datetime
) -> None:
    """Such a row was once written, and then every read of the number failed."""
    for store in (grant_consent, revoke_consent):
        with pytest.raises(ConsentError, match="nothing was stored"):
            store(db, PHONE, "feedback", "app", at)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ConsentRecord)) == 0
    assert not facts(db).has_consent


def test_a_moment_is_stored_as_the_same_instant_whatever_its_offset(db: Database) -> None:
    """SQLite keeps no offset: 14:00+02:00 must be stored as 12:00 UTC, not 14:00."""
    grant_consent(db, PHONE, "feedback", "app", NOW.astimezone(timezone(timedelta(hours=2))))
    assert not facts(db, now=NOW - timedelta(seconds=1)).has_consent
    assert facts(db, now=NOW).has_consent
