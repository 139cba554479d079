"""Speech synthesis stage: Piper, planned per turn, straight to 8 kHz.

The voice is loaded once per process (see ``models``). A ``SpeakFrame`` holds a
whole bot turn. It is cut into sentences and clauses (so the first audio leaves
early) and synthesised piece by piece, the next piece while the previous plays.
A turn must never stop mid-way: a gap of 0.7 s after "Thank you." is, to a
person, the end of the bot's turn, and they answer a question that has not
been asked yet. Pieces that grow gradually keep synthesis ahead of playback;
on top of that, the first audio of a turn is held back until, at the synthesis
speed measured on this machine right now (``SynthesisPace``), every later piece
will be ready before the one before it has finished playing. Unloaded that
costs nothing; on a busy CPU it costs a few hundred milliseconds once per
turn, instead of a hole in the middle.

Audio is resampled once to the telephone rate here, so the Twilio serializer
has nothing left to resample.

``PlaybackTimeline`` records when each line will be heard: the output transport
plays audio in real time, so the start of a piece is the end of the previous
one. The dialog policy reads it to know whether the caller is talking over a
disclosure (which must be heard whole) or over a question (which they may cut).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.audio import TELEPHONE_RATE, resample
from voicebot.dialog.engine import Line
from voicebot.dialog.prompts import Prompts
from voicebot.pipeline.frames import SpeakFrame, SpeechFailedFrame, TurnTimingFrame

CHUNK_S = 0.1  # audio frame size handed to the output transport
SAFETY = 1.25  # margin on the estimated synthesis time of the pieces still to come
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class _Scheduled:
    key: str
    interruptible: bool
    start: float
    end: float


@dataclass
class PlaybackTimeline:
    """When the bot's queued lines play, in monotonic seconds."""

    lines: list[_Scheduled] = field(default_factory=list)

    def schedule(self, key: str, interruptible: bool, duration: float) -> None:
        now = time.monotonic()
        start = max(now, self.lines[-1].end if self.lines else now)
        self.lines.append(_Scheduled(key, interruptible, start, start + duration))
        self.lines = [line for line in self.lines if line.end > now - 5.0]

    def playing(self, at: float | None = None) -> _Scheduled | None:
        """The line being heard at ``at`` (default: now), if any."""
        t = time.monotonic() if at is None else at
        return next((line for line in self.lines if line.start <= t < line.end), None)

    def queued_seconds(self) -> float:
        """Audio already handed over that has not been heard yet."""
        return max(0.0, self.ends_at() - time.monotonic())

    def ends_at(self) -> float:
        """When the last queued line finishes playing."""
        return self.lines[-1].end if self.lines else 0.0

    def clear(self) -> None:
        self.lines.clear()


@dataclass
class SynthesisPace:
    """How fast Piper runs on this machine now, learnt from every synthesis.

    One per process, shared by all calls, because they share the CPU: when four
    calls and four transcriptions compete, synthesis slows for all of them.
    """

    rtf: float = 0.1  # seconds of computing per second of audio (moving average)
    audio_per_char: float = 0.07  # seconds of audio per character of text
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, chars: int, compute_s: float, audio_s: float) -> None:
        if chars <= 0 or audio_s < 0.5:
            return  # too short to say anything about speed: fixed overheads dominate
        with self._lock:
            # One stall (a GC pause, a burst of load) must not hold every turn back.
            observed = min(compute_s / audio_s, 3.0 * self.rtf)
            self.rtf = 0.7 * self.rtf + 0.3 * observed
            self.audio_per_char = 0.8 * self.audio_per_char + 0.2 * (audio_s / chars)

    def audio_seconds(self, text: str) -> float:
        return len(text) * self.audio_per_char

    def synthesis_seconds(self, text: str) -> float:
        return self.audio_seconds(text) * self.rtf


@dataclass(frozen=True)
class Piece:
    """A stretch of one line, synthesised in one go."""

    line: Line
    text: str


def _clauses(sentence: str) -> list[str]:
    """A sentence, cut after each clause where both sides are long enough to sound whole."""
    head, comma, tail = sentence.partition(", ")
    if comma and len(head.split()) >= 3 and len(tail.split()) >= 4:
        return [head + ",", *_clauses(tail)]
    return [sentence]


def plan_pieces(lines: tuple[Line, ...]) -> list[Piece]:
    """Cut a turn into sentences, and long sentences after their first clause.

    Short pieces first means early audio; pieces that grow no faster than the
    synthesiser outpaces playback means no gap between them.
    """
    return [
        Piece(line, clause)
        for line in lines
        for sentence in _SENTENCE_END.split(line.text.strip())
        if sentence
        for clause in _clauses(sentence)
    ]


