"""Webhook signatures as a receiver checks them: body, secret, and age."""

from __future__ import annotations

import hashlib
import hmac
import re

from voicebot.outcomes.signing import sign, verify

SECRET = "whsec_test"
BODY = b'{"call_id":"c1","outcome":"confirmed"}'
T = 1_760_000_000


def test_header_is_timestamp_and_hex_hmac_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, T)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, T), now=T + 5)


def test_a_tampered_body_does_not_verify() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify(SECRET, BODY.replace(b"confirmed", b"rejected"), header, now=T)
    assert not verify(SECRET, BODY + b" ", header, now=T)


def test_a_wrong_secret_does_not_verify() -> None:
    assert not verify("whsec_other", BODY, sign(SECRET, BODY, T), now=T)
    assert not verify("", BODY, sign("", BODY, T), now=T)


def test_a_stale_or_far_future_timestamp_is_refused() -> None:
    header = sign(SECRET, BODY, T)
    assert verify(SECRET, BODY, header, now=T + 300)
    assert not verify(SECRET, BODY, header, now=T + 301)
    assert not verify(SECRET, BODY, header, now=T - 301)
    assert not verify(SECRET, BODY, header, now=T + 61, tolerance_s=60)


def test_a_changed_timestamp_breaks_the_signature() -> None:
    header = sign(SECRET, BODY, T).replace(f"t={T}", f"t={T + 100}")
    assert not verify(SECRET, BODY, header, now=T + 100)


def test_malformed_headers_are_simply_invalid() -> None:
    digest = sign(SECRET, BODY, T).split("v1=")[1]
    for header in ["", "garbage", f"v1={digest}", f"t={T}", f"t=abc,v1={digest}", "t=²,v1=é"]:
        assert not verify(SECRET, BODY, header, now=T), header


def test_one_matching_v1_among_several_is_enough() -> None:
    """A sender rotating secrets may sign with the old and the new one."""
    old = sign("whsec_old", BODY, T).split("v1=")[1]
    new = sign(SECRET, BODY, T).split("v1=")[1]
    assert verify(SECRET, BODY, f"t={T},v1={old},v1={new}", now=T)
    assert verify("whsec_old", BODY, f"t={T},v1={old},v1={new}", now=T)
