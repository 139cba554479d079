"""Request and response bodies of the API: callbacks, consent, and the review of calls.

Validation here is about form only, so a stored request can always be read back
through the same models; rules that depend on the clock (a deadline already
past) are checked when a callback is created (``voicebot.records.callbacks``).
Rules that depend on babel's currency data (the code is one it knows, the amount
no finer than the currency's minor unit) are checked on new requests only: a
request stored before them, or before a babel upgrade, still reads back
(``callback_out`` validates with ``STORED``).
Unknown fields are refused: a misspelt ``deadine`` must not be silently ignored.

"Form" includes what storage and speech can take. Every text is refused if it
holds a control character (PostgreSQL refuses NUL) or a lone surrogate (not
UTF-8); names and merchants, which the bot reads aloud, more (``SpokenText``);
every date and time must be an ISO 8601 string with an offset that is a date in
every time zone once converted (``Instant``). The types below are the rules,
used by bodies, path and query parameters alike, and each states its rule in
the OpenAPI document (``Documented``). Like the currency rules they hold for new
input only (``_on_new_input``), so a request stored before them still reads back.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from voicebot.dialog.phrasing import known_currency, minor_digits, too_many_decimals
from voicebot.records import callbacks as records
from voicebot.records import review

# E.164: "+", a country code that never starts with 0, 8 to 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?")
CURRENCY = re.compile(r"[A-Z]{3}")
# What ``voicebot.records.review.encode_cursor`` makes: URL-safe base64, unpadded.
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,200}")
# A date, "T" (or a space), hours and minutes: the start of an ISO 8601 date-time.
_ISO_8601 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}")
# A day inside Python's calendar at each end: a moment in this range is a date in
# every time zone (offsets stay under a day), so it converts and reads back.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
# Right-to-left and left-to-right embeddings, overrides and isolates: they
# reorder how a name is shown, so what a reviewer reads is not what was sent.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# Validation context of a request read back from the database: see the module's docstring.
STORED = {"stored": True}

T = TypeVar("T")


def _stored(info: ValidationInfo) -> bool:
    """Whether this is a stored request being read back (see the module's docstring)."""
    return isinstance(info.context, dict) and info.context.get("stored") is True


def _on_new_input(check: Callable[[T], T]) -> Callable[[T, ValidationInfo], T]:
    """``check`` as a validator that passes a stored request read back (``STORED``) as it is."""

    def validator(value: T, info: ValidationInfo) -> T:
        return value if _stored(info) else check(value)

    return validator


@dataclass(frozen=True)
class Documented:
    """``Annotated`` metadata that adds keywords (``pattern``...) to a type's JSON schema.

    For rules enforced by a validator with a clearer message than pydantic's own
    ``pattern`` error, so the document still states them.
    """

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def _storable(value: str) -> str:
    """No control characters (NUL above all) and no lone surrogates.

    PostgreSQL refuses NUL in a text column (a 500), and inside a stored JSON
    request it breaks PostgreSQL's JSON operators on that row; a surrogate cannot
    be encoded as UTF-8 at all. Other control characters only hide what an id or
    a line in a log really says.
    """
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc":
            raise ValueError(f"must not contain control characters (found U+{ord(char):04X})")
        if category == "Cs":
            raise ValueError(f"must be valid Unicode (found a lone surrogate U+{ord(char):04X})")
    return value


_LINE_BREAKS = str.maketrans("\t\n\r", "   ")


def _storable_lines(value: str) -> str:
    """``_storable``, but free text keeps its tabs and line breaks."""
    _storable(value.translate(_LINE_BREAKS))
    return value


def _speakable(value: str) -> str:
    """What the bot may read aloud as given: see ``SpokenText``."""
    _storable(value)
    for char in value:
        if char in BIDI_CONTROLS:
            raise ValueError(
                f"must not contain bidirectional control characters (found U+{ord(char):04X}): "
                "they change how the text is shown, not what it says"
            )
    if "<" in value or ">" in value:
        raise ValueError(
            "must not contain '<' or '>': it is read aloud as given, and markup such as "
            "<speak> or <script> is not a name"
        )
    if not any(char.isalnum() for char in value):
        raise ValueError("must contain at least one letter or digit")
    return value


def _e164(value: str) -> str:
    if not E164.fullmatch(value):
        raise ValueError(
            "phone must be E.164: '+' then 8 to 15 digits, no spaces or dashes (e.g. +14155550123)"
        )
    return value


def _iso_8601_string(value: object) -> object:
    """Only a string that starts like an ISO 8601 date-time (a parsed ``datetime`` passes).

    pydantic alone reads a number (even a numeric string) as Unix time, so a
    consent sent as ``1700000000`` or ``0`` would be "granted in 1970".
    """
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_8601.match(value)):
        return value
    raise ValueError(
        "must be an ISO 8601 date and time with a UTC offset, such as 2026-11-22T18:04:00Z "
        "or 2026-11-22T13:04:00-05:00; numbers (Unix times) are not accepted"
    )


