from __future__ import annotations

from datetime import UTC, datetime

import pytest

from voicebot.calls.context import CallContext, Customer, Transaction
from voicebot.dialog import phrasing
from voicebot.dialog.phrasing import prompt_values, say_money, say_when

SAID = {
    ("912.40", "USD"): "912 dollars and 40 cents",
    ("1", "USD"): "1 dollar",
    ("0.01", "USD"): "1 cent",
    ("1.01", "USD"): "1 dollar and 1 cent",
    ("0.40", "USD"): "40 cents",
    ("1250", "USD"): "1,250 dollars",
    ("2450.01", "EUR"): "2,450 euros and 1 cent",
    ("1", "EUR"): "1 euro",
    ("1250000.50", "EUR"): "1,250,000 euros and 50 cents",
    ("3.50", "GBP"): "3 pounds and 50 pence",
    ("1.01", "GBP"): "1 pound and 1 penny",
    ("1250", "GBP"): "1,250 pounds",
    ("912.40", "CAD"): "912 Canadian dollars and 40 cents",
    ("1", "CAD"): "1 Canadian dollar",
    ("1.01", "CAD"): "1 Canadian dollar and 1 cent",
    ("1250", "CAD"): "1,250 Canadian dollars",
    ("1250", "JPY"): "1,250 Japanese yen",
    ("1", "JPY"): "1 Japanese yen",
    ("1000.00", "JPY"): "1,000 Japanese yen",  # trailing zeros are not decimals
    ("1250000", "KRW"): "1,250,000 South Korean won",
    ("12.345", "KWD"): "12 Kuwaiti dinars and 345 fils",
    ("1.001", "KWD"): "1 Kuwaiti dinar and 1 fils",
    ("12.3", "KWD"): "12 Kuwaiti dinars and 300 fils",  # 12.300
    ("1250", "KWD"): "1,250 Kuwaiti dinars",
    ("12.34", "CNY"): "12 Chinese yuan and 34 fen",
    ("1", "CNY"): "1 Chinese yuan",
    ("1250.01", "CNY"): "1,250 Chinese yuan and 1 fen",
    ("12.30", "AED"): "12 UAE dirhams and 30 fils",
    # No named minor unit: its digits after "point", as many as the currency has.
    ("3000.5", "CHF"): "3,000 point 50 Swiss francs",
    ("1.05", "CHF"): "1 point 05 Swiss francs",
    ("1", "CHF"): "1 Swiss franc",
    # Not a code babel knows: spelt out, the amount as written.
    ("12.5", "XYZ"): "12 point 5 X Y Z",
    ("1250", "xyz"): "1,250 X Y Z",
}


@pytest.mark.parametrize(("amount", "currency"), list(SAID), ids=[" ".join(k) for k in SAID])
def test_money_is_said_in_its_currency(amount: str, currency: str) -> None:
    assert say_money(amount, currency) == SAID[amount, currency]


@pytest.mark.parametrize(
    ("amount", "currency", "words"),
    [
        ("912.405", "USD", "USD amounts have at most 2 decimals"),
        ("0.001", "GBP", "GBP amounts have at most 2 decimals"),
        ("912.4", "JPY", "JPY has no minor unit: amount must be a whole number"),
        ("12.3456", "KWD", "KWD amounts have at most 3 decimals"),
        ("12.345", "CNY", "CNY amounts have at most 2 decimals"),
        ("-5", "USD", "not an amount"),
        ("12,50", "USD", "not an amount"),
        ("NaN", "USD", "not an amount"),
    ],
)
def test_money_is_never_rounded(amount: str, currency: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        say_money(amount, currency)


def test_every_named_minor_unit_belongs_to_a_currency_with_one() -> None:
    for code in phrasing._MINOR_WORDS:
        assert phrasing.known_currency(code) and phrasing.minor_digits(code) > 0, code


def test_english_locales_share_the_words_and_others_fall_back_to_english() -> None:
    for locale in ("en-US", "en-GB", "en_CA", "fr-FR", "not a locale"):
        assert say_money("2", "CAD", locale=locale) == "2 Canadian dollars"


def _context(amount: str, currency: str) -> CallContext:
    return CallContext(
        purpose="transaction_confirmation",
        customer=Customer(first_name="Alice", phone="+14155550123"),
        transaction=Transaction(
            id="tx_1",
            amount=amount,
            currency=currency,
            merchant="Amazon",
            time=datetime(2026, 11, 21, 14, 3, tzinfo=UTC),
        ),
    )


def test_a_call_says_the_amount_in_its_currency() -> None:
    values = prompt_values(_context("12.345", "KWD"), business_name="B", callback_number="+1800")
    assert values["amount"] == "12 Kuwaiti dinars and 345 fils"


def test_a_call_says_an_amount_stored_before_the_api_refused_it_as_written() -> None:
    values = prompt_values(_context("912.405", "USD"), business_name="B", callback_number="+1800")
    assert values["amount"] == "912 point 405 dollars"


def test_when_in_the_customers_zone_across_midnight() -> None:
    moment = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)  # 22:30 the day before in New York
    now = datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
    assert say_when(moment, "America/New_York", now) == "on Friday, November 20 at 10:30 PM"
    assert say_when(moment, "Europe/Berlin", now) == "yesterday at 4:30 AM"


def test_when_across_daylight_saving_change() -> None:
    # 2026-03-08 is the US spring-forward day: 07:30 UTC is 3:30 AM EDT, not 2:30.
    moment = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert say_when(moment, "America/New_York", moment) == "today at 3:30 AM"
