"""The one exception tree of the project.

    VoicebotError
    ├── ConfigError            misconfiguration; raised at start-up, never mid-call
    ├── TelephonyError         the carrier side
    │   ├── SignatureError     a webhook whose X-Twilio-Signature does not match
    │   └── StreamTokenError   a media stream without a valid one-time token
    ├── CallNotFoundError      a call id or CallSid we have no record of
    ├── CallbackError          the callbacks API (voicebot/api/)
    │   ├── CallbackNotFoundError  no callback under this id for this client
    │   ├── CallbackConflictError  a change the callback's state or event id forbids
    │   ├── CallbackLimitError     too many callbacks already open for the number
    │   └── CallbackRequestError   a request that is well-formed but not acceptable now
    ├── ReviewQueryError       a query for calls or feedback that cannot be answered
    ├── PhoneNumberError       a phone number that is not E.164
    ├── ConsentError           consent data that cannot be used (a DNC file with no number)
    ├── DialerError            placing a call or the fallback message failed
    │   └── DialRefusedError   the carrier refused the request: nothing was placed
    ├── DialogError            a flow file or prompt that cannot be run
    ├── SpeechError            speech recognition or synthesis failed
    └── ScenarioError          a scenario file that breaks the contract

Vendor errors are converted at the boundary with ``raise ... from e`` so callers
only ever catch these. What each means to an API client (404, 409, 422, 429) is
said once, in ``voicebot.api.errors``.
"""

from __future__ import annotations


class VoicebotError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(VoicebotError):
    """The configuration is missing or unsafe."""


class TelephonyError(VoicebotError):
    """Something is wrong on the carrier side of a call."""


class SignatureError(TelephonyError):
    """A Twilio webhook failed signature validation."""


class StreamTokenError(TelephonyError):
    """A media stream presented no token, a wrong one, or a used one."""


class CallNotFoundError(VoicebotError):
    """No call is known under this id."""


class CallbackError(VoicebotError):
    """A callback request that cannot be served as asked."""


class CallbackNotFoundError(CallbackError):
    """No callback under this id, or it belongs to another client (the same answer: 404)."""


class CallbackConflictError(CallbackError):
    """The callback's state (or an event id already used differently) forbids the change."""


class CallbackLimitError(CallbackError):
    """The number already has as many open callbacks as allowed; nothing was stored.

    A flood of requests for one number (different event ids) would otherwise
    all wait in the queue and ring that person again and again.
    """

    def __init__(self, phone: str, open_now: int, limit: int) -> None:
        super().__init__(
            f"{phone} already has {open_now} callbacks queued or being dialed, and at most "
            f"{limit} may be open per number: ask again once one has ended or been cancelled"
        )
        self.phone = phone
        self.open_now = open_now
        self.limit = limit


class CallbackRequestError(CallbackError):
    """A request valid in form but not now, e.g. a deadline already past; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ReviewQueryError(VoicebotError):
    """A review query (``/v1/calls``, ``/v1/feedback``) that cannot be answered; names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class PhoneNumberError(VoicebotError):
    """A phone number is not in E.164 form (``+`` and up to 15 digits)."""


class ConsentError(VoicebotError):
    """Consent or do-not-call data that cannot be stored as given (nothing was stored)."""


class DialerError(VoicebotError):
    """The carrier's REST side failed; whether anything was placed is unknown."""


class DialRefusedError(DialerError):
    """The carrier answered and refused (e.g. an invalid number): nothing was placed."""


class DialogError(VoicebotError):
    """A flow or prompt file is invalid."""


class SpeechError(VoicebotError):
    """Speech recognition or synthesis failed."""


class ScenarioError(VoicebotError):
    """A scenario file does not follow the contract."""
