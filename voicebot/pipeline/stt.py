"""Speech recognition stage: faster-whisper on the segments the VAD cuts.

Why not pipecat's ``WhisperSTTService``: it loads a model per instance, cannot
change ``hotwords`` per question, and drops empty results silently. Here one
model serves every call, recognition is biased toward the answers the current
question expects, and every VAD segment produces exactly one ``HeardFrame``
(possibly empty) so the dialog policy always knows the turn is over.

Secrets are redacted here, at the source: no text leaves this stage before
``redact`` has run, so a PIN or seed phrase never reaches the transcript, the
logs, the live events or an LLM. While a caller talks for longer than
``PARTIAL_EVERY_S``, the speech so far is transcribed too, only to look for a
secret being said, so the bot can cut in before the caller finishes it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from faster_whisper import WhisperModel
from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    StartFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.dialog.redaction import redact
from voicebot.pipeline.frames import HeardFrame, RecognitionHintsFrame

WHISPER_RATE = 16000
PRE_ROLL_S = 0.5  # audio kept from before the VAD fired, so first syllables survive
TRAILING_PAD_S = 0.2  # Whisper garbles a last word that ends abruptly
PARTIAL_EVERY_S = 1.5  # while the caller talks, look for secrets this often
LOOPING_COMPRESSION = 2.4  # a segment this compressible is Whisper repeating itself
LOOPING_CONFIDENCE = 0.5  # the most a looping transcript is trusted (a "yes" is read back)


@dataclass(frozen=True)
class Recognition:
    """One recognised utterance."""

    text: str
    confidence: float  # 0..1, from the mean token log-probability
    seconds: float


def transcribe(
    model: WhisperModel,
    pcm16k: np.ndarray,
    *,
    hotwords: str = "",
    initial_prompt: str = "",
    long_form: bool = False,
) -> Recognition:
    """Run Whisper on 16 kHz int16 mono audio (blocking: call it from a thread).

    ``long_form`` decodes with timestamps, which keeps Whisper going through
    audio longer than a sentence or two (the simulator's bot-side check).
    """
    started = time.perf_counter()
    audio = pcm16k.astype(np.float32) / 32768.0
    audio = np.concatenate([audio, np.zeros(int(WHISPER_RATE * TRAILING_PAD_S), np.float32)])
    segments, _info = model.transcribe(
        audio,
        language="en",
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=not long_form,
        vad_filter=False,
        hotwords=hotwords or None,
        initial_prompt=initial_prompt or None,
    )
    texts: list[str] = []
    logprobs: list[float] = []
    looping = False
    for seg in segments:
        if seg.no_speech_prob > 0.8 and seg.avg_logprob < -1.0:
            continue  # Whisper hallucinating over noise
        texts.append(seg.text.strip())
        logprobs.append(seg.avg_logprob)
        looping |= seg.compression_ratio > LOOPING_COMPRESSION
    text = " ".join(t for t in texts if t)
    confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
    if looping:
        # "yes yes yes ..." three hundred times, confidently: Whisper's repetition
        # loop. Something was said, but it is not to be trusted as heard.
        text, confidence = collapse_repeats(text), min(confidence, LOOPING_CONFIDENCE)
    return Recognition(text=text, confidence=confidence, seconds=time.perf_counter() - started)


def collapse_repeats(text: str, keep: int = 3) -> str:
    """At most ``keep`` copies of a word in a row."""
    out: list[str] = []
    for word in text.split():
        if len(out) >= keep and all(w.lower() == word.lower() for w in out[-keep:]):
            continue
        out.append(word)
    return " ".join(out)


class WhisperTranscriber(FrameProcessor):
    """Buffers the caller's speech between VAD events and transcribes each segment."""

    def __init__(self, model: WhisperModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._model = model
        self._hints = RecognitionHintsFrame()
        self._speaking = False
        self._segment = bytearray()
        self._pre_roll: deque[bytes] = deque()
        self._pre_roll_bytes = 0
        self._queue: asyncio.Queue[tuple[bytes, float] | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._partial: asyncio.Task[None] | None = None
        self._partial_at = 0  # segment length (bytes) at the last partial check

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._on_audio(frame)
            return  # audio stops here: nothing downstream needs the caller's samples
        if isinstance(frame, RecognitionHintsFrame):
            self._hints = frame
            return
        if isinstance(frame, StartFrame):
            self._worker = self.create_task(self._transcribe_segments(), "whisper-segments")
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._speaking = True
            self._segment = bytearray(b"".join(self._pre_roll))
            self._partial_at = len(self._segment)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            if self._speaking:
                self._speaking = False
                await self._queue.put((bytes(self._segment), time.monotonic()))
                self._segment = bytearray()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            for task in (self._worker, self._partial):
                if task is not None and not task.done():
                    await self.cancel_task(task)
            self._worker = self._partial = None
        await self.push_frame(frame, direction)

    def _on_audio(self, frame: InputAudioRawFrame) -> None:
        if frame.sample_rate != WHISPER_RATE:
            # Whisper silently mis-transcribes any other rate; the pipeline must run at 16 kHz.
            logger.error(f"{self}: audio at {frame.sample_rate} Hz, expected {WHISPER_RATE}")
            return
        if self._speaking:
            self._segment.extend(frame.audio)
            self._maybe_check_partial()
        self._pre_roll.append(frame.audio)
        self._pre_roll_bytes += len(frame.audio)
        while self._pre_roll_bytes > PRE_ROLL_S * WHISPER_RATE * 2:
            self._pre_roll_bytes -= len(self._pre_roll.popleft())

    def _maybe_check_partial(self) -> None:
        due = len(self._segment) - self._partial_at >= PARTIAL_EVERY_S * WHISPER_RATE * 2
        if due and (self._partial is None or self._partial.done()):
            self._partial_at = len(self._segment)
            self._partial = self.create_task(
                self._check_partial(bytes(self._segment)), "whisper-partial"
            )

    async def _check_partial(self, audio: bytes) -> None:
        """Transcribe the turn so far; tell the policy only if a secret is in it."""
        try:
            result = await asyncio.to_thread(
                transcribe, self._model, np.frombuffer(audio, dtype=np.int16)
            )
        except Exception as e:
            logger.warning(f"{self}: partial recognition failed: {e!r}")
            return
        redaction = redact(result.text)
        if redaction.found and self._speaking:
            logger.info(f"{self}: caller is saying a secret ({', '.join(redaction.kinds)})")
            await self.push_frame(
                HeardFrame(
                    text=redaction.text,
                    confidence=result.confidence,
                    secrets=redaction.kinds,
                    partial=True,
                )
            )

    async def _transcribe_segments(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            audio, ended_at = item
            pcm = np.frombuffer(audio, dtype=np.int16)
            try:
                result = await asyncio.to_thread(
                    transcribe,
                    self._model,
                    pcm,
                    hotwords=self._hints.hotwords,
                    initial_prompt=self._hints.initial_prompt,
                )
            except Exception as e:  # a failed recognition must not kill the call
                logger.exception(f"{self}: recognition failed: {e}")
                result = Recognition(text="", confidence=0.0, seconds=0.0)
            redaction = redact(result.text)
            logger.debug(f"{self}: heard {redaction.text!r} ({result.confidence:.2f})")
            await self.push_frame(
                HeardFrame(
                    text=redaction.text,
                    confidence=result.confidence,
                    speech_ended_at=ended_at,
                    stt_seconds=result.seconds,
                    secrets=redaction.kinds,
                )
            )
