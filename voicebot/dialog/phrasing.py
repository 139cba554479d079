"""How values are said aloud: money as money, times in the customer's zone."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_name, get_currency_precision, list_currencies

from voicebot.calls.context import CallContext

# Money. Which currencies exist, their minor-unit digits and their English names
# (with plural forms) come from babel's copy of CLDR, shipped in its wheel: no
# network. CLDR's digits are those used in practice, which for a few currencies
# are fewer than ISO 4217's (JPY 0, KWD 3, but also HUF, IDR, COP 0).

# Short, natural words a caller expects rather than CLDR's "US dollars".
_MAJOR_WORDS = {
    "USD": ("dollar", "dollars"),
    "EUR": ("euro", "euros"),
    "GBP": ("pound", "pounds"),
}

# CLDR names no minor units. These are the ones we are sure of, each worth
# 1/10**digits of its currency; any other currency says its decimals as "point NN".
_MINOR_WORDS = {
    **dict.fromkeys(("USD", "EUR", "CAD", "AUD", "NZD", "HKD", "SGD", "ZAR"), ("cent", "cents")),
    "GBP": ("penny", "pence"),
    "INR": ("paisa", "paise"),
    # 1,000 fils to the Kuwaiti and Bahraini dinar, 100 to the UAE dirham.
    **dict.fromkeys(("KWD", "BHD", "AED"), ("fils", "fils")),
    "CNY": ("fen", "fen"),  # a hundredth of a yuan (a tenth is a jiao)
}

# No payment has this many digits before or after its point (and so the exact
# integer arithmetic of _split stays small).
_MAX_DIGITS = 30


def known_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency code that babel (CLDR) knows."""
    return code in list_currencies()


def minor_digits(code: str) -> int:
    """How many decimals an amount in a known currency may have: JPY 0, USD 2, KWD 3."""
    return int(get_currency_precision(code))


def too_many_decimals(code: str) -> str:
    """Why an amount finer than ``code``'s minor unit is refused, in words."""
    digits = minor_digits(code)
    if digits == 0:
        return f"{code} has no minor unit: amount must be a whole number"
    return f"{code} amounts have at most {digits} decimal{'s' if digits > 1 else ''}"


def say_money(amount: str, currency: str, *, locale: str = "en-US") -> str:
    """An amount of money as a caller should hear it, numbers as digits (Piper reads them well).

    - A named minor unit: '912.40' USD -> '912 dollars and 40 cents', '1.01' USD ->
      '1 dollar and 1 cent', '0.40' USD -> '40 cents', '12.345' KWD -> '12 Kuwaiti
      dinars and 345 fils'.
    - No named minor unit: the decimals, padded to the currency's digits, after
      "point": '3000.5' CHF -> '3,000 point 50 Swiss francs'.
    - No minor unit at all (JPY, KRW): '1250' JPY -> '1,250 Japanese yen'.
    - USD, EUR and GBP are "dollars", "euros" and "pounds"; other currencies are
      CLDR's English names ("Canadian dollars"), plural as CLDR says.
    - Trailing zeros are not decimals: '1000.00' JPY is a whole number of yen.
    - An amount finer than its currency's minor unit ('1.005' USD, '10.5' JPY)
      raises ValueError: it is never rounded. So does anything not a number >= 0.
    - A code babel does not know is spelt out, the amount said as written:
      '12.5' XYZ -> '12 point 5 X Y Z'.

    Thousands are grouped with commas ('1,250'). The words are English: ``locale``
    (en-US, en-GB, ...) only picks CLDR's variant of the currency names, and a
    non-English locale gets en-US's.
    """
    value = _amount(amount)
    code = currency.strip().upper()
    if not known_currency(code):
        return _say_as_written(value, _spelt(code))
    names = _names_locale(locale)
    digits = minor_digits(code)
    split = _split(value, digits)
    if split is None:
        raise ValueError(f"{too_many_decimals(code)}, not {amount!r} (it is never rounded)")
    whole, minor = split
    if minor and code in _MINOR_WORDS:
        one, many = _MINOR_WORDS[code]
        said_minor = f"{minor} {one if minor == 1 else many}"
        if not whole:
            return said_minor
        return f"{whole:,} {_major_name(code, whole, names)} and {said_minor}"
    if minor:
        return f"{whole:,} point {minor:0{digits}d} {_major_name(code, value, names)}"
    return f"{whole:,} {_major_name(code, whole, names)}"


def _amount(amount: str) -> Decimal:
    try:
        value = Decimal(amount.strip())
    except InvalidOperation as e:
        raise ValueError(f"not an amount: {amount!r}") from e
    if not value.is_finite() or value.is_signed():
        raise ValueError(f"not an amount: {amount!r}")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite number's
    if value.adjusted() >= _MAX_DIGITS or exponent < -_MAX_DIGITS:
        raise ValueError(f"not an amount a payment can have: {amount!r}")
    return value


def _split(value: Decimal, digits: int) -> tuple[int, int] | None:
    """(whole, minor units) of ``value``, exactly; None if it is finer than ``digits``."""
    _, coefficient, exponent = value.as_tuple()
    assert isinstance(exponent, int)  # finite: checked by _amount
    units = int("".join(map(str, coefficient)))
    shift = exponent + digits
    if shift >= 0:
        units *= 10**shift
    elif units % 10**-shift:
        return None
    else:
        units //= 10**-shift
    base: int = 10**digits
    return units // base, units % base


def _say_as_written(value: Decimal, name: str) -> str:
    """'1250.5', 'Swiss francs' -> '1,250 point 5 Swiss francs': every digit, none added."""
    whole, _, decimals = f"{value:f}".partition(".")
    said = f"{int(whole):,}"
    if decimals.rstrip("0"):
        said += f" point {decimals}"
    return f"{said} {name}"


def _spelt(code: str) -> str:
    """A code as letters a caller can follow: 'XYZ' -> 'X Y Z'."""
    return " ".join(code) or "in an unknown currency"


def _names_locale(locale: str) -> Locale:
    try:
        parsed = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return Locale("en", "US")
    return parsed if parsed.language == "en" else Locale("en", "US")


def _major_name(code: str, count: int | Decimal, names: Locale) -> str:
    if code in _MAJOR_WORDS:
        one, many = _MAJOR_WORDS[code]
        return one if count == 1 else many
    name = get_currency_name(code, count=count, locale=names)
    name = re.sub(r"\s*\([^)]*\)", "", name).strip()  # "dollars (2009-2024)", "(unknown currency)"
    return _spelt(code) if not name or name == code else name


def _say_money_on_a_call(amount: str, currency: str, *, locale: str) -> str:
    """``say_money``, except that an amount finer than its currency's minor unit (stored
    before the API refused them) is said as written rather than ending the call."""
    try:
        return say_money(amount, currency, locale=locale)
    except ValueError:
        value = _amount(amount)  # still raises if it is not an amount at all
        code = currency.strip().upper()
        return _say_as_written(value, _major_name(code, 2, _names_locale(locale)))


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
            "amount": _say_money_on_a_call(tx.amount, tx.currency, locale=context.locale),
            "merchant": tx.merchant,
            "when": say_when(tx.time, context.customer.timezone),
        }
    return values
