"""Twilio's Media Streams frames to and from pipecat, without holding the caller's audio back.

pipecat's ``TwilioFrameSerializer`` upsamples the caller's 8 kHz audio with a
"very high quality" streaming resampler that releases its output in bursts
about 100 ms apart: it holds the caller's audio back 62 ms on average and up
to 110 ms, so every turn's end reached the VAD that much late. Upsampling
speech that is band-limited to 4 kHz needs no such filter: soxr's quick
mode streams each 20 ms frame straight through (0.25 ms held), and Whisper's
confidence on the suite's lines is the same (0.905 vs 0.908 mean over 30
lines, docs/status.md).

Reading the caller's side is ours too, for two reasons:

- **A bad message is dropped, never fatal.** pipecat decodes a ``media``
  payload with an unchecked ``base64.b64decode``; the exception ends the
  transport's receive loop, which looks exactly like the caller hanging up.
  Here a message that is not JSON, not an object, or a ``media``/``dtmf``
  message with a missing or mistyped field or a payload that is not base64
  is dropped and counted (``voicebot_media_messages_dropped_total``, by
  reason), with one warning per call that never includes the message.
- **``stop`` ends the stream at once.** Twilio sends ``stop`` when the call
  ends; pipecat ignores it, so with the socket left open the bot went on
  speaking and listening. Here ``stop`` calls ``on_stop`` (the pipeline hangs
  up, as when the socket closes) and nothing read after it reaches the
  pipeline.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler
from pipecat.audio.utils import ulaw_to_pcm
from pipecat.frames.frames import Frame, InputAudioRawFrame, InputDTMFFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from voicebot import metrics

StopHandler = Callable[[], Awaitable[None]]


class TwilioSerializer(TwilioFrameSerializer):
    """pipecat's Twilio serializer, reading the caller's side safely and streaming it through.

    ``streaming_input=False`` keeps pipecat's own input resampler (the
    benchmark's stock baseline); the message handling is the same either way.
    """

    def __init__(
        self,
        stream_sid: str,
        call_sid: str,
        *,
        on_stop: StopHandler | None = None,
        streaming_input: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(stream_sid, call_sid, **kwargs)
        if streaming_input:
            # The input side only: the bot's audio leaves at 8 kHz already (no resampling).
            self._input_resampler = SOXRStreamAudioResampler(quality="QQ", clear_after_secs=None)
        self._on_stop = on_stop
        self._stopped = False
        self._dropped = 0

    async def deserialize(self, data: str | bytes) -> Frame | None:
        """One message from Twilio: audio, a key, or nothing for the pipeline."""
        if self._stopped:
            return None  # the stream has ended: nothing after stop is the caller
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):  # JSONDecodeError, bad UTF-8, absurd nesting
            self._drop("invalid_json")
            return None
        if not isinstance(message, dict):
            self._drop("not_an_object")
            return None
        event = message.get("event")
        if not isinstance(event, str):
            self._drop("no_event")
            return None
        if event == "media":
            return await self._media(message)
        if event == "dtmf":
            return self._dtmf(message)
        if event == "stop":
            await self._stop()
        # connected, start, mark, and whatever Twilio adds later: nothing for the pipeline.
        return None

    async def _media(self, message: dict[str, Any]) -> Frame | None:
        media = message.get("media")
        if not isinstance(media, dict):
            self._drop("bad_media")
            return None
        payload = media.get("payload")
        if not isinstance(payload, str) or not payload:
            self._drop("bad_payload")
            return None
        try:
            ulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):  # bad padding or alphabet, non-ASCII text
            self._drop("bad_payload")
            return None
        # Every byte is a valid mu-law sample: from here on nothing can be malformed.
        pcm = await ulaw_to_pcm(
            ulaw, self._twilio_sample_rate, self._sample_rate, self._input_resampler
        )
        if not pcm:
            return None  # the resampler is still filling: not an error
        return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=self._sample_rate)

    def _dtmf(self, message: dict[str, Any]) -> Frame | None:
        dtmf = message.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str):
            self._drop("bad_dtmf")
            return None
        try:
            return InputDTMFFrame(KeypadEntry(digit))
        except ValueError:
            self._drop("bad_dtmf")
            return None

    async def _stop(self) -> None:
        self._stopped = True
        logger.info(f"{self._call_sid}: Twilio sent stop: the media stream has ended")
        if self._on_stop is not None:
            await self._on_stop()

    def _drop(self, reason: str) -> None:
        """Count a malformed message; warn once per call, never with the message itself."""
        metrics.MEDIA_MESSAGES_DROPPED.labels(reason=reason).inc()
        self._dropped += 1
        if self._dropped == 1:
            logger.warning(
                f"{self._call_sid}: dropped a malformed media-stream message ({reason}); "
                "further ones in this call are only counted"
            )