def _in_every_zone(value: datetime) -> datetime:
    """Between ``EARLIEST`` and ``LATEST``.

    Else converting it to UTC (to store it) or to the customer's zone (to say
    it) overflows Python's calendar: such a callback was stored, and then every
    later read of it failed.
    """
    if not EARLIEST <= value <= LATEST:
        raise ValueError(
            "must be between 0001-01-02 and 9999-12-30 in UTC, so that it is a date in every "
            f"time zone; {value.isoformat()} is not"
        )
    return value


Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(_on_new_input(_storable)),
]
Note = Annotated[
    str, StringConstraints(max_length=500), AfterValidator(_on_new_input(_storable_lines))
]
"""Free text kept for people to read (tabs and line breaks allowed)."""

SpokenText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_on_new_input(_speakable)),
]
"""A name or a merchant: the text-to-speech voice reads it to the customer as given.

So it must be something a voice can say and a reviewer can read as sent: no
control characters or NUL (nothing to say, and PostgreSQL refuses NUL), no
bidirectional overrides or isolates (U+202A-U+202E, U+2066-U+2069: the text
shown is not the text sent), no ``<`` or ``>`` (markup such as ``<speak>`` or
``<script>`` is not a name, and would be markup to an SSML voice or a web page
showing the transcript), and at least one letter or digit. Every script,
accent and the punctuation of real names stays allowed: "José", "O'Brien",
"Zoë", "李", "Nguyễn Thị", "Anne-Marie", "AT&T".
"""

PhoneNumber = Annotated[str, AfterValidator(_on_new_input(_e164)), Documented(f"^{E164.pattern}$")]
"""E.164, checked by ``_e164`` (its message says what is wrong); the pattern is in the document."""

Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_on_new_input(_iso_8601_string)),
    AfterValidator(_on_new_input(_in_every_zone)),
]
"""A moment: ISO 8601 text with a UTC offset (``Z`` or ``+hh:mm``), a date in every zone."""

Key = Annotated[str, AfterValidator(_on_new_input(_storable))]
"""An id or word in a path or query: looked up in SQL, so the same rule as stored text."""


def _cursor(value: str) -> str:
    if not CURSOR.fullmatch(value):
        raise ValueError("not a cursor this API returned: pass next_cursor unchanged")
    return value


Cursor = Annotated[str, AfterValidator(_on_new_input(_cursor)), Documented(f"^{CURSOR.pattern}$")]

