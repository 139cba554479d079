"""Dialog policy stage: turns what was heard into what the bot says next.

It owns turn-taking: barge-in (the caller may cut a question short but not a
disclosure), keypad input, the silence timer, cutting in when a secret is being
said, waiting for an answering machine's beep, and ending the call. What to say
and how the call ends are decided by the pure ``DialogEngine``; this stage only
moves frames, plus what must happen in the call's time: an opt-out is stored
before its goodbye is said, an optional LLM is asked when the offline
classifier understood nothing, and an answer given in a pause (before the VAD
is sure the turn ended) stays provisional until the turn's final words agree
(``_settle_early``): no outcome is decided on half a turn. Any error here becomes a
spoken apology and an escalation: a live call never goes silent because of a
bug.
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
    RecognitionHintsFrame,
    SpeakFrame,
    SpeechFailedFrame,
    TurnTiming,
    TurnTimingFrame,
)
from voicebot.pipeline.session import CallSession
from voicebot.pipeline.tts import PlaybackTimeline

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
        self._silence_task: asyncio.Task[None] | None = None
        self._beep_task: asyncio.Task[None] | None = None
        self._key_task: asyncio.Task[None] | None = None  # a key waiting out its hold
        self._key_burst: list[int] = []  # transcript indexes of the keys in this burst
        self._last_key_at = float("-inf")
        self._caller_turn_open = False  # from VAD start until its HeardFrame arrives
        self._events: set[asyncio.Task[None]] = set()
        # The caller turn answered on its words in a pause, if any: its answer is
        # provisional until the turn's final words confirm it (``_settle_early``).
        self._early_turn = 0
        self._early_text = ""
        self._early_before: EngineSnapshot | None = None  # the engine before that answer
        self._early_result: tuple[str, str | None] | None = None  # (state, outcome) after it
        self._early_interrupted = False  # the caller went on over the early answer
        self._held_end = False  # an early answer ended the call: hang up once it is confirmed
        self._talked_over_disclosure = False
        self._cut_in_this_turn = False  # already warned about a secret in this turn
        self._warning_until = 0.0  # a warning just sent counts as playing until then
        self._awaiting_beep = False
        self._ending = False

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
            if isinstance(frame, TurnTimingFrame):
                await self._report_timing(frame)
                return
            if isinstance(frame, HeardFrame):
                await self._on_heard(frame)
                return
            if isinstance(frame, CallerResumedFrame):
                if frame.turn == self._early_turn:
                    self._early_interrupted = True
                    await self._on_caller_started()  # they went on: stop answering over them
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
                if self._held_end and not self._caller_turn_open:
                    await self._settle_early(None)  # the turn's final words never came
                await self._maybe_start_silence_timer(bot_done=True)
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

    # -- caller input --------------------------------------------------------

    async def _on_caller_started(self) -> None:
        await self._cancel_silence_timer()
        self._caller_turn_open = True
        self._cut_in_this_turn = False
        if self._awaiting_beep:
            return
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
        heard_at = time.monotonic()
        if frame.speculative:
            await self._on_early_words(frame, heard_at)
            return
        if frame.turn and frame.turn == self._early_turn and not frame.partial:
            await self._settle_early(frame, heard_at)
            return
        if frame.partial:
            # Mid-turn, a secret is being said: cut in now, not when they finish.
            if frame.secrets and not self._cut_in_this_turn and not self._awaiting_beep:
                await self._cut_in()
            return
        self._caller_turn_open = False
        if frame.text:
            self._session.record_caller(frame.text, "speech", frame.confidence)
            self._event(
                {"type": "heard", "text": frame.text, "confidence": round(frame.confidence, 2)}
            )
        if self._awaiting_beep or self._ending:
            return  # a machine's greeting, or speech over the goodbye
        if frame.secrets:
            if not self._cut_in_this_turn:
                await self._cut_in()
            self._cut_in_this_turn = False
            return
        if self._cut_in_this_turn or self._talked_over_disclosure:
            # Speech over a disclosure (or over the secret warning) answers nothing asked.
            logger.debug(f"{self}: ignoring a turn said over a disclosure")
            self._talked_over_disclosure = self._cut_in_this_turn = False
        else:
            reply = await self._understand(frame)
            if reply is not None:
                await self._say(reply, answers=_timing(frame, heard_at))
                return
        await self._maybe_start_silence_timer()

    async def _on_early_words(self, frame: HeardFrame, heard_at: float) -> None:
        """Words heard in a pause: answer now only if they fully answer the question."""
        busy = self._awaiting_beep or self._ending or self._engine.finished
        if busy or self._cut_in_this_turn or self._talked_over_disclosure or frame.secrets:
            return
        if not frame.text.strip() or self._early_turn == frame.turn:
            return
        heard = await self._interpret(frame)
        if self._early_turn == frame.turn or self._engine.finished:
            return  # while the model read the words, the turn was taken another way
        reason = self._early_reason(heard, frame.finished_probability)
        if reason is None:
            return
        metrics.EARLY_TURNS.labels(reason=reason).inc()
        logger.debug(
            f"{self}: turn {frame.turn} ends in its pause ({reason}, "
            f"P(finished)={frame.finished_probability})"
        )
        self._early_turn, self._early_text = frame.turn, frame.text
        self._early_before, self._early_interrupted = self._engine.snapshot(), False
        self._caller_turn_open = False
        self._session.record_caller(frame.text, "speech", frame.confidence)
        self._event({"type": "heard", "text": frame.text, "confidence": round(frame.confidence, 2)})
        reply = self._engine.act(heard)
        self._early_result = (self._engine.state.name, self._engine.outcome)
        if reply is not None:
            # Spoken now, but provisional: an outcome is kept (and the call hung up)
            # only once the turn's final words agree (``_settle_early``).
            await self._say(reply, answers=_timing(frame, heard_at), provisional=True)

    async def _settle_early(self, final: HeardFrame | None, heard_at: float = 0.0) -> None:
        """The turn answered early has ended: keep that answer, or decide on the whole turn.

        No outcome is decided on words from a turn the caller is still speaking.
        If the final words are the early ones (or never came), the early answer
        stands. If the caller went on, or the words read differently now, the
        engine goes back to where it was and the whole turn is understood
        afresh; the bot says the new answer, unless it is the same answer and
        the caller heard it whole. An opt-out is never withdrawn.
        """
        early, before = self._early_text, self._early_before
        result, interrupted = self._early_result, self._early_interrupted
        self._early_turn, self._early_text, self._early_before = 0, "", None
        self._early_result, self._early_interrupted = None, False
        held, self._held_end = self._held_end, False
        self._caller_turn_open = False
        opted_out = self._engine.outcome == "opted_out"
        if final is None or final.same_as_speculative or opted_out or before is None:
            if held:
                await self._end()
            return
        rest = _after(early, final.text)
        if rest is not None and rest:
            self._session.record_caller(rest, "speech", final.confidence)
            self._event({"type": "heard", "text": rest, "confidence": round(final.confidence, 2)})
        whole = final.text if rest is None else f"{early} {rest}".strip()
        self._engine.restore(before)
        reply = await self._understand(replace(final, text=whole))
        same = (self._engine.state.name, self._engine.outcome) == result
        logger.debug(f"{self}: early answer {'confirmed' if same else 'withdrawn'} by {whole!r}")
        if reply is not None and (not same or interrupted):
            await self._say(reply, answers=_timing(final, heard_at))
        elif same and held:
            await self._end()
        elif reply is None:
            await self._maybe_start_silence_timer()

    def _early_reason(self, heard: Interpretation, finished: float | None) -> str | None:
        """Why a pause's words may be answered now ("answer", "sounds_finished"), or None.

        Words that fully answer the question (``DialogEngine.complete_answer``)
        are taken whatever the turn model says (``finished``, None if it has
        not spoken yet): on these voices it scores finished answers as low as
        0.06. Other words are taken if the caller sounds done, unless nothing
        was understood and an LLM could still be asked (that waits for the
        final words). Words that mean something are taken only if Whisper is
        sure of them: a guess it is not sure of may read differently once the
        pause is over.
        """
        if heard.intent != Intent.NONE and heard.confidence < self._early_min_confidence:
            return None
        if self._engine.complete_answer(heard):
            return "answer"
        if finished is None:
            return None
        if heard.intent == Intent.NONE and self._assistant is not None:
            return None
        return "sounds_finished" if finished >= self._finished_threshold else None

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

    async def _cut_in(self) -> None:
        """The caller is saying a secret: talk over them with the warning."""
        self._cut_in_this_turn = True
        await self._warn_of_secret()

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
                await self._cancel_silence_timer()
                await self._warn_of_secret()
            return
        line = self._timeline.playing()
        if self._ending or self._awaiting_beep or (line is not None and not line.interruptible):
            return
        await self._cancel_silence_timer()
        if line is not None:
            self._timeline.clear()
            await self.broadcast_interruption()
        self._key_task = self.create_task(self._answer_key(digit), "keypad-hold")

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
        """Send ``reply``; a provisional one that ends the call holds the hang-up back."""
        if not provisional and self._held_end:
            self._held_end = False  # superseded: this reply decides how the call goes on
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
        if reply.ends_call:
            if provisional and reply.outcome != "opted_out":
                self._held_end = True
            else:
                await self._end()

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

    async def _speech_failed(self, error: str) -> None:
        """The synthesiser broke and has played its prepared apology: hand over, hang up."""
        if self._ending:
            return
        self._engine.end_with("escalated", escalate=True)
        self._session.failure = f"speech synthesis: {error}"
        self._session.record_bot(self._fallback_text)
        await self._end()

    # -- silence -------------------------------------------------------------

    async def _maybe_start_silence_timer(self, *, bot_done: bool = False) -> None:
        if self._ending or self._caller_turn_open or self._engine.finished:
            return
        if self._awaiting_beep:
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


def _after(early: str, final: str) -> str | None:
    """What ``final`` adds after the words already answered (``early``); None if unrelated."""
    said, more = _words(early), _words(final)
    if more[: len(said)] != said:
        return None
    return " ".join(final.split()[len(said) :]).strip()


def _words(text: str) -> list[str]:
    return ["".join(ch for ch in w.lower() if ch.isalnum()) for w in text.split()]
