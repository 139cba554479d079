"""TwiML answers to the voice webhook."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse


def connect_stream(stream_url: str, parameters: dict[str, str]) -> str:
    """Bidirectional media stream (``<Connect><Stream>``; ``<Start>`` would be one-way).

    A ``<Stream>`` URL cannot carry a query string, so per-call values travel as
    ``<Parameter>`` elements and come back in the stream's ``start`` message.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def hang_up() -> str:
    """End a call without saying anything or connecting a stream.

    The answer to a voice webhook for a call we know nothing about, or for one
    that already got its stream or has ended (a replay).
    """
    response = VoiceResponse()
    response.hangup()
    return str(response)
