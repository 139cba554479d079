"""Dialog policy stage: turns what was heard into what the bot says next.

It owns turn-taking: barge-in (the caller may cut a question short but not a
disclosure), keypad input, the silence timer, and ending the call. What to say
and how the call ends are decided by the pure ``DialogEngine``; this stage only
moves frames. Any error here becomes a spoken apology and an escalation: a
live call never goes silent because of a bug.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndWorkerFrame,
    Frame,
    InputDTMFFrame,
    StartFrame,
    VADUserStartedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.dialog.engine import DialogEngine, Line, Reply
from voicebot.pipeline.frames import HeardFrame, RecognitionHintsFrame, SpeakFrame
from voicebot.pipeline.session import CallSession
from voicebot.pipeline.tts import PlaybackTimeline

OutcomeSink = Callable[[CallSession], Awaitable[None]]
EventSink = Callable[[dict[str, Any]], Awaitable[None]]


class DialogPolicy(FrameProcessor):
    """Runs one call's dialog between the recogniser and the synthesiser."""

    def __init__(
        self,
        *,
        engine: DialogEngine,
        session: CallSession,
        timeline: PlaybackTimeline,
        on_outcome: OutcomeSink,
        on_event: EventSink,
        silence_timeout_s: float,
        fallback_text: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._engine = engine
        self._session = session
        self._timeline = timeline
        self._on_outcome = on_outcome
        self._on_event = on_event
        self._silence_timeout_s = silence_timeout_s
        self._fallback_text = fallback_text
        self._silence_task: asyncio.Task[None] | None = None
        self._caller_turn_open = False  # from VAD start until its HeardFrame arrives
        self._talked_over_disclosure = False
        self._ending = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        try:
            if isinstance(frame, StartFrame):
                await self.push_frame(frame, direction)
                await self._say(self._engine.start())
                return
            if isinstance(frame, HeardFrame):
                await self._on_heard(frame)
                return
            if isinstance(frame, InputDTMFFrame):
                await self._on_keypad(str(frame.button.value))
                return
            if isinstance(frame, VADUserStartedSpeakingFrame):
                await self._on_caller_started()
            elif isinstance(frame, BotStartedSpeakingFrame):
                await self._cancel_silence_timer()
            elif isinstance(frame, BotStoppedSpeakingFrame):
                # The transport has sent the last audio: authoritative, unlike the timeline.
                await self._maybe_start_silence_timer(bot_done=True)
        except Exception as e:
            await self._fail(e)
        await self.push_frame(frame, direction)

    async def cleanup(self) -> None:
        """The call is over (ended, hung up or cancelled): no timer may outlive it."""
        await self._cancel_silence_timer()
        await super().cleanup()

    # -- caller input --------------------------------------------------------

    async def _on_caller_started(self) -> None:
        await self._cancel_silence_timer()
        self._caller_turn_open = True
        line = self._timeline.playing()
        if line is None or self._ending:
            self._talked_over_disclosure = line is not None
            return
        if line.interruptible:
            logger.debug(f"{self}: barge-in during {line.key!r}")
            self._timeline.clear()
            await self.broadcast_interruption()
            self._talked_over_disclosure = False
        else:
            self._talked_over_disclosure = True

    async def _on_heard(self, frame: HeardFrame) -> None:
        self._caller_turn_open = False
        if frame.text:
            self._session.record_caller(frame.text, "speech", frame.confidence)
            await self._on_event(
                {"type": "heard", "text": frame.text, "confidence": round(frame.confidence, 2)}
            )
        if self._talked_over_disclosure or self._ending:
            # Speech over a disclosure (or the goodbye) answers nothing that was asked.
            logger.debug(f"{self}: ignoring {frame.text!r} said over a disclosure")
            self._talked_over_disclosure = False
        else:
            reply = self._engine.hear(frame.text, frame.confidence)
            if reply is not None:
                await self._say(reply)
                return
        await self._maybe_start_silence_timer()

    async def _on_keypad(self, digit: str) -> None:
        self._session.record_caller(digit, "keypad", 1.0)
        line = self._timeline.playing()
        if self._ending or (line is not None and not line.interruptible):
            return
        await self._cancel_silence_timer()
        if line is not None:
            self._timeline.clear()
            await self.broadcast_interruption()
        reply = self._engine.keypad(digit)
        if reply is not None:
            await self._say(reply)

    # -- bot output ----------------------------------------------------------

    async def _say(self, reply: Reply) -> None:
        for line in reply.lines:
            self._session.record_bot(line.text)
            await self._on_event({"type": "bot", "key": line.key, "text": line.text})
        await self.push_frame(SpeakFrame(lines=reply.lines))
        await self.push_frame(
            RecognitionHintsFrame(hotwords=reply.hotwords), FrameDirection.UPSTREAM
        )
        if reply.ends_call:
            await self._end()

    async def _end(self) -> None:
        """Record the outcome now, then hang up once the last line has played."""
        self._ending = True
        await self._cancel_silence_timer()
        self._session.conclude(self._engine)
        await self._on_outcome(self._session)
        # EndWorkerFrame queues behind the goodbye, so the caller hears it whole.
        await self.push_frame(EndWorkerFrame(reason=self._engine.outcome))

    async def _fail(self, error: Exception) -> None:
        """Never dead air: apologise, escalate, hang up."""
        logger.exception(f"{self}: dialog failed: {error}")
        if self._ending:
            return
        self._engine.end_with("escalated", escalate=True)
        self._session.failure = repr(error)
        self._session.record_bot(self._fallback_text)
        await self.push_frame(
            SpeakFrame(lines=(Line("technical_apology", self._fallback_text, interruptible=False),))
        )
        await self._end()

    # -- silence -------------------------------------------------------------

    async def _maybe_start_silence_timer(self, *, bot_done: bool = False) -> None:
        if self._ending or self._caller_turn_open or self._engine.finished:
            return
        if not bot_done and self._timeline.ends_at() > time.monotonic():
            return  # still talking; BotStoppedSpeaking will start it
        await self._cancel_silence_timer()
        self._silence_task = self.create_task(self._silence_timer(), "silence-timer")

    async def _cancel_silence_timer(self) -> None:
        task, self._silence_task = self._silence_task, None
        if task is not None and task is not asyncio.current_task():
            await self.cancel_task(task)

    async def _silence_timer(self) -> None:
        await asyncio.sleep(self._silence_timeout_s)
        self._silence_task = None
        try:
            reply = self._engine.silence()
            if reply is not None:
                await self._say(reply)
        except Exception as e:
            await self._fail(e)
