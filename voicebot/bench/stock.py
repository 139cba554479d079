"""The baseline: pipecat's stock speech services in place of ours, same dialog.

What "a stock pipecat pipeline with local Whisper and Piper" means here:
``VADProcessor`` with pipecat's ``SileroVADAnalyzer`` (``stop_secs=0.6``, its
other defaults), the stock ``WhisperSTTService`` (segment transcription when
the VAD says the turn ended) and the stock ``PiperTTSService`` (one sentence
after another, at the voice's rate, resampled by the transport). Both load the
same model files as ours, by path, so the comparison is of the pipeline, not
of the models. Two small adapters let our dialog policy sit between them. The
transport keeps pipecat's own ``TwilioFrameSerializer`` too (``pipeline/call.py``).
Selected with ``VOICEBOT_PIPELINE=stock``; only ``voicebot bench`` uses it.
"""

from __future__ import annotations

import time
from typing import Any

from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import Frame, TranscriptionFrame, TTSSpeakFrame
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService

from voicebot.config import Settings
from voicebot.dialog.redaction import redact
from voicebot.pipeline.frames import HeardFrame, SpeakFrame
from voicebot.pipeline.models import piper_voice_path, whisper_model_dir

STOCK_STOP_SECS = 0.6


class TranscriptToHeard(FrameProcessor):
    """Stock transcriptions as our policy's ``HeardFrame`` (redacted, full confidence)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            now = time.monotonic()
            redaction = redact(frame.text)
            await self.push_frame(
                HeardFrame(
                    text=redaction.text,
                    confidence=1.0,
                    speech_ended_at=now,
                    speech_stopped_at=now,
                    secrets=redaction.kinds,
                )
            )
            return
        await self.push_frame(frame, direction)


class SpeakToStockTTS(FrameProcessor):
    """Our policy's turns as the stock synthesiser's ``TTSSpeakFrame``, one per line."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeakFrame):
            for line in frame.lines:
                await self.push_frame(TTSSpeakFrame(text=line.text))
            return
        await self.push_frame(frame, direction)


def stock_speech_stages(settings: Settings) -> tuple[list[Any], list[Any]]:
    """(before the policy, after the policy): stock VAD and Whisper; stock Piper.

    Loaded per call, as the stock services do.
    """
    voice = piper_voice_path(settings)
    before = [
        VADProcessor(vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=STOCK_STOP_SECS))),
        WhisperSTTService(
            settings=WhisperSTTService.Settings(model=str(whisper_model_dir(settings))),
            device="cpu",
        ),
        TranscriptToHeard(),
    ]
    after = [
        SpeakToStockTTS(),
        PiperTTSService(
            settings=PiperTTSService.Settings(voice=voice.stem), download_dir=voice.parent
        ),
    ]
    return before, after