def fixed_pieces(prompts: Prompts, values: dict[str, Any]) -> list[str]:
    """Every piece of every prompt that reads the same on every call, openings first.

    ``values`` are the placeholders common to all calls (the business name);
    a piece with any other placeholder (a name, an amount) is left out. The
    first piece of a prompt is what a caller waits for, so those come first.
    """
    marker = "\x00"
    firsts: list[str] = []
    rest: list[str] = []
    for key in sorted(prompts.keys()):
        text = prompts.render(key, defaultdict(lambda: marker, values))
        pieces = [p.text for p in plan_pieces((Line(key, text, True),))]
        for i, piece in enumerate(pieces):
            if marker not in piece:
                (rest if i else firsts).append(piece)
    return list(dict.fromkeys(firsts + rest))


def ready_to_start(
    buffered_s: float,
    pending: list[Piece],
    pace: SynthesisPace,
    safety: float = SAFETY,
    cached: Callable[[str], bool] = lambda _text: False,
) -> bool:
    """Whether playback can start with ``buffered_s`` of audio and never run dry.

    Each pending piece must be synthesised (one after the other) before all the
    audio ahead of it has played; a ``cached`` one is ready already.
    """
    ahead, busy = buffered_s, 0.0
    for piece in pending:
        if not cached(piece.text):
            busy += pace.synthesis_seconds(piece.text) * safety
        if busy > ahead:
            return False
        ahead += pace.audio_seconds(piece.text)
    return True


def synthesize(voice: Any, text: str) -> np.ndarray:
    """``text`` as telephone-rate int16 audio (blocking)."""
    audio = b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
    pcm = np.frombuffer(audio, dtype=np.int16)
    return resample(pcm, voice.config.sample_rate, TELEPHONE_RATE)


class PhraseCache:
    """Audio of phrases already synthesised, shared by every call.

    Most turns open with a fixed phrase ("Thank you.", a question asked on every
    call): played from here, their first audio leaves without waiting for Piper.
    The fixed phrases of every prompt are made at start-up (``warm``) and kept;
    other phrases (with a name or an amount) are kept while recently used.
    Memory only: a few hundred short phrases at 8 kHz are a few MB.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._fixed: dict[str, np.ndarray] = {}
        self._audio: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._warming = threading.Lock()  # one warm-up at a time; a second waits, then skips
        self.hits = 0

    def has(self, text: str) -> bool:
        with self._lock:
            return text in self._fixed or text in self._audio

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            pcm = self._fixed.get(text)
            if pcm is None:
                pcm = self._audio.get(text)
                if pcm is not None:
                    self._audio.move_to_end(text)
            if pcm is not None:
                self.hits += 1
            return pcm

    def put(self, text: str, pcm: np.ndarray) -> None:
        with self._lock:
            self._audio[text] = pcm
            self._audio.move_to_end(text)
            while len(self._audio) > self.size:
                self._audio.popitem(last=False)

    def warm(
        self,
        voice: Any,
        texts: list[str],
        pace: SynthesisPace | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Synthesise ``texts`` now and keep them for good (blocking); how many were new.

        Runs beside live calls at start-up, a phrase at a time, until ``stop`` is set.
        """
        with self._warming:
            return self._warm(voice, texts, pace, stop)

    def _warm(
        self,
        voice: Any,
        texts: list[str],
        pace: SynthesisPace | None,
        stop: threading.Event | None,
    ) -> int:
        made = 0
        for text in texts:
            if stop is not None and stop.is_set():
                break
            with self._lock:
                if text in self._fixed:
                    continue
            started = time.perf_counter()
            pcm = synthesize(voice, text)
            if pace is not None:
                pace.observe(len(text), time.perf_counter() - started, len(pcm) / TELEPHONE_RATE)
            with self._lock:
                self._fixed[text] = pcm
                self._audio.pop(text, None)
            made += 1
        return made


@dataclass
class _TurnStats:
    first_audio_at: float = 0.0
    gaps: int = 0
    gap_seconds: float = 0.0


