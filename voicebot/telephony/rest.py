"""The Twilio REST client, configured once: the real API, or the phone simulator's.

Everything that places calls or sends texts gets its client here, so pointing
``TWILIO_API_BASE_URL`` at ``voicebot.simulator.rest.TwilioRestSimulator``
sends the very same requests to the simulator instead of api.twilio.com.
"""

from __future__ import annotations

from twilio.rest import Client

from voicebot.config import Settings


def twilio_client(settings: Settings) -> Client:
    """A client for the configured account, at the configured API base URL."""
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value())
    if settings.twilio_api_base_url:
        # Every /2010-04-01 resource (Calls, Messages) goes through the ``api``
        # domain, which builds its URLs from ``base_url`` at request time.
        client.api.base_url = settings.twilio_api_base_url.rstrip("/")
        # TWILIO_EDGE / TWILIO_REGION would rewrite the host to *.twilio.com.
        client.edge = None
        client.region = None
    return client
