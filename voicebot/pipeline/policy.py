"""Dialog policy stage: turns what was heard into what the bot says next.

An adapter around two pure cores: *when* to answer, barge in, wait or hang up
is decided by ``voicebot.turns.taking.TurnTaking`` (fed the pipeline's events
with their times), *what* to say and how the call ends by ``DialogEngine``.
This stage moves frames and does what must happen in the call's time: an
opt-out is stored before its goodbye is said, an optional LLM is asked when the
offline classifier understood nothing, an answer given in a pause is undone
(the engine restored) when the caller goes on, keys are held and PINs typed
on the keypad redacted, and an answering machine's beep is waited for. Any
error here becomes a spoken apology and an escalation: a live call never goes
silent because of a bug.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

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

from voicebot import metrics
from voicebot.dialog.engine import DialogEngine, EngineSnapshot, Line, Reply
from voicebot.dialog.understanding import Intent, Interpretation
from voicebot.pipeline.frames import (
    BeepFrame,
    CallerResumedFrame,
    HeardFrame,
    RecognitionFailedFrame,
    RecognitionHintsFrame,
    SpeakFrame,
    SpeechFailedFrame,
    TurnTiming,
    TurnTimingFrame,
)
from voicebot.pipeline.session import CallSession
from voicebot.pipeline.tts import PlaybackTimeline
from voicebot.turns.taking import Act, Action, BotLine, Reading, Rules, TurnTaking, added_words

OutcomeSink = Callable[[CallSession], Awaitable[None]]
EventSink = Callable[[dict[str, Any]], Awaitable[None]]


class IntentHelper(Protocol):
    """An optional classifier for free speech (``voicebot.dialog.llm.IntentAssistant``)."""

    async def classify(
        self, *, question: str, answer: str, allowed: Sequence[str], locale: str = "en-US"
    ) -> str | None: ...


# The flows ask for one key at a time, so a burst of keys (each within
# KEYPAD_BURST_GAP_S of the last) this long is a PIN or a card number being
# typed: it is redacted from the record and the caller is warned, as for one
# said aloud. A key is acted on only when no other follows within
# KEYPAD_HOLD_S, so the first digit of a PIN never answers a question.
KEYPAD_SECRET_DIGITS = 4
KEYPAD_BURST_GAP_S = 1.5
KEYPAD_HOLD_S = 0.5
KEYPAD_REDACTED = "[redacted keypad digits]"


class DialogPolicy(FrameProcessor):
    """Runs one call's dialog between the recogniser and the synthesiser."""

    def __init__(
        self,
        *,
        engine: DialogEngine,
        session: CallSession,
        timeline: PlaybackTimeline,
        on_outcome: OutcomeSink,
        on_opt_out: OutcomeSink,
        on_event: EventSink,
        silence_timeout_s: float,
        voicemail_wait_s: float,
        fallback_text: str,
        assistant: IntentHelper | None = None,
        finished_threshold: float = 0.5,
        early_min_confidence: float = 0.75,
        keypad_hold_s: float = KEYPAD_HOLD_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._engine = engine
        self._session = session
        self._timeline = timeline
        self._on_outcome = on_outcome
        self._on_opt_out = on_opt_out
        self._on_event = on_event
        self._silence_timeout_s = silence_timeout_s
        self._voicemail_wait_s = voicemail_wait_s
        self._fallback_text = fallback_text
        self._assistant = assistant
        # P(finished) from the turn model at which a pause's words are answered.
        self._finished_threshold = finished_threshold
        # How sure Whisper must be of a pause's words for them to mean something now.
        self._early_min_confidence = early_min_confidence
        self._keypad_hold_s = keypad_hold_s
        self._turns = TurnTaking(
            Rules(
                silence_timeout_s=silence_timeout_s,
                finished_threshold=finished_threshold,
                early_min_confidence=early_min_confidence,
                llm_fallback=assistant is not None,
            )
        )
        self._silence_task: asyncio.Task[None] | None = None
        self._beep_task: asyncio.Task[None] | None = None
        self._key_task: asyncio.Task[None] | None = None  # a key waiting out its hold
        self._key_burst: list[int] = []  # transcript indexes of the keys in this burst
        self._last_key_at = float("-inf")
        self._events: set[asyncio.Task[None]] = set()
        # The engine before the answer given to a pause's words, and where that
        # answer left it: the turn's final words keep it or redo it (``_redo_early``).
        self._early_before: EngineSnapshot | None = None
        self._early_result: tuple[str, str | None] | None = None
        self._early_text = ""
        self._heard_at = 0.0  # when the words being answered reached this stage
        self._warning_until = 0.0  # a warning just sent counts as playing until then
        self._awaiting_beep = False
        self._ended = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        try:
            if isinstance(frame, StartFrame):
                await self.push_frame(frame, direction)
                await self._begin()
                return
            if isinstance(frame, BeepFrame):
                await self._leave_voicemail()
                return
            if isinstance(frame, SpeechFailedFrame):
                await self._speech_failed(frame.error)
                return
            if isinstance(frame, RecognitionFailedFrame):
                await self._give_up(f"speech recognition: {frame.error}")
                return
            if isinstance(frame, TurnTimingFrame):
                await self._report_timing(frame)
                return
            if isinstance(frame, HeardFrame):
                await self._on_heard(frame)
                return
            if isinstance(frame, CallerResumedFrame):
                now = time.monotonic()
                await self._run(self._turns.caller_resumed(frame.turn, now, self._playing()))
                return
            if isinstance(frame, InputDTMFFrame):
                await self._on_keypad(str(frame.button.value))
                return
            if isinstance(frame, VADUserStartedSpeakingFrame):
                now = time.monotonic()
                await self._run(self._turns.caller_started(now, self._playing()))
            elif isinstance(frame, BotStartedSpeakingFrame):
                await self._run(self._turns.bot_started())
            elif isinstance(frame, BotStoppedSpeakingFrame):
                # The transport has sent the last audio: authoritative, unlike the timeline.
                await self._run(self._turns.bot_stopped(time.monotonic()))
        except Exception as e:
            await self._fail(e)
        await self.push_frame(frame, direction)

    async def cleanup(self) -> None:
        """The call is over (ended, hung up or cancelled): no timer may outlive it."""
        await self._cancel_silence_timer()
        await self._cancel_key()
        if self._beep_task is not None:
            await self.cancel_task(self._beep_task)
        await super().cleanup()

    async def _begin(self) -> None:
        machine = self._session.machine
        if machine == "start":
            # An answering machine's greeting is playing: speak after its beep.
            self._awaiting_beep = True
            self._beep_task = self.create_task(self._beep_timeout(), "voicemail-wait")
        elif machine == "end":
            await self._say(self._engine.voicemail())
        else:
            await self._say(self._engine.start())

    async def _beep_timeout(self) -> None:
        """No beep heard in time (some machines have none): leave the message anyway."""
        await asyncio.sleep(self._voicemail_wait_s)
        self._beep_task = None
        try:
            await self._leave_voicemail()
        except Exception as e:
            await self._fail(e)

    async def _leave_voicemail(self) -> None:
        if not self._awaiting_beep:
            return
        self._awaiting_beep = False
        task, self._beep_task = self._beep_task, None
        if task is not None and task is not asyncio.current_task():
            await self.cancel_task(task)
        await self._say(self._engine.voicemail())

    # -- turn-taking: the pure machine decides, this runs its actions ---------

    def _playing(self) -> BotLine | None:
        """The bot line playing now; none while a machine's greeting plays (nothing to cut)."""
        line = None if self._awaiting_beep else self._timeline.playing()
        return None if line is None else BotLine(line.key, line.interruptible)

    async def _run(self, actions: list[Action], frame: HeardFrame | None = None) -> None:
        """Carry out the turn-taking machine's ``actions`` (``frame``: the words they are about)."""
        for action in actions:
            match action.act:
                case Act.BARGE_IN:
                    logger.debug(f"{self}: barge-in ({action.reason})")
                    self._timeline.clear()
                    await self.broadcast_interruption()
                case Act.WARN:
                    await self._warn_of_secret()
                case Act.ANSWER:
                    assert frame is not None
                    await self._answer(frame, action.text)
                case Act.ANSWER_EARLY:
                    assert frame is not None
                    await self._answer_early(frame, action.reason)
                case Act.KEEP_EARLY:
                    logger.debug(f"{self}: early answer kept ({action.text!r})")
                    self._early_before = self._early_result = None
                case Act.REDO_EARLY:
                    assert frame is not None
                    await self._redo_early(frame, action)
                case Act.IGNORE:
                    logger.debug(f"{self}: turn ignored ({action.reason})")
                case Act.START_SILENCE_TIMER:
                    await self._cancel_silence_timer()
                    self._silence_task = self.create_task(
                        self._silence_timer(action.at), "silence-timer"
                    )
                case Act.CANCEL_SILENCE_TIMER:
                    await self._cancel_silence_timer()
                case Act.STILL_THERE:
                    reply = self._engine.silence()
                    if reply is not None:
                        await self._say(reply)
                case Act.ANSWER_KEY:
                    self._key_task = self.create_task(self._answer_key(action.text), "keypad-hold")
                case Act.HANG_UP:
                    await self._end()

    # -- caller input --------------------------------------------------------

    async def _on_heard(self, frame: HeardFrame) -> None:
        heard_at = self._heard_at = time.monotonic()
        if frame.speculative:
            await self._on_early_words(frame, heard_at)
            return
        if frame.partial:
            # Mid-turn, a secret is being said: cut in now, not when they finish.
            if frame.secrets and not self._awaiting_beep:
                await self._run(self._turns.secret_heard())
            return
        if self._awaiting_beep:
            self._turns.caller_speaking = False
            return  # a machine's greeting
        if frame.text and frame.turn != self._turns.early_turn:
            self._record_caller(frame.text, frame.confidence)  # an early turn's: see _redo_early
        actions = self._turns.turn_ended(
            frame.turn,
            frame.text,
            heard_at,
            same_as_early=frame.same_as_speculative,
            secret=bool(frame.secrets),
        )
        await self._run(actions, frame)

    async def _on_early_words(self, frame: HeardFrame, heard_at: float) -> None:
        """Words heard in a pause: answer now only if they fully answer the question."""
        if self._awaiting_beep or self._engine.finished or frame.secrets:
            return
        if not frame.text.strip():
            return
        heard = await self._interpret(frame)
        reading = Reading(
            understood=heard.intent != Intent.NONE,
            complete=self._engine.complete_answer(heard),
            confidence=heard.confidence,
        )
        actions = self._turns.words_in_pause(
            frame.turn, frame.text, reading, frame.finished_probability, heard_at
        )
        await self._run(actions, frame)

    async def _answer(self, frame: HeardFrame, text: str) -> None:
        """Answer a turn's final words; nothing to say back: wait for the caller again."""
        reply = await self._understand(replace(frame, text=text))
        if reply is not None:
            await self._say(reply, answers=_timing(frame, self._heard_at))
        else:
            await self._run(self._turns.nothing_to_say(time.monotonic()))

    async def _answer_early(self, frame: HeardFrame, reason: str) -> None:
        """Answer a pause's words now; provisional until the turn's final words agree."""
        metrics.EARLY_TURNS.labels(reason=reason).inc()
        logger.debug(
            f"{self}: turn {frame.turn} ends in its pause ({reason}, "
            f"P(finished)={frame.finished_probability})"
        )
        self._early_before, self._early_text = self._engine.snapshot(), frame.text
        self._record_caller(frame.text, frame.confidence)
        reply = self._engine.act(await self._interpret(frame))
        self._early_result = (self._engine.state.name, self._engine.outcome)
        if reply is not None:
            await self._say(reply, answers=_timing(frame, self._heard_at), provisional=True)

    async def _redo_early(self, final: HeardFrame, action: Action) -> None:
        """The caller went on after an early answer: decide on the whole turn afresh.

        The bot says the new answer, unless it is the same answer and the
        caller heard it whole; the same goodbye, held, now hangs up.
        """
        before, result = self._early_before, self._early_result
        self._early_before = self._early_result = None
        rest = added_words(self._early_text, final.text)
        if rest:
            self._record_caller(rest, final.confidence)
        if before is None:
            return
        self._engine.restore(before)
        reply = await self._understand(replace(final, text=action.text))
        same = (self._engine.state.name, self._engine.outcome) == result
        logger.debug(
            f"{self}: early answer {'confirmed' if same else 'withdrawn'} by {action.text!r}"
        )
        now = time.monotonic()
        if reply is not None and (not same or action.said_over):
            await self._say(reply, answers=_timing(final, self._heard_at))
        elif same and action.held:
            await self._run(self._turns.replied(now, ends_call=True))
        elif reply is None:
            await self._run(self._turns.nothing_to_say(now))

    def _record_caller(self, text: str, confidence: float) -> None:
        self._session.record_caller(text, "speech", confidence)
        self._event({"type": "heard", "text": text, "confidence": round(confidence, 2)})

    async def _understand(self, frame: HeardFrame) -> Reply | None:
        """Offline first; the optional LLM only when that understood nothing."""
        if self._engine.finished or not frame.text.strip():
            return None
        heard = await self._interpret(frame)
        allowed = self._engine.allowed_intents()
        if heard.intent == Intent.NONE and self._assistant is not None and allowed:
            label = await self._assistant.classify(
                question=self._engine.question_text(),
                answer=frame.text,
                allowed=allowed,
                locale=self._session.context.locale,
            )
            if label in allowed:
                heard = Interpretation(Intent(label), frame.text, frame.confidence, "speech+llm")
        return self._engine.act(heard)

    async def _interpret(self, frame: HeardFrame) -> Interpretation:
        """The engine's reading of the words, off the event loop (the model takes ~10 ms)."""
        return await asyncio.to_thread(self._engine.understand, frame.text, frame.confidence)

    async def _warn_of_secret(self) -> None:
        """Warn the caller never to share a secret (once), then ask the question again."""
        line = self._timeline.playing()
        warning = line is not None and line.key in self._engine.flow.on_secret
        if warning or time.monotonic() < self._warning_until:
            return  # already warning them: once is enough
        reply = self._engine.secret()
        if reply is None:
            return
        self._timeline.clear()
        await self.broadcast_interruption()  # drop whatever the bot was saying
        await self._say(reply)
        # Until its audio reaches the timeline, the warning counts as playing.
        self._warning_until = time.monotonic() + 3.0

    async def _on_keypad(self, digit: str) -> None:
        """A key: recorded at once, answered after its hold, redacted if part of a secret.

        The live event says only that a key was pressed: the bot's reply says
        what it meant, and a PIN's first digits must not go out before the
        burst is recognised.
        """
        now = time.monotonic()
        if now - self._last_key_at > KEYPAD_BURST_GAP_S:
            self._key_burst = []
        self._last_key_at = now
        self._key_burst.append(len(self._session.turns))
        self._session.record_caller(digit, "keypad", 1.0)
        self._event({"type": "pressed"})
        await self._cancel_key()
        if len(self._key_burst) >= KEYPAD_SECRET_DIGITS:
            self._session.redact_turns(self._key_burst, KEYPAD_REDACTED)
            if len(self._key_burst) == KEYPAD_SECRET_DIGITS:
                logger.info(f"{self}: keys typed in a burst; redacted, warning the caller")
                await self._run(self._turns.secret_heard())
            return
        if self._awaiting_beep:
            return
        await self._run(self._turns.key_pressed(digit, now, self._playing()))

    async def _answer_key(self, digit: str) -> None:
        await asyncio.sleep(self._keypad_hold_s)
        self._key_task = None
        try:
            reply = self._engine.keypad(digit)
            if reply is not None:
                await self._say(reply)
        except Exception as e:
            await self._fail(e)

    async def _cancel_key(self) -> None:
        task, self._key_task = self._key_task, None
        if task is not None:
            await self.cancel_task(task)

    # -- bot output ----------------------------------------------------------

    async def _say(
        self, reply: Reply, answers: TurnTiming | None = None, *, provisional: bool = False
    ) -> None:
        """Send ``reply``; when one that ends the call hangs up is the turn-taking's call."""
        if reply.outcome == "opted_out":
            # Stored before the goodbye is said: the caller may hang up on hearing it.
            self._session.conclude(self._engine)
            await self._on_opt_out(self._session)
        if answers is not None:
            answers = replace(answers, replied_at=time.monotonic())
        await self.push_frame(
            SpeakFrame(lines=reply.lines, answers=answers, likely_next=reply.likely_next)
        )
        for line in reply.lines:  # after the reply is on its way: the caller is waiting
            self._session.record_bot(line.text)
            self._event({"type": "bot", "key": line.key, "text": line.text})
        await self.push_frame(
            RecognitionHintsFrame(expected_speech=reply.expected_speech), FrameDirection.UPSTREAM
        )
        opted_out = reply.outcome == "opted_out"
        actions = self._turns.replied(
            time.monotonic(),
            ends_call=reply.ends_call,
            provisional=provisional,
            opted_out=opted_out,
        )
        await self._run(actions)

    def _event(self, event: dict[str, Any]) -> None:
        """Publish a live event without holding the turn up (supervisors, the simulator)."""
        task = self.create_task(self._publish(event), f"event-{event.get('type')}")
        self._events.add(task)
        task.add_done_callback(self._events.discard)

    async def _publish(self, event: dict[str, Any]) -> None:
        try:
            await self._on_event(event)
        except Exception as e:  # live events are best effort; the record is in SQL
            logger.warning(f"{self}: live event not published: {e!r}")

    async def _report_timing(self, frame: TurnTimingFrame) -> None:
        timing = frame.timing
        if timing is None:
            return
        parts = turn_parts(timing, frame.first_audio_at)
        metrics.observe_turn(parts, frame.gaps, frame.gap_seconds)
        self._event(
            {
                "type": "turn_timing",
                **{k: round(v * 1000) for k, v in parts.items()},
                "gaps": frame.gaps,
                "gap_ms": round(frame.gap_seconds * 1000),
            }
        )

    async def _end(self) -> None:
        """Record the outcome now, then hang up once the last line has played."""
        if self._ended:
            return
        self._ended = True
        self._turns.end()
        await self._cancel_silence_timer()
        self._session.conclude(self._engine)
        await self._on_outcome(self._session)
        # EndWorkerFrame queues behind the goodbye, so the caller hears it whole.
        await self.push_frame(EndWorkerFrame(reason=self._engine.outcome))

    async def _fail(self, error: Exception) -> None:
        """Never dead air: apologise, escalate, hang up."""
        logger.exception(f"{self}: dialog failed: {error}")
        await self._give_up(repr(error))

    async def _give_up(self, failure: str) -> None:
        """Something broke: an apology, a person takes over, and the record says why."""
        if self._ended:
            return
        self._engine.end_with("escalated", escalate=True)
        self._session.failure = failure
        self._session.record_bot(self._fallback_text)
        await self.push_frame(
            SpeakFrame(lines=(Line("technical_apology", self._fallback_text, interruptible=False),))
        )
        await self._end()

    async def _speech_failed(self, error: str) -> None:
        """The synthesiser broke and has played its prepared apology: hand over, hang up."""
        if self._ended:
            return
        self._engine.end_with("escalated", escalate=True)
        self._session.failure = f"speech synthesis: {error}"
        self._session.record_bot(self._fallback_text)
        await self._end()

    # -- silence -------------------------------------------------------------

    async def _cancel_silence_timer(self) -> None:
        task, self._silence_task = self._silence_task, None
        if task is not None and task is not asyncio.current_task():
            await self.cancel_task(task)

    async def _silence_timer(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        self._silence_task = None
        try:
            await self._run(self._turns.tick(time.monotonic()))
        except Exception as e:
            await self._fail(e)


def _timing(frame: HeardFrame, heard_at: float) -> TurnTiming:
    return TurnTiming(
        speech_stopped_at=frame.speech_stopped_at,
        turn_taken_at=frame.speech_ended_at,
        stt_seconds=frame.stt_seconds,
        heard_at=heard_at,
    )


def turn_parts(timing: TurnTiming, first_audio_at: float) -> dict[str, float]:
    """Seconds spent in each part of one answer, and the whole (as the server sees it)."""
    return {
        "end_of_turn": timing.turn_taken_at - timing.speech_stopped_at,
        "recognition": timing.heard_at - timing.turn_taken_at,
        "policy": timing.replied_at - timing.heard_at,
        "synthesis": first_audio_at - timing.replied_at,
        "response": first_audio_at - timing.speech_stopped_at,
    }
