"""Twilio's Media Streams frames to and from pipecat, without holding the caller's audio back.

pipecat's ``TwilioFrameSerializer`` upsamples the caller's 8 kHz audio with a
"very high quality" streaming resampler that releases its output in bursts
about 100 ms apart: it holds the caller's audio back 62 ms on average and up
to 110 ms, so every turn's end reached the VAD that much late. Upsampling
speech that is band-limited to 4 kHz needs no such filter: soxr's quick
mode streams each 20 ms frame straight through (0.25 ms held), and Whisper's
confidence on the suite's lines is the same (0.905 vs 0.908 mean over 30
lines, docs/status.md).
"""

from __future__ import annotations

from typing import Any

from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler
from pipecat.serializers.twilio import TwilioFrameSerializer


class TwilioSerializer(TwilioFrameSerializer):
    """pipecat's Twilio serializer with a resampler that streams the caller's audio through."""

    def __init__(self, stream_sid: str, call_sid: str, **kwargs: Any) -> None:
        super().__init__(stream_sid, call_sid, **kwargs)
        # The input side only: the bot's audio leaves at 8 kHz already (no resampling).
        self._input_resampler = SOXRStreamAudioResampler(quality="QQ", clear_after_secs=None)
