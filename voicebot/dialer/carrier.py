"""The carrier's REST side as the workers need it: place a call, send a text.

A Protocol so tests (and the simulator) can stand in for Twilio. Blocking, like
the Twilio client itself: the workers call it through ``asyncio.to_thread``.
"""

from __future__ import annotations

from typing import Any, Protocol

from voicebot.config import Settings
from voicebot.errors import DialerError, DialRefusedError


class Dialer(Protocol):
    def create_call(
        self, to: str, from_: str, url: str, status_callback: str, machine_detection: str
    ) -> str:
        """Place a call; returns the carrier's CallSid."""
        ...

    def send_sms(self, to: str, from_: str, body: str) -> None:
        """Send a text message (the fallback when calls did not get through)."""
        ...


class TwilioDialer:
    """``Dialer`` over ``twilio.rest.Client``; Twilio's errors become ours at this edge.

    An HTTP error answer from Twilio means nothing was placed (``DialRefusedError``);
    anything else (a timeout, a broken connection) leaves it unknown (``DialerError``).
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioDialer:
        """Twilio, or the phone simulator when ``TWILIO_API_BASE_URL`` points at it."""
        from voicebot.telephony.rest import twilio_client

        return cls(twilio_client(settings))

    def create_call(
        self, to: str, from_: str, url: str, status_callback: str, machine_detection: str
    ) -> str:
        from twilio.base.exceptions import TwilioRestException

        try:
            call = self.client.calls.create(
                to=to,
                from_=from_,
                url=url,
                status_callback=status_callback,
                status_callback_method="POST",
                machine_detection=machine_detection,
            )
        except TwilioRestException as e:
            raise DialRefusedError(f"Twilio refused the call: {e.code} {e.msg}") from e
        except Exception as e:
            raise DialerError(f"Twilio call request failed: {e}") from e
        return str(call.sid)

    def send_sms(self, to: str, from_: str, body: str) -> None:
        from twilio.base.exceptions import TwilioRestException

        try:
            self.client.messages.create(to=to, from_=from_, body=body)
        except TwilioRestException as e:
            raise DialRefusedError(f"Twilio refused the message: {e.code} {e.msg}") from e
        except Exception as e:
            raise DialerError(f"Twilio message request failed: {e}") from e
