"""Checking a caller line before a scenario relies on it (``voicebot check-line``).

Whisper tiny.en hears each simulated voice differently, and the bot may act
on the words of a pause before the caller has finished (``stt``'s speculative
recognition). So a line is synthesised as the simulator says it, put on the
scenario's line, through mu-law, and recognised exactly as the server does,
with the prompt the dialog gives Whisper for that kind of question: once whole,
cut at 40, 60 and 80 % of its audio, and as the server cuts the turn out of
the stream at three frame phases (``served_segment``: the configured VAD finds
the speech, and the words are what Whisper makes of the pre-roll and the
speech up to the first quiet window, the speculative recognition that becomes
the turn's words when the pause lasts; a short word the VAD never reports is
a turn that never happens). Each hearing is then understood as
the dialog would (``DialogEngine.understand``: the classifier's decision, the
requests honoured anywhere, the question's own answer).

The verdict (``problems``): every voice's whole line must read as the intent
expected (and the rating, for a rating); no cut may read as a yes unless a yes
is meant (a false confirmation from half a sentence), nor as an opt-out unless
one is meant (an opt-out is stored at once and never withdrawn), nor as
another rating than the one meant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pipecat.audio.vad.vad_analyzer import VADState

from voicebot.audio import FRAME_SAMPLES, PCM, TELEPHONE_RATE, mulaw_decode, resample
from voicebot.config import Settings, get_settings
from voicebot.dialog.engine import EXPECTATIONS, OPT_OUT_SPEECH, Heard, IntentReader
from voicebot.dialog.understanding import request_from
from voicebot.pipeline.stt import PRE_ROLL_S, WHISPER_RATE, transcribe
from voicebot.pipeline.vad import SharedSileroVADAnalyzer, vad_params
from voicebot.simulator.line import PhoneLine
from voicebot.simulator.voices import CallerVoices

CUTS = (0.4, 0.6, 0.8)
PHASES_MS = (0, 7, 13)  # where the carrier's 20 ms frames (and the VAD's windows) fall
WHOLE = 1.0
MIN_CONFIDENCE = 0.45  # both flows' min_confidence: heard less surely, it answers nothing
TAIL_S = 0.3  # quiet after the words, within the VAD's 0.5 s


@dataclass(frozen=True)
class Reading:
    """One hearing of a line: a voice, how much of it, what was heard and what it means."""

    voice: str
    cut: float  # fraction of the audio heard; WHOLE for the whole line
    text: str
    confidence: float
    model: str  # the classifier's decision
    intent: str  # what the dialog makes of it at this question
    rating: int | None = None
    scope: str | None = None  # an opt-out of one purpose only ("no more surveys": feedback)
    phase_ms: int | None = None  # cut out of the stream by the VAD, frames shifted this much

    @property
    def how(self) -> str:
        if self.phase_ms is not None:
            return f"vad+{self.phase_ms}ms"
        return "whole" if self.cut == WHOLE else f"{self.cut:.0%}"


def prompt_for(expect: str, first_name: str) -> str:
    """Whisper's prompt for this kind of question, as ``DialogEngine`` builds it."""
    speech = EXPECTATIONS[expect].expected_speech.format_map({"first_name": first_name})
    return f"{speech} {OPT_OUT_SPEECH}".strip()


def understand(
    reader: IntentReader, text: str, confidence: float, expect: str, first_name: str
) -> tuple[str, str, int | None, str | None]:
    """(model decision, dialog intent, rating, opt-out scope) for words heard at this question."""
    if not text.strip():
        return "none", "none", None, None
    decision = reader.decide(text, expect)
    if confidence < MIN_CONFIDENCE:
        return decision.intent, "none", None, None
    now = datetime.now(UTC)
    request = request_from(decision, text, confidence, now)
    if request is not None:
        scope = request.value if isinstance(request.value, str) else None
        return decision.intent, request.intent.value, None, scope
    values: dict[str, Any] = {"first_name": first_name}
    answer = EXPECTATIONS[expect].classify(Heard(text, confidence, values, now, decision))
    rating = answer.value if answer.intent.value == "rating" else None
    return decision.intent, answer.intent.value, rating, None


def noisy_line(seed: str, pcm: PCM, snr_db: float | None) -> PhoneLine:
    """A phone line for ``pcm``: band-limited with pink noise at ``snr_db``; None: clean."""
    return PhoneLine.for_scenario(
        seed, snr_db=snr_db, band_limited=snr_db is not None, color="pink", utterances=[pcm]
    )


def on_the_wire(pcm: PCM, line: PhoneLine) -> PCM:
    """8 kHz speech, with the line's quiet before and after, as the server decodes it."""
    lead = int(PRE_ROLL_S * TELEPHONE_RATE) // FRAME_SAMPLES
    tail = int(TAIL_S * TELEPHONE_RATE) // FRAME_SAMPLES
    shaped = line.shape(pcm)
    shaped = np.concatenate([shaped, np.zeros(-len(shaped) % FRAME_SAMPLES, np.int16)])
    frames: list[PCM | None] = [None] * lead
    frames += [shaped[i : i + FRAME_SAMPLES] for i in range(0, len(shaped), FRAME_SAMPLES)]
    frames += [None] * tail
    return mulaw_decode(b"".join(line.encode(f) for f in frames))