CallbackState = Literal["queued", "dialing", "completed", "refused", "cancelled", "failed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Customer(_Strict):
    """Who to call."""

    first_name: SpokenText = Field(
        description="read aloud as given: letters of any script, no markup or control characters",
        examples=["Alice", "José", "O'Brien", "李"],
    )
    last_name: SpokenText | None = Field(default=None, examples=["Moreau", "Nguyễn Thị"])
    phone: PhoneNumber = Field(
        description="E.164: '+' then 8 to 15 digits, no spaces", examples=["+14155550123"]
    )
    timezone: str | None = Field(
        default=None,
        description="IANA time zone the customer lives in (times are said in it); default UTC",
        examples=["America/New_York"],
    )

    @field_validator("timezone")
    @classmethod
    def _iana(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"timezone must be an IANA time zone name such as Europe/Paris; "
                f"{value!r} is not one"
            ) from None
        return value


class Transaction(_Strict):
    """The payment to confirm."""

    id: Identifier = Field(examples=["tx_8812"])
    # Before amount, so that amount's validator can check it against the currency.
    currency: Annotated[str, Documented(f"^{CURRENCY.pattern}$")] = Field(
        description="ISO 4217 code, three capital letters, one babel (CLDR) knows",
        examples=["USD"],
    )
    amount: Annotated[str, Documented(f"^{AMOUNT.pattern}$")] = Field(
        description=(
            "a positive decimal string (no float rounding, not a JSON number), e.g. '912.40': "
            "digits, '.' as separator, at most 6 decimals and no more than the currency "
            "has (JPY none, USD 2, KWD 3); trailing zeros are allowed"
        ),
        examples=["912.40", "1250", "12.345"],
    )
    merchant: SpokenText = Field(
        description="read aloud as given: no markup or control characters",
        examples=["Amazon", "Café Noir"],
    )
    time: Instant = Field(
        description="when the payment was made, ISO 8601 with a UTC offset",
        examples=["2026-11-22T18:04:00Z"],
    )

    @field_validator("currency")
    @classmethod
    def _iso4217(cls, value: str, info: ValidationInfo) -> str:
        if not CURRENCY.fullmatch(value):
            raise ValueError("currency must be three capital letters (ISO 4217), e.g. USD")
        if not _stored(info) and not known_currency(value):
            raise ValueError(
                f"currency must be an ISO 4217 currency code such as USD; {value!r} is not one"
            )
        return value

    @field_validator("amount", mode="before")
    @classmethod
    def _not_a_number(cls, value: object) -> object:
        if isinstance(value, int | float):
            raise ValueError(
                'amount must be a decimal string such as "912.40", not a JSON number '
                "(binary floats lose cents)"
            )
        return value

    @field_validator("amount")
    @classmethod
    def _decimal(cls, value: str, info: ValidationInfo) -> str:
        try:
            positive = AMOUNT.fullmatch(value) is not None and Decimal(value) > 0
        except InvalidOperation:
            positive = False
        if not positive:
            raise ValueError(
                "amount must be a positive decimal string with '.' as separator and at most "
                '6 decimals, e.g. "912.40"'
            )
        currency = info.data.get("currency")  # absent when the currency was refused
        if currency is not None and not _stored(info):
            decimals = len(value.partition(".")[2].rstrip("0"))
            if decimals > minor_digits(currency):
                raise ValueError(f"{too_many_decimals(currency)}; {value!r} has {decimals}")
        return value


class _CallbackFields(_Strict):
    """What every callback request carries, whatever its purpose."""

    event_id: Identifier = Field(
        description=(
            "your own id for the event behind this request; sending it again returns the "
            "same callback instead of a second call"
        ),
        examples=["evt_01J9Z3"],
    )
    customer: Customer
    urgency: Literal["normal", "high"] = "normal"
    earliest_at: Instant | None = Field(
        default=None,
        description="do not call before this moment (ISO 8601 with offset)",
        examples=["2026-11-22T18:10:00Z"],
    )
    deadline: Instant | None = Field(
        default=None,
        description="do not call after this moment; must be in the future and after earliest_at",
    )

    @field_validator("deadline")
    @classmethod
    def _after_earliest(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        earliest = info.data.get("earliest_at")
        if value is not None and earliest is not None and value <= earliest:
            raise ValueError("deadline must be after earliest_at")
        return value


class TransactionConfirmationRequest(_CallbackFields):
    """Call the customer to confirm (or deny) a payment."""

    purpose: Literal["transaction_confirmation"]
    transaction: Transaction


class FeedbackRequest(_CallbackFields):
    """Call the customer for feedback on a support case."""

    purpose: Literal["feedback"]
    case_id: Identifier = Field(examples=["case_4411"])


# pydantic's own messages for a missing or unknown purpose name it and list the choices.
CallbackRequest = Annotated[
    TransactionConfirmationRequest | FeedbackRequest, Field(discriminator="purpose")
]


class Attempt(BaseModel):
    """One try at placing the call."""

    attempt: int
    call_id: str | None
    status: str
    created_at: datetime


class GateDecision(BaseModel):
    """One answer of the consent gate: allowed or not, why, and when it may be retried."""

    decided_at: datetime
    allowed: bool
    reasons: list[str]
    retry_at: datetime | None


class Callback(BaseModel):
    """A callback, its request as accepted, and everything done about it so far."""

    id: str = Field(examples=["cb_4f1c2a9e0b7d4c3e8a6f5b1d2c3e4f50"])
    state: CallbackState
    purpose: Literal["transaction_confirmation", "feedback"]
    event_id: str
    urgency: Literal["normal", "high"]
    earliest_at: datetime | None
    deadline: datetime | None
    created_at: datetime
    updated_at: datetime
    request: CallbackRequest
    attempts: list[Attempt]
    gate_decisions: list[GateDecision]


class Problem(BaseModel):
    """An error: what is wrong, in words."""

    detail: str


_REQUEST: TypeAdapter[TransactionConfirmationRequest | FeedbackRequest] = TypeAdapter(
    CallbackRequest
)


def callback_out(stored: records.Callback) -> Callback:
    """The API's view of a stored callback (its request read back through the same models)."""
    return Callback(
        id=stored.id,
        state=cast(CallbackState, stored.state),
        purpose=cast(Literal["transaction_confirmation", "feedback"], stored.purpose),
        event_id=stored.event_id,
        urgency=cast(Literal["normal", "high"], stored.urgency),
        earliest_at=stored.earliest_at,
        deadline=stored.deadline,
        created_at=stored.created_at,
        updated_at=stored.updated_at,
        request=_REQUEST.validate_python(stored.request, context=STORED),
        attempts=[Attempt.model_validate(a, from_attributes=True) for a in stored.attempts],
        gate_decisions=[
            GateDecision.model_validate(d, from_attributes=True) for d in stored.gate_decisions
        ],
    )


# Consent (/v1/opt-outs, /v1/consents): the wallet backend keeps the registry true.


class OptOutRequest(_Strict):
    """A customer asked not to be called again (in the app, to an agent, by email...)."""

    phone: PhoneNumber = Field(
        description="E.164: '+' then 8 to 15 digits, no spaces", examples=["+14155550123"]
    )
    reason: Note | None = Field(default=None, examples=["asked in the app's settings"])


class ConsentGrant(_Strict):
    """Where the customer's consent was given, and when (default: now)."""

    source: Identifier = Field(examples=["app_settings"])
    at: Instant | None = Field(
        default=None,
        description="when consent was given, ISO 8601 with a UTC offset; default now",
        examples=["2026-11-22T18:04:00Z"],
    )


class ConsentOut(BaseModel):
    purpose: str
    source: str
    granted_at: datetime
    revoked_at: datetime | None
    in_force: bool


class NumberStatusOut(BaseModel):
    """What the registry holds about a number; the gate reads the same."""

    phone: str
    opted_out: bool
    opted_out_at: datetime | None
    opt_out_source: str | None
    do_not_call_lists: list[str]
    consents: list[ConsentOut]


# Review (/v1/calls, /v1/feedback): what supervisors and the product team read.


def mask_phone(phone: str) -> str:
    """A number with all but its last four digits hidden: enough to tell calls apart."""
    return "+" + "*" * max(len(phone) - 5, 0) + phone[-4:]


class TranscriptTurn(BaseModel):
    """One thing said or keyed; secrets were redacted before it was stored."""

    speaker: Literal["bot", "caller"]
    text: str
    source: str = Field(description="speech, keypad or prompt")
    offset_s: float = Field(description="seconds since the call's audio started")
    confidence: float | None = Field(description="speech recognition confidence, callers only")


class CallSummary(BaseModel):
    """A call: why it was made, how it went, how it ended."""

    id: str
    call_sid: str | None
    purpose: str
    locale: str
    customer_phone: str = Field(description="masked (+*******0123) unless you are a supervisor")
    transaction_id: str | None
    case_id: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    carrier_status: str | None
    outcome: str | None = Field(description="null while the call is still going")
    escalated: bool
    fields: dict[str, Any] = Field(description="what the dialog stored: rating, comment, ...")
    evidence: dict[str, Any] | None = Field(description="the words the outcome rests on")


class CallDetail(CallSummary):
    transcript: list[TranscriptTurn]


class CallList(BaseModel):
    calls: list[CallSummary]
    next_cursor: str | None = Field(
        description="pass as `cursor`, unchanged, for the next page; null: this is the last"
    )


class FeedbackItem(BaseModel):
    call_id: str
    case_id: str | None
    rating: int | None = Field(ge=1, le=5)
    comment: str | None
    outcome: str | None
    ended_at: datetime | None


class FeedbackReport(BaseModel):
    """Feedback calls in the period asked for."""

    calls: int = Field(description="feedback calls in the period")
    rated: int = Field(description="calls that gave a 1-5 rating")
    average_rating: float | None
    ratings: dict[int, int] = Field(description="how many gave each rating, 1 to 5")
    outcomes: dict[str, int] = Field(description="calls by outcome (in_progress: not ended)")
    items: list[FeedbackItem] = Field(description="the newest calls' ratings and comments")


def call_out(view: review.CallView, *, show_phone: bool) -> CallSummary | CallDetail:
    """The API's view of a call (with its transcript if read one at a time).

    Phone numbers are masked unless ``show_phone``.
    """
    phone = view.customer_phone if show_phone else mask_phone(view.customer_phone)
    data = {**vars(view), "customer_phone": phone}
    turns = data.pop("turns")
    if turns is None:
        return CallSummary.model_validate(data)
    return CallDetail.model_validate({**data, "transcript": [vars(t) for t in turns]})


def feedback_out(report: review.FeedbackReport) -> FeedbackReport:
    return FeedbackReport.model_validate(report, from_attributes=True)
