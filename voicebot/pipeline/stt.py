"""Speech recognition stage: faster-whisper on the segments the VAD cuts.

Why not pipecat's ``WhisperSTTService``: it loads a model per instance, cannot
change its prompt per question, and drops empty results silently. Here one
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
import contextlib
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens
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

from voicebot import metrics
from voicebot.dialog.redaction import redact
from voicebot.pipeline.frames import (
    CallerResumedFrame,
    HeardFrame,
    RecognitionFailedFrame,
    RecognitionHintsFrame,
)
from voicebot.pipeline.turn import turn_end_probability

T = TypeVar("T")

WHISPER_RATE = 16000
PRE_ROLL_S = 0.5  # audio kept from before the VAD fired, so first syllables survive
TRAILING_PAD_S = 0.2  # Whisper garbles a last word that ends abruptly
PARTIAL_EVERY_S = 1.5  # while the caller talks, look for secrets this often
LOOPING_COMPRESSION = 2.4  # a segment this compressible is Whisper repeating itself
LOOPING_CONFIDENCE = 0.5  # the most a looping transcript is trusted (a "yes" is read back)
SHORT_FORM_MAX_S = 25.0  # longer turns take faster-whisper's own 30 s windows
FULL_WINDOW_FRAMES = 3000  # 30 s of 10 ms feature frames: Whisper's native window
# Measured with tiny.en on telephone-band speech: a 15 s window is ~2.2x faster
# than 30 s with the same words and confidences within ~0.05, once it is padded
# with the silence floor (``_short_form``); 10 s is another ~40 ms faster.
MIN_WINDOW_FRAMES = 1500
HOP_SAMPLES = 160  # one feature frame: 10 ms at 16 kHz
WINDOW_MARGIN_FRAMES = 300  # silence after the speech, within the window
# With the expected answers as its prompt, Whisper says a short answer two or
# three times ("Yes, that was me. Yes, that was me."): 15 of 39 suite lines,
# and each repeat costs decoding time. A mild penalty stops it: 24 -> 32 of 39
# lines exact, mean confidence 0.82 -> 0.85, 20 ms faster (docs/status.md).
REPETITION_PENALTY = 1.1
# A one-word turn ("Yes," "Wait,") is often the start of a longer one: only the
# VAD ends it. Longer words may end the turn in a pause (``WhisperTranscriber._offer``).
EARLY_MIN_WORDS = 2
# The turn model (~60-100 ms on a free core) starts this long before a pause's
# words may be offered, beside Whisper's one thread, so its verdict comes with them.
TURN_MODEL_LEAD_S = 0.1
TOKENS_PER_S = 6  # fast speech is ~4 tokens a second; beyond this it is a loop
MAX_NEW_TOKENS = 200


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
    prompt: str = "",
    long_form: bool = False,
) -> Recognition:
    """Run Whisper on 16 kHz int16 mono audio (blocking: call it from a thread).

    A caller's turn goes through ``_short_form``: the encoder sees a window
    just longer than the speech instead of Whisper's fixed 30 s. ``long_form``
    decodes with timestamps, which keeps Whisper going through audio longer
    than a sentence or two (the simulator's bot-side check).
    """
    started = time.perf_counter()
    audio = pcm16k.astype(np.float32) / 32768.0
    audio = np.concatenate([audio, np.zeros(int(WHISPER_RATE * TRAILING_PAD_S), np.float32)])
    if not long_form and len(audio) <= SHORT_FORM_MAX_S * WHISPER_RATE:
        return _short_form(model, audio, prompt, started)
    segments, _info = model.transcribe(
        audio,
        language="en",
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
        without_timestamps=not long_form,
        vad_filter=False,
        initial_prompt=prompt or None,
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


class WhisperSlots:
    """Where recognitions run: one thread per Whisper worker, a queue in front.

    Each worker runs on one thread. On 2 cores, greedy decoding on one thread
    is ~2x faster than on two (tiny.en's matrices are too small to split), and
    the encoder gains only ~10% from a second thread; so two one-thread
    recognitions side by side beat two two-thread ones in a row, for one call
    (a stale guess no longer holds up the fresh one) and for many (measured,
    docs/status.md). More at once would only slow each one down, so the rest
    wait in this executor's queue, first come first served, and not in the
    event loop's shared threads, which synthesis and the database need.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="whisper")
        self._in_flight = 0  # running or queued; touched only on the event loop

    def free(self) -> int:
        """Workers with nothing to do."""
        return max(0, self.size - self._in_flight)

    async def run(self, fn: Callable[[], T], *, speculative: bool = False) -> T | None:
        """``fn()`` on a Whisper worker; None at once if ``speculative`` and none is free.

        A guess that cannot start now is useless, so it never queues.
        """
        if speculative and not self.free():
            return None
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        job = self._executor.submit(fn)
        # Freed when the thread is done, even if the caller stopped waiting (a call
        # that ended): until then the worker is still busy.
        job.add_done_callback(lambda _job: _call_soon(loop, self._release))
        return await asyncio.wrap_future(job)

    def _release(self) -> None:
        self._in_flight -= 1


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is counting
        loop.call_soon_threadsafe(callback)


_slots: weakref.WeakKeyDictionary[Any, WhisperSlots] = weakref.WeakKeyDictionary()
_slots_lock = threading.Lock()


def whisper_slots(model: Any) -> WhisperSlots:
    """The slots of this model, as many as its workers (one if it does not say)."""
    with _slots_lock:
        slots = _slots.get(model)
        if slots is None:
            workers = getattr(getattr(model, "model", None), "num_workers", 1)
            slots = _slots[model] = WhisperSlots(max(1, int(workers)))
        return slots


async def recognise(
    model: WhisperModel,
    pcm16k: np.ndarray,
    *,
    speculative: bool = False,
    prompt: str = "",
) -> Recognition | None:
    """``transcribe`` a caller's turn on a Whisper worker; None if ``speculative`` and busy."""
    return await whisper_slots(model).run(
        lambda: transcribe(model, pcm16k, prompt=prompt), speculative=speculative
    )


def window_frames(feature_frames: int) -> int:
    """The encoder window for this much audio: room after the speech, never under 15 s.

    Whisper's encoder costs in proportion to its window; faster-whisper always
    pads to 30 s (3000 frames). Windows much shorter than 10 s leave the
    decoder without the silence it expects after speech, and it repeats itself.
    """
    wanted = feature_frames + WINDOW_MARGIN_FRAMES
    return min(FULL_WINDOW_FRAMES, max(MIN_WINDOW_FRAMES, -(-wanted // 100) * 100))


def _short_form(model: WhisperModel, audio: np.ndarray, prompt: str, started: float) -> Recognition:
    """One greedy decoding of one turn, the encoder on a short window (``window_frames``)."""
    frames = window_frames(len(audio) // HOP_SAMPLES + 1)
    # The window is silence after the speech, as Whisper was trained: features of
    # zero audio sit at the log-mel floor. Padding the features with 0.0 instead
    # (what faster-whisper does) is harmless in a 30 s window but costs a short
    # one 0.1-0.3 of confidence on a clear "Yes." (measured, docs/status.md).
    window = np.zeros(frames * HOP_SAMPLES, dtype=np.float32)
    window[: len(audio)] = audio[: len(window)]
    padded = model.feature_extractor(window)[:, :frames]
    tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, "transcribe", "en")
    previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
    tokens_in = model.get_prompt(tokenizer, previous, without_timestamps=True)
    seconds = len(audio) / WHISPER_RATE
    result = model.model.generate(
        model.encode(padded),
        [tokens_in],
        beam_size=1,
        max_length=len(tokens_in) + min(MAX_NEW_TOKENS, 12 + int(TOKENS_PER_S * seconds)),
        repetition_penalty=REPETITION_PENALTY,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
    )[0]
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    # The average log-probability exactly as faster-whisper computes it, so the
    # confidence thresholds of the flows mean the same on either path.
    avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
    text = tokenizer.decode(tokens).strip()
    if result.no_speech_prob > 0.8 and avg_logprob < -1.0:
        text = ""  # Whisper hallucinating over noise
    confidence = math.exp(avg_logprob) if text else 0.0
    if text and get_compression_ratio(text) > LOOPING_COMPRESSION:
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


def _verdict(task: asyncio.Task[float | None]) -> float | None:
    """A finished turn-model task's P(finished); None if it failed."""
    return None if task.cancelled() or task.exception() is not None else task.result()


def _skipped(task: asyncio.Task[Recognition | None]) -> bool:
    """A speculative recognition that found Whisper busy and did nothing."""
    return not task.cancelled() and task.exception() is None and task.result() is None


class PauseSource(Protocol):
    """The VAD's view of a pause in progress (``voicebot.pipeline.vad``)."""

    pause_id: int

    def silence_s(self) -> float: ...


@dataclass
class _Speculation:
    pause_id: int
    task: asyncio.Task[Recognition | None]


@dataclass
class _Judgement:
    pause_id: int
    task: asyncio.Task[float | None]


class WhisperTranscriber(FrameProcessor):
    """Buffers the caller's speech between VAD events and transcribes each segment.

    With a ``pauses`` source, recognition starts speculatively once the caller
    has been quiet for ``speculate_after_s``, while the VAD waits out its
    ``stop_secs`` to be sure the turn is over; if the turn does end in that
    pause, its words are ready (or nearly) when it does. If the caller speaks
    again, the guess is dropped and the whole turn is transcribed at its end.
    """

    def __init__(
        self,
        model: WhisperModel,
        *,
        pauses: PauseSource | None = None,
        speculate_after_s: float = 0.15,
        early_turns: bool = False,
        turn_model: Any = None,
        early_after_s: float = 0.35,
        recognition_timeout_s: float = 1.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._model = model
        self._timeout_s = recognition_timeout_s
        self._turn_model = turn_model if early_turns else None
        self._early_after_s = early_after_s
        self._pauses = pauses
        self._speculate_after_s = speculate_after_s
        self._early_turns = early_turns
        self._speculation: _Speculation | None = None
        self._judgement: _Judgement | None = None  # the turn model on this pause, if begun
        self._turn = 0  # caller turns (VAD segments) so far
        self._offered: tuple[int, int] | None = None  # (turn, pause) sent as speculative
        self._hints = RecognitionHintsFrame()
        self._speaking = False
        self._segment = bytearray()
        self._pre_roll: deque[bytes] = deque()
        self._pre_roll_bytes = 0
        # (speech, when the VAD confirmed its end, the VAD's stop_secs, its recognition if
        # begun, which turn)
        self._queue: asyncio.Queue[
            tuple[bytes, float, float, asyncio.Task[Recognition | None] | None, int] | None
        ] = asyncio.Queue()
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
            self._speculation = None
            self._judgement = None
            self._turn += 1
            self._segment = bytearray(b"".join(self._pre_roll))
            self._partial_at = len(self._segment)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            if self._speaking:
                self._speaking = False
                guess = self._valid_speculation()
                self._speculation = None
                await self._queue.put(
                    (bytes(self._segment), time.monotonic(), frame.stop_secs, guess, self._turn)
                )
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
            self._maybe_speculate()
        self._pre_roll.append(frame.audio)
        self._pre_roll_bytes += len(frame.audio)
        while self._pre_roll_bytes > PRE_ROLL_S * WHISPER_RATE * 2:
            self._pre_roll_bytes -= len(self._pre_roll.popleft())

    def _valid_speculation(self) -> asyncio.Task[Recognition | None] | None:
        """The guess begun in this very pause, if the caller has not spoken since."""
        guess, pauses = self._speculation, self._pauses
        if guess is None or pauses is None or pauses.pause_id != guess.pause_id:
            return None
        return guess.task

    def _maybe_speculate(self) -> None:
        pauses = self._pauses
        if pauses is None:
            return
        self._maybe_judge(pauses)
        if pauses.silence_s() < self._speculate_after_s:
            if self._speculation is not None and pauses.silence_s() == 0:
                self._speculation = None  # they went on talking: the guess is stale
                if self._offered is not None and self._offered[0] == self._turn:
                    self._offered = None
                    self.create_task(
                        self.push_frame(CallerResumedFrame(turn=self._turn)), "caller-resumed"
                    )
            return
        guess = self._speculation
        retry = guess is not None and guess.task.done() and _skipped(guess.task)
        if guess is None or guess.pause_id != pauses.pause_id or retry:
            if not whisper_slots(self._model).free():
                return  # Whisper is busy: look again at the next audio frame
            task = self.create_task(
                self._speculate(bytes(self._segment), pauses.pause_id), "whisper-speculative"
            )
            self._speculation = _Speculation(pauses.pause_id, task)

    def _maybe_judge(self, pauses: PauseSource) -> None:
        """Start the turn model on a pause about to be long enough for an early end."""
        if self._turn_model is None:
            return
        if pauses.silence_s() < self._early_after_s - TURN_MODEL_LEAD_S:
            return
        if self._judgement is None or self._judgement.pause_id != pauses.pause_id:
            task = self.create_task(self._finished_probability(bytes(self._segment)), "turn-model")
            self._judgement = _Judgement(pauses.pause_id, task)

    async def _speculate(self, audio: bytes, pause_id: int) -> Recognition | None:
        """Recognise the turn so far; offer the words to the policy if the pause goes on.

        The recognition is returned at once, for the final frame to reuse; the
        offer waits in its own task.
        """
        result = await self._recognise(audio, speculative=True)
        if result is not None and self._early_turns and self._pauses is not None:
            self.create_task(self._offer(result, pause_id), "early-words")
        return result

    async def _offer(self, result: Recognition, pause_id: int) -> None:
        """Send a pause's words as speculative once the pause is ``early_after_s`` long.

        The wait, and leaving one-word turns to the VAD, keep a caller from
        being cut off at a comma: the suite's callers pause up to 0.45 s after
        "Yes," or "Wait," (0.3 s after a longer phrase), and neither Whisper
        ("Yes.") nor the turn model (P 0.85-0.98) hears that "Yes," goes on
        (docs/status.md). The turn model's verdict on the pause goes with the
        words if it is ready (``_maybe_judge`` starts it a little before);
        if not, the words go alone first (the policy may take them if they
        answer the question), then again with the verdict.
        """
        redaction = redact(result.text)
        if len(redaction.text.split()) < EARLY_MIN_WORDS or redaction.found:
            return
        silent = await self._pause_reaching(self._early_after_s, pause_id)
        if silent is None:
            return  # the turn ended meanwhile (the final frame follows), or they went on
        self._offered = (self._turn, pause_id)
        judgement = self._judgement
        if judgement is None or judgement.pause_id != pause_id:
            judgement = None
        verdict = _verdict(judgement.task) if judgement and judgement.task.done() else None
        logger.debug(
            f"{self}: in a {silent:.2f} s pause heard {redaction.text!r} "
            f"({result.confidence:.2f}, {result.seconds * 1000:.0f} ms), P(finished)={verdict}"
        )
        if verdict is not None:
            await self._push_early(redaction.text, result, silent, verdict)
            return
        await self._push_early(redaction.text, result, silent, None)
        if judgement is None:
            return
        finished = await judgement.task
        silent = await self._pause_reaching(0.0, pause_id)
        if finished is None or silent is None:
            return
        logger.debug(f"{self}: after a {silent:.2f} s pause, P(finished)={finished:.2f}")
        await self._push_early(redaction.text, result, silent, finished)

    async def _pause_reaching(self, seconds: float, pause_id: int) -> float | None:
        """Wait for the pause ``pause_id`` to last ``seconds``: its length, or None if it ended."""
        pauses = self._pauses
        assert pauses is not None
        silent = pauses.silence_s()
        if 0 < silent < seconds:
            await asyncio.sleep(seconds - silent)
            silent = pauses.silence_s()
        if not (self._speaking and pauses.pause_id == pause_id and silent > 0):
            return None
        return silent

    async def _push_early(
        self, text: str, result: Recognition, silent: float, finished: float | None
    ) -> None:
        now = time.monotonic()
        await self.push_frame(
            HeardFrame(
                text=text,
                confidence=result.confidence,
                speech_ended_at=now,
                speech_stopped_at=now - silent,
                stt_seconds=result.seconds,
                speculative=True,
                finished_probability=finished,
                turn=self._turn,
            )
        )

    async def _finished_probability(self, audio: bytes) -> float | None:
        """The turn model's verdict on the turn so far; None if it failed (the VAD decides)."""
        try:
            return await asyncio.to_thread(
                turn_end_probability, self._turn_model, np.frombuffer(audio, dtype=np.int16)
            )
        except Exception as e:
            logger.warning(f"{self}: end-of-turn prediction failed: {e!r}")
            return None

    async def _recognise(self, audio: bytes, *, speculative: bool = False) -> Recognition | None:
        return await recognise(
            self._model,
            np.frombuffer(audio, dtype=np.int16),
            speculative=speculative,
            prompt=self._hints.expected_speech,
        )

    def _maybe_check_partial(self) -> None:
        due = len(self._segment) - self._partial_at >= PARTIAL_EVERY_S * WHISPER_RATE * 2
        # Not in a pause: that is when the turn's own recognition needs Whisper.
        pausing = self._pauses is not None and self._pauses.silence_s() > 0
        if due and not pausing and (self._partial is None or self._partial.done()):
            self._partial_at = len(self._segment)
            self._partial = self.create_task(
                self._check_partial(bytes(self._segment)), "whisper-partial"
            )

    async def _check_partial(self, audio: bytes) -> None:
        """Transcribe the turn so far; tell the policy only if a secret is in it."""
        try:
            result = await recognise(self._model, np.frombuffer(audio, dtype=np.int16))
        except Exception as e:
            logger.warning(f"{self}: partial recognition failed: {e!r}")
            return
        if result is None:
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

    async def _final_words(
        self, audio: bytes, guess: asyncio.Task[Recognition | None] | None
    ) -> tuple[Recognition, bool]:
        """The turn's words, and whether they are the pause's speculative recognition."""
        if guess is not None:
            with contextlib.suppress(Exception):
                result = await asyncio.shield(guess)  # begun in the pause: ready, or nearly
                if result is not None:
                    return result, True
        result = await self._recognise(audio)
        assert result is not None  # only a speculative one may be skipped
        return result, False

    async def _transcribe_segments(self) -> None:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            audio, ended_at, stop_secs, guess, turn = item
            try:
                result, reused = await asyncio.wait_for(
                    self._final_words(audio, guess), self._timeout_s
                )
            except Exception as e:  # raised or hung: never leave the caller in silence
                error = "timed out" if isinstance(e, TimeoutError) else repr(e)
                logger.error(f"{self}: recognition failed ({error}); the call goes to a person")
                await self.push_frame(RecognitionFailedFrame(error=error))
                continue
            redaction = redact(result.text)
            logger.debug(f"{self}: heard {redaction.text!r} ({result.confidence:.2f})")
            metrics.RECOGNITION_SECONDS.observe(result.seconds)
            await self.push_frame(
                HeardFrame(
                    text=redaction.text,
                    confidence=result.confidence,
                    speech_ended_at=ended_at,
                    speech_stopped_at=ended_at - stop_secs,
                    turn=turn,
                    same_as_speculative=reused,
                    stt_seconds=result.seconds,
                    secrets=redaction.kinds,
                )
            )
