"""The consent registry: consent per purpose and do-not-call lists, durable in SQL.

Blocking; async code calls it through ``asyncio.to_thread``. Opt-outs stay in
``voicebot.records.opt_outs`` (one store for them); ``consent_facts`` reads all
three for the gate, which alone decides. Every stored number is E.164.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

import phonenumbers
from sqlalchemy import Select, func, insert, select
from sqlalchemy.exc import IntegrityError

from voicebot.consent.gate import ConsentFacts
from voicebot.errors import ConsentError, PhoneNumberError
from voicebot.records.db import Database
from voicebot.records.models import ConsentRecord, DncEntryRecord, DncListRecord, OptOut
from voicebot.records.opt_outs import E164, is_opted_out

_INSERT_BATCH = 5000


@dataclass(frozen=True)
class InvalidRow:
    """A CSV line whose first column is not a phone number we can store."""

    line: int
    value: str


@dataclass(frozen=True)
class DncList:
    """One imported do-not-call list, with the lines that could not be read."""

    id: int
    name: str
    imported_at: datetime
    source: str
    entries: int
    invalid: tuple[InvalidRow, ...] = ()


def _e164(phone: str) -> str:
    if not E164.fullmatch(phone):
        raise PhoneNumberError(f"not an E.164 phone number: {phone!r}")
    return phone


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _storable(at: datetime) -> datetime:
    """``at`` in UTC, before anything is written.

    A moment with no UTC equivalent (year 1 at +14:00) was once stored, and then
    every later read of the number (the gate's too) failed on it.
    """
    try:
        return _aware(at).astimezone(UTC)
    except OverflowError as e:
        raise ConsentError(f"{at} has no date in UTC; nothing was stored") from e


def grant_consent(db: Database, phone: str, purpose: str, source: str, at: datetime) -> bool:
    """Record consent to calls for ``purpose``; whether it changed anything.

    A grant while consent is in force changes nothing (the first grant counts);
    a grant older than the last revocation is stale and ignored.
    """
    phone, at = _e164(phone), _storable(at)
    for _ in range(2):  # a concurrent first grant wins the insert: then update its row
        try:
            with db.session() as s, s.begin():
                row = s.scalar(_consent_row(phone, purpose))
                if row is None:
                    s.add(ConsentRecord(phone=phone, purpose=purpose, source=source, granted_at=at))
                    return True
                if row.revoked_at is None or at <= _aware(row.revoked_at):
                    return False
                row.source, row.granted_at, row.revoked_at = source, at, None
                return True
        except IntegrityError:
            continue
    raise ConsentError(f"consent for {purpose} could not be stored")


def revoke_consent(db: Database, phone: str, purpose: str, source: str, at: datetime) -> bool:
    """Withdraw consent for ``purpose``; whether it changed anything.

    Kept even without a grant before it, so an older grant arriving late stays
    revoked. A revocation older than the grant in force is stale and ignored.
    """
    phone, at = _e164(phone), _storable(at)
    for _ in range(2):
        try:
            with db.session() as s, s.begin():
                row = s.scalar(_consent_row(phone, purpose))
                if row is None:
                    s.add(
                        ConsentRecord(
                            phone=phone,
                            purpose=purpose,
                            source=source,
                            granted_at=at,
                            revoked_at=at,
                        )
                    )
                    return True
                if row.revoked_at is not None or at < _aware(row.granted_at):
                    return False
                row.revoked_at = at
                return True
        except IntegrityError:
            continue
    raise ConsentError(f"consent revocation for {purpose} could not be stored")


def _consent_row(phone: str, purpose: str) -> Select[ConsentRecord]:
    """The one row of (phone, purpose), locked: grant and revoke read, then write."""
    return (
        select(ConsentRecord)
        .where(ConsentRecord.phone == phone, ConsentRecord.purpose == purpose)
        .with_for_update()
    )


def parse_dnc_csv(csv_text: str, region: str | None = None) -> tuple[list[str], list[InvalidRow]]:
    """The E.164 numbers in the first column, and every line that is not one.

    The first line is a header if its first column holds no digit. Numbers are
    normalised (``+1 (415) 555-0100`` -> ``+14155550100``); without a country
    code they are read in ``region`` (e.g. "US" for 10-digit lists), else invalid.
    """
    phones: dict[str, None] = {}  # ordered and without repeats
    invalid: list[InvalidRow] = []
    reader = csv.reader(io.StringIO(csv_text.removeprefix("\ufeff")))  # Excel's BOM
    for row in reader:
        cell = row[0].strip() if row else ""
        if not cell:
            if any(c.strip() for c in row):
                invalid.append(InvalidRow(reader.line_num, ",".join(row)))
            continue
        if reader.line_num == 1 and not any(ch.isdigit() for ch in cell):
            continue  # the header
        phone = normalize_phone(cell, region)
        if phone is None:
            invalid.append(InvalidRow(reader.line_num, cell))
        else:
            phones[phone] = None
    return list(phones), invalid


def normalize_phone(text: str, region: str | None = None) -> str | None:
    """``text`` as E.164 if it can be a phone number, else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164 if E164.fullmatch(e164) else None


def import_dnc_csv(
    db: Database,
    name: str,
    csv_text: str,
    source: str,
    now: datetime,
    *,
    region: str | None = None,
) -> DncList:
    """Store a new version of the do-not-call list ``name``; it replaces the older ones.

    Lines that are not numbers are returned in ``invalid`` (the rest is stored).
    A file without a single number is refused (``ConsentError``): importing it
    would make the list look fresh while it blocks nobody.
    """
    phones, invalid = parse_dnc_csv(csv_text, region)
    if not phones:
        raise ConsentError(f"DNC list {name!r} has no valid phone number ({len(invalid)} invalid)")
    with db.session() as s, s.begin():
        record = DncListRecord(name=name, imported_at=now, source=source, entries=len(phones))
        s.add(record)
        s.flush()
        for i in range(0, len(phones), _INSERT_BATCH):
            batch = phones[i : i + _INSERT_BATCH]
            s.execute(insert(DncEntryRecord), [{"list_id": record.id, "phone": p} for p in batch])
        list_id = record.id
    return DncList(
        id=list_id,
        name=name,
        imported_at=now,
        source=source,
        entries=len(phones),
        invalid=tuple(invalid),
    )


def consent_facts(db: Database, phone: str, purpose: str, now: datetime) -> ConsentFacts:
    """Everything the gate needs to know about this number, as of ``now``.

    A number is on the DNC if it is in the latest import of any list; the age
    is that of the newest import of any list.
    """
    phone = _e164(phone)
    opted_out = is_opted_out(db, phone)
    with db.session() as s:
        current_lists = select(func.max(DncListRecord.id)).group_by(DncListRecord.name)
        on_dnc = (
            s.scalar(
                select(DncEntryRecord.phone)
                .where(DncEntryRecord.phone == phone, DncEntryRecord.list_id.in_(current_lists))
                .limit(1)
            )
            is not None
        )
        newest = s.scalar(select(func.max(DncListRecord.imported_at)))
        consent = s.scalar(
            select(ConsentRecord).where(
                ConsentRecord.phone == phone, ConsentRecord.purpose == purpose
            )
        )
    age_days = None
    if newest is not None:
        age_days = max(0.0, (now - _aware(newest)).total_seconds() / 86400)
    has_consent = (
        consent is not None
        and _aware(consent.granted_at) <= now
        and (consent.revoked_at is None or _aware(consent.revoked_at) > now)
    )
    purpose_revoked = (
        consent is not None and consent.revoked_at is not None and _aware(consent.revoked_at) <= now
    )
    return ConsentFacts(
        opted_out=opted_out,
        on_dnc=on_dnc,
        dnc_list_age_days=age_days,
        has_consent=has_consent,
        purpose_revoked=purpose_revoked,
    )


@dataclass(frozen=True)
class Consent:
    """Consent for one purpose as recorded (``revoked_at`` set: withdrawn)."""

    purpose: str
    source: str
    granted_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NumberStatus:
    """Everything the registry holds about one number (what the API's GET answers)."""

    phone: str
    opted_out: bool
    opted_out_at: datetime | None
    opt_out_source: str | None
    do_not_call_lists: tuple[str, ...]
    consents: tuple[Consent, ...]


def number_status(db: Database, phone: str) -> NumberStatus:
    """The opt-out, the current DNC lists holding the number, and its consents."""
    phone = _e164(phone)
    with db.session() as s:
        opt_out = s.get(OptOut, phone)
        current_lists = select(func.max(DncListRecord.id)).group_by(DncListRecord.name)
        lists = s.scalars(
            select(DncListRecord.name)
            .join(DncEntryRecord, DncEntryRecord.list_id == DncListRecord.id)
            .where(DncEntryRecord.phone == phone, DncListRecord.id.in_(current_lists))
            .order_by(DncListRecord.name)
        ).all()
        rows = s.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.phone == phone)
            .order_by(ConsentRecord.purpose)
        ).all()
        consents = tuple(
            Consent(
                purpose=r.purpose,
                source=r.source,
                granted_at=_aware(r.granted_at),
                revoked_at=_aware(r.revoked_at) if r.revoked_at is not None else None,
            )
            for r in rows
        )
    return NumberStatus(
        phone=phone,
        opted_out=opt_out is not None,
        opted_out_at=_aware(opt_out.created_at) if opt_out is not None else None,
        opt_out_source=opt_out.source if opt_out is not None else None,
        do_not_call_lists=tuple(lists),
        consents=consents,
    )
