"""The one exception tree of the project.

    VoicebotError
    ├── ConfigError            misconfiguration; raised at start-up, never mid-call
    ├── TelephonyError         the carrier side
    │   ├── SignatureError     a webhook whose X-Twilio-Signature does not match
    │   └── StreamTokenError   a media stream without a valid one-time token
    ├── CallNotFoundError      a call id or CallSid we have no record of
    ├── PhoneNumberError       a phone number that is not E.164
    ├── DialogError            a flow file or prompt that cannot be run
    ├── SpeechError            speech recognition or synthesis failed
    └── ScenarioError          a scenario file that breaks the contract

Vendor errors are converted at the boundary with ``raise ... from e`` so callers
only ever catch these.
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


class PhoneNumberError(VoicebotError):
    """A phone number is not in E.164 form (``+`` and up to 15 digits)."""


class DialogError(VoicebotError):
    """A flow or prompt file is invalid."""


class SpeechError(VoicebotError):
    """Speech recognition or synthesis failed."""


class ScenarioError(VoicebotError):
    """A scenario file does not follow the contract."""