def hear_line(
    models: Any,
    voices: CallerVoices,
    text: str,
    voice: str,
    *,
    expect: str,
    first_name: str,
    snr_db: float | None = None,
    cuts: Sequence[float] = CUTS,
    phases_ms: Sequence[int] = PHASES_MS,
    settings: Settings | None = None,
) -> list[Reading]:
    """The whole line and its cuts, said in ``voice`` and heard as the server hears them."""
    pcm = voices.say(text, voice)
    prompt = prompt_for(expect, first_name)
    readings = []
    for cut in (WHOLE, *cuts):
        part = pcm[: int(len(pcm) * cut)]
        # A fresh line each time, seeded alike: the same noise under each cut.
        line = noisy_line(f"check-line {voice} {text}", pcm, snr_db)
        heard = transcribe(
            models.whisper,
            resample(on_the_wire(part, line), TELEPHONE_RATE, WHISPER_RATE),
            prompt=prompt,
        )
        meaning = understand(models.understanding, heard.text, heard.confidence, expect, first_name)
        readings.append(Reading(voice, cut, heard.text, heard.confidence, *meaning))
    line = noisy_line(f"check-line {voice} {text}", pcm, snr_db)
    for phase in phases_ms:
        lead = np.zeros(phase * TELEPHONE_RATE // 1000, np.int16)
        wire = resample(
            on_the_wire(np.concatenate([lead, pcm]), line), TELEPHONE_RATE, WHISPER_RATE
        )
        segment = served_segment(models.silero_session, wire, settings or get_settings())
        if segment is None:
            readings.append(Reading(voice, WHOLE, "", 0.0, "none", "none", phase_ms=phase))
            continue
        heard = transcribe(models.whisper, segment, prompt=prompt)
        meaning = understand(models.understanding, heard.text, heard.confidence, expect, first_name)
        readings.append(
            Reading(voice, WHOLE, heard.text, heard.confidence, *meaning, phase_ms=phase)
        )
    return readings


def served_segment(session: Any, pcm16k: PCM, settings: Settings) -> PCM | None:
    """The turn the server would recognise in this stream: None if the VAD never hears it.

    The VAD runs over 20 ms frames as the carrier sends them; the turn starts
    ``PRE_ROLL_S`` before the VAD reports speech and ends where the speculative
    recognition of the pause that ended the turn cut it: ``speculate_after_s``
    into that pause (``pipeline/stt.py``), not where the VAD became sure.
    """
    analyzer = SharedSileroVADAnalyzer(session=session, params=vad_params(settings))
    analyzer.set_sample_rate(WHISPER_RATE)
    frame = WHISPER_RATE // 50
    stream = np.concatenate([pcm16k, np.zeros(2 * WHISPER_RATE, np.int16)])
    start: int | None = None
    guess_at: int | None = None  # where the speculative recognition of this pause cut the turn
    for i in range(0, len(stream) - frame + 1, frame):
        state = analyzer._run_analyzer(stream[i : i + frame].tobytes())
        if start is None:
            if state == VADState.SPEAKING:
                start = max(0, i + frame - int(PRE_ROLL_S * WHISPER_RATE))
            continue
        quiet = analyzer.silence_s()
        if quiet == 0:
            guess_at = None  # they went on: the guess is dropped
        elif guess_at is None and quiet >= max(settings.speculate_after_s, 1e-9):
            guess_at = i + frame
        if state == VADState.QUIET:
            return stream[start : guess_at or i + frame]
    return None if start is None else stream[start:]


def problems(readings: Sequence[Reading], intent: str, rating: int | None = None) -> list[str]:
    """Why these readings make the line unsafe to rely on; empty if it is fine."""
    found: list[str] = []
    for r in readings:
        where = f"{r.voice} {r.how if r.cut == WHOLE else f'cut {r.how}'}: {r.text!r}"
        if r.cut == WHOLE:
            if r.intent != intent:
                found.append(f"{where} reads as {r.intent}, expected {intent}")
            elif rating is not None and r.rating != rating:
                found.append(f"{where} reads as rating {r.rating}, expected {rating}")
            continue
        if r.intent == "affirm" and intent != "affirm":
            found.append(f"{where} reads as affirm: a false confirmation from half a sentence")
        if r.intent == "opt_out" and intent != "opt_out":
            found.append(f"{where} reads as opt_out, which is never withdrawn")
        if rating is not None and r.rating is not None and r.rating != rating:
            found.append(f"{where} reads as rating {r.rating}, expected {rating}")
    return found


def table(readings: Sequence[Reading]) -> str:
    """The readings, one a line: voice, cut, heard words, confidence, model and dialog intent."""
    rows = [f"{'voice':<14} {'cut':>8}  {'conf':>4}  {'model':<9} {'reads as':<16} heard"]
    for r in readings:
        cut = r.how
        reads = " ".join(str(x) for x in (r.intent, r.rating, r.scope) if x is not None)
        rows.append(
            f"{r.voice:<14} {cut:>8}  {r.confidence:4.2f}  {r.model:<9} {reads:<16} {r.text!r}"
        )
    return "\n".join(rows)
