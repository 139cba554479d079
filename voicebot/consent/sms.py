"""Inbound SMS: a texted STOP is an opt-out, stored like one said on a call (blocking)."""

from __future__ import annotations

from loguru import logger

from voicebot.errors import PhoneNumberError
from voicebot.records.db import Database
from voicebot.records.opt_outs import record_opt_out

# The carrier-standard opt-out keywords; the whole message must be one of them.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})


def is_stop_request(body: str) -> bool:
    """Whether the text is an opt-out keyword (case-insensitive, surrounding space ignored)."""
    return body.strip().upper() in STOP_WORDS


def handle_inbound_sms(db: Database, *, sender: str, body: str) -> bool:
    """Store an opt-out for ``sender`` if the text asks for one; whether it did.

    A sender that is not an E.164 number (a short code, an alphanumeric ID) can
    never be dialed, so there is nothing to store: it is logged, not raised.
    """
    if not is_stop_request(body):
        return False
    try:
        record_opt_out(db, phone=sender, call_id=None, source="sms", reason=body.strip().upper())
    except PhoneNumberError:
        logger.warning("SMS opt-out from a sender that is not an E.164 number: ignored")
        return False
    return True
