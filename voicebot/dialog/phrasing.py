"""How values are said aloud: money as money, times in the customer's zone."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from voicebot.calls.context import CallContext

_CURRENCY_WORDS = {
    "USD": ("dollar", "dollars", "cent", "cents"),
    "EUR": ("euro", "euros", "cent", "cents"),
    "GBP": ("pound", "pounds", "penny", "pence"),
}


def say_money(amount: str, currency: str) -> str:
    """'912.40', 'USD' -> '912 dollars and 40 cents' (digits, which Piper reads well)."""
    try:
        value = Decimal(amount).quantize(Decimal("0.01"))
    except InvalidOperation as e:
        raise ValueError(f"not an amount: {amount!r}") from e
    whole, cents = divmod(int(value * 100), 100)
    one, many, sub_one, sub_many = _CURRENCY_WORDS.get(
        currency.upper(), (currency.upper(), currency.upper(), "hundredth", "hundredths")
    )
    text = f"{whole:,} {one if whole == 1 else many}"
    if cents:
        text += f" and {cents} {sub_one if cents == 1 else sub_many}"
    return text


def say_when(moment: datetime, timezone: str, now: datetime | None = None) -> str:
    """A moment as the customer would say it locally: 'on Saturday, November 21 at 6:03 AM'.

    Past (a payment) or future (a callback): today, yesterday and tomorrow by name.
    """
    local = moment.astimezone(ZoneInfo(timezone))
    today = (now or datetime.now(tz=ZoneInfo(timezone))).astimezone(ZoneInfo(timezone)).date()
    clock = local.strftime("%I:%M %p").lstrip("0")
    days = (today - local.date()).days
    if days == 0:
        return f"today at {clock}"
    if days == 1:
        return f"yesterday at {clock}"
    if days == -1:
        return f"tomorrow at {clock}"
    return f"on {local.strftime('%A, %B')} {local.day} at {clock}"


def business_values(*, business_name: str, callback_number: str) -> dict[str, Any]:
    """The placeholders that read the same on every call, phrased for speech."""
    return {
        "business_name": business_name,
        "callback_number": " ".join(callback_number.lstrip("+")),
    }


def prompt_values(
    context: CallContext, *, business_name: str, callback_number: str
) -> dict[str, Any]:
    """The placeholders a call's prompts may use, already phrased for speech."""
    values = business_values(business_name=business_name, callback_number=callback_number)
    values["first_name"] = context.customer.first_name
    tx = context.transaction
    if tx is not None:
        values |= {
            "amount": say_money(tx.amount, tx.currency),
            "merchant": tx.merchant,
            "when": say_when(tx.time, context.customer.timezone),
        }
    return values
