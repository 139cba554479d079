"""Request and response bodies of the API: callbacks, and the review of calls.

Validation here is about form only, so a stored request can always be read back
through the same models; rules that depend on the clock (a deadline already
past) are checked when a callback is created (``voicebot.records.callbacks``).
Rules that depend on babel's currency data (the code is one it knows, the amount
no finer than the currency's minor unit) are checked on new requests only: a
request stored before them, or before a babel upgrade, still reads back
(``callback_out`` validates with ``STORED``).
Unknown fields are refused: a misspelt ``deadine`` must not be silently ignored.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)

from voicebot.dialog.phrasing import known_currency, minor_digits, too_many_decimals
from voicebot.records import callbacks as records
from voicebot.records import review

# E.164: "+", a country code that never starts with 0, 8 to 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{7,14}")
AMOUNT = re.compile(r"[0-9]{1,15}(\.[0-9]{1,6})?")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]

# Validation context of a request read back from the database: see the module's docstring.
STORED = {"stored": True}

CallbackState = Literal["queued", "dialing", "completed", "refused", "cancelled", "failed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Customer(_Strict):
    """Who to call."""

    first_name: Text = Field(examples=["Alice"])
    last_name: Text | None = Field(default=None, examples=["Moreau"])
    phone: str = Field(
        description="E.164: '+' then 8 to 15 digits, no spaces", examples=["+14155550123"]
    )
    timezone: str | None = Field(
        default=None,
        description="IANA time zone the customer lives in (times are said in it); default UTC",
        examples=["America/New_York"],
    )

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not E164.fullmatch(value):
            raise ValueError(
                "phone must be E.164: '+' then 8 to 15 digits, no spaces or dashes "
                "(e.g. +14155550123)"
            )
        return value

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
    currency: str = Field(
        description="ISO 4217 code, three capital letters, one babel (CLDR) knows",
        examples=["USD"],
    )
    amount: str = Field(
        description=(
            "a positive decimal string (no float rounding), e.g. '912.40', with no more "
            "decimals than the currency has (JPY none, KWD 3); trailing zeros are allowed"
        ),
        examples=["912.40"],
    )
    merchant: Text = Field(examples=["Amazon"])
    time: AwareDatetime = Field(
        description="when the payment was made, ISO 8601 with a UTC offset",
        examples=["2026-11-22T18:04:00Z"],
    )

    @field_validator("currency")
    @classmethod
    def _iso4217(cls, value: str, info: ValidationInfo) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
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


def _stored(info: ValidationInfo) -> bool:
    """Whether this is a stored request being read back (see the module's docstring)."""
    return isinstance(info.context, dict) and info.context.get("stored") is True


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
    earliest_at: AwareDatetime | None = Field(
        default=None, description="do not call before this moment (ISO 8601 with offset)"
    )
    deadline: AwareDatetime | None = Field(
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
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: last")


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