class PiperSpeaker(FrameProcessor):
    """Turns ``SpeakFrame`` turns into telephone-rate audio frames."""

    def __init__(
        self,
        voice: Any,
        timeline: PlaybackTimeline,
        pace: SynthesisPace,
        apology: np.ndarray | None = None,
        phrases: PhraseCache | None = None,
        **kwargs: Any,
    ) -> None:
        """``apology``: telephone-rate audio made in advance, played if synthesis fails."""
        super().__init__(**kwargs)
        self._voice = voice
        self._timeline = timeline
        self._pace = pace
        self._apology = apology
        self._phrases = phrases
        self._voice_rate: int = voice.config.sample_rate
        self._turn = _TurnStats()
        self._preparing: asyncio.Task[None] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeakFrame):
            await self._stop_preparing()  # this turn's synthesis comes first
            try:
                await self._speak(frame)
            except Exception as e:  # never dead air: the prepared apology, then hand over
                logger.exception(f"{self}: synthesis failed: {e!r}")
                await self._apologise(repr(e))
                return
            if frame.likely_next and self._phrases is not None:
                self._preparing = self.create_task(self._prepare(frame.likely_next), "prepare-next")
            return
        if isinstance(frame, InterruptionFrame):
            self._timeline.clear()
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._stop_preparing()
        await self.push_frame(frame, direction)

    async def _prepare(self, texts: tuple[str, ...]) -> None:
        """Make the first piece of each likely next line while this turn plays.

        Most are fixed phrases made at start-up; this makes the ones with the
        call's own values, so that a read-back starts as fast as a "Thank you."
        """
        assert self._phrases is not None
        for text in texts:
            pieces = plan_pieces((Line("likely_next", text, True),))
            first = pieces[0].text if pieces else ""
            if first and not self._phrases.has(first):
                try:
                    await asyncio.to_thread(self._synthesize, first)
                except Exception as e:  # only speed is lost: the turn synthesises it again
                    logger.warning(f"{self}: could not prepare {first!r}: {e!r}")
                    return

    async def _stop_preparing(self) -> None:
        task, self._preparing = self._preparing, None
        if task is not None and not task.done():
            await self.cancel_task(task)

    async def _speak(self, frame: SpeakFrame) -> None:
        context_id = f"turn-{id(frame)}"
        await self.push_frame(TTSStartedFrame(context_id=context_id))
        pieces = plan_pieces(frame.lines)
        held: list[tuple[Piece, np.ndarray]] = []
        playing = False
        self._turn = _TurnStats()
        for i, piece in enumerate(pieces):
            held.append((piece, await asyncio.to_thread(self._synthesize, piece.text)))
            if not playing:
                buffered = self._timeline.queued_seconds() + sum(
                    len(pcm) / TELEPHONE_RATE for _, pcm in held
                )
                cached = self._phrases.has if self._phrases is not None else lambda _t: False
                if not ready_to_start(buffered, pieces[i + 1 :], self._pace, cached=cached):
                    logger.debug(
                        f"{self}: holding {buffered:.1f} s back at rtf {self._pace.rtf:.2f}"
                    )
                    continue  # synthesise further ahead before the first audio leaves
                playing = True
            for ready, pcm in held:
                await self._play(ready, pcm, context_id)
            held.clear()
        for ready, pcm in held:
            await self._play(ready, pcm, context_id)
        await self.push_frame(TTSStoppedFrame(context_id=context_id))
        stats = self._turn
        if frame.answers is not None and stats.first_audio_at:
            await self.push_frame(
                TurnTimingFrame(
                    timing=frame.answers,
                    first_audio_at=stats.first_audio_at,
                    gaps=stats.gaps,
                    gap_seconds=stats.gap_seconds,
                ),
                FrameDirection.UPSTREAM,
            )

    async def _apologise(self, error: str) -> None:
        if self._apology is not None and len(self._apology):
            line = Line("technical_apology", "", interruptible=False)
            await self._play(Piece(line, ""), self._apology, f"apology-{id(self)}")
        await self.push_frame(SpeechFailedFrame(error=error), FrameDirection.UPSTREAM)

    def _synthesize(self, text: str) -> np.ndarray:
        """Piper, then one resampling to 8 kHz (or the phrase, cached). Runs in a worker thread."""
        cached = self._phrases.get(text) if self._phrases is not None else None
        if cached is not None:
            return cached
        started = time.perf_counter()
        pcm = synthesize(self._voice, text)
        self._pace.observe(len(text), time.perf_counter() - started, len(pcm) / TELEPHONE_RATE)
        if self._phrases is not None:
            self._phrases.put(text, pcm)
        return pcm

    async def _play(self, piece: Piece, pcm: np.ndarray, context_id: str) -> None:
        line = piece.line
        now = time.monotonic()
        turn = self._turn
        if not turn.first_audio_at:
            turn.first_audio_at = now
        elif 0 < self._timeline.ends_at() < now:  # the previous piece has already ended
            turn.gaps += 1
            turn.gap_seconds += now - self._timeline.ends_at()
        self._timeline.schedule(line.key, line.interruptible, len(pcm) / TELEPHONE_RATE)
        step = int(TELEPHONE_RATE * CHUNK_S)
        for i in range(0, len(pcm), step):
            await self.push_frame(
                TTSAudioRawFrame(
                    audio=pcm[i : i + step].tobytes(),
                    sample_rate=TELEPHONE_RATE,
                    num_channels=1,
                    context_id=context_id,
                )
            )
