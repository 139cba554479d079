"""Webhook signatures as a receiver checks them: Standard Webhooks, and the old header.

The reference receiver, the ``standardwebhooks`` package, must accept what we
send, and ``verify`` must accept what it signs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from voicebot.outcomes.signing import (
    HEADER,
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
    signing_key,
    verify,
)

SECRET = "whsec_test_only"  # not base64 after the prefix: used as its UTF-8 bytes
BODY = b'{"call_id":"c1","outcome":"confirmed"}'
ID = "call-outcome:c1"
T = 1_760_000_000


def signed(
    secret: str = SECRET, body: bytes = BODY, msg_id: str = ID, t: int = T
) -> dict[str, str]:
    return sign(secret, body, msg_id=msg_id, timestamp=t)


def test_the_headers_are_id_timestamp_and_base64_hmac_of_id_dot_timestamp_dot_body() -> None:
    headers = signed()
    assert headers[ID_HEADER] == ID and headers[TIMESTAMP_HEADER] == str(T)
    digest = hmac.new(SECRET.encode(), f"{ID}.{T}.".encode() + BODY, hashlib.sha256).digest()
    assert headers[SIGNATURE_HEADER] == "v1," + base64.b64encode(digest).decode()
    assert (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER) == (
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    )


def test_a_fresh_signature_verifies_whatever_the_case_of_the_header_names() -> None:
    headers = signed()
    assert verify(SECRET, BODY, headers, now=T + 5)
    assert verify(SECRET, BODY, {k.upper(): v for k, v in headers.items()}, now=T)


def test_a_tampered_body_does_not_verify() -> None:
    headers = signed()
    assert not verify(SECRET, BODY.replace(b"confirmed", b"rejected"), headers, now=T)
    assert not verify(SECRET, BODY + b" ", headers, now=T)


def test_a_wrong_secret_does_not_verify() -> None:
    assert not verify("whsec_other", BODY, signed(), now=T)
    assert not verify("", BODY, signed(secret=""), now=T)


def test_a_replay_under_a_new_id_does_not_verify() -> None:
    """A captured request sent again as a new message, to get past de-duplication."""
    headers = signed() | {ID_HEADER: "call-outcome:c2"}
    assert not verify(SECRET, BODY, headers, now=T)


def test_a_stale_or_far_future_timestamp_is_refused() -> None:
    headers = signed()
    assert verify(SECRET, BODY, headers, now=T + 300)
    assert verify(SECRET, BODY, headers, now=T - 300)
    assert not verify(SECRET, BODY, headers, now=T + 301)
    assert not verify(SECRET, BODY, headers, now=T - 301)
    assert not verify(SECRET, BODY, headers, now=T + 61, tolerance_s=60)


def test_a_changed_timestamp_breaks_the_signature() -> None:
    headers = signed() | {TIMESTAMP_HEADER: str(T + 100)}
    assert not verify(SECRET, BODY, headers, now=T + 100)


def test_missing_or_malformed_headers_are_simply_invalid() -> None:
    good = signed()
    for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER):
        assert not verify(SECRET, BODY, {k: v for k, v in good.items() if k != name}, now=T)
    for bad in ["", "garbage", "v1", "v1,", "v2," + good[SIGNATURE_HEADER][3:], "v1,é"]:
        assert not verify(SECRET, BODY, good | {SIGNATURE_HEADER: bad}, now=T), bad
    for bad_time in ["", "abc", "-1", f"{T}.5", "²"]:
        assert not verify(SECRET, BODY, good | {TIMESTAMP_HEADER: bad_time}, now=T), bad_time


def test_one_matching_v1_among_several_is_enough() -> None:
    """A sender rotating secrets may sign with the old and the new one, space-separated."""
    old = signed(secret="whsec_old")[SIGNATURE_HEADER]
    new = signed()[SIGNATURE_HEADER]
    headers = signed() | {SIGNATURE_HEADER: f"v2,xyz {old} {new}"}
    assert verify(SECRET, BODY, headers, now=T)
    assert verify("whsec_old", BODY, headers, now=T)


def test_a_secret_in_the_standards_form_is_its_base64_decoded_bytes() -> None:
    key = secrets.token_bytes(24)
    assert signing_key("whsec_" + base64.b64encode(key).decode()) == key
    assert signing_key("whsec_test") == base64.b64decode("test")
    assert signing_key("whsec_test_only") == b"whsec_test_only"  # not base64 after the prefix
    assert signing_key("whsec_") == b"whsec_"
    assert signing_key("plain secret") == b"plain secret"


@pytest.mark.parametrize("form", ["standard", "plain"])
def test_the_reference_receiver_accepts_ours_and_we_accept_its(form: str) -> None:
    """standardwebhooks' Webhook checks against its own clock: sign for now."""
    if form == "standard":
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        receiver = Webhook(secret)
    else:
        secret = secrets.token_hex(16)
        receiver = Webhook(secret.encode())
    now = int(time.time())
    headers = sign(secret, BODY, msg_id=ID, timestamp=now)
    assert receiver.verify(BODY, headers) == {"call_id": "c1", "outcome": "confirmed"}
    with pytest.raises(WebhookVerificationError):
        receiver.verify(BODY, headers | {ID_HEADER: "call-outcome:c2"})

    theirs = {
        ID_HEADER: ID,
        TIMESTAMP_HEADER: str(now),
        SIGNATURE_HEADER: receiver.sign(ID, datetime.fromtimestamp(now, UTC), BODY.decode()),
    }
    assert verify(secret, BODY, theirs, now=now)


# The old header, still sent and checked until the next release.


def test_the_old_header_is_still_sent_and_verifies_as_a_string() -> None:
    header = signed()[HEADER]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"
    assert verify(SECRET, BODY, header, now=T + 5)
    assert not verify(SECRET, BODY + b" ", header, now=T)
    assert not verify("whsec_other", BODY, header, now=T)
    assert not verify(SECRET, BODY, header, now=T + 301)
    assert not verify(SECRET, BODY, header.replace(f"t={T}", f"t={T + 100}"), now=T + 100)


def test_a_malformed_old_header_is_simply_invalid() -> None:
    digest = signed()[HEADER].split("v1=")[1]
    for header in ["", "garbage", f"v1={digest}", f"t={T}", f"t=abc,v1={digest}", "t=²,v1=é"]:
        assert not verify(SECRET, BODY, header, now=T), header
