"""Does the VAD hear short answers? Missed short words and false starts, per VAD setting.

``python -m voicebot.bench.vad`` says a set of one-word answers ("Yes.",
"No.", "Right.", "Uh-huh.", ...) in the simulator's three caller voices, on a
clean line and on band-limited lines at 20, 15 and 10 dB SNR, each at four
frame phases (where the 20 ms frames and the VAD's 32 ms windows fall), and
feeds each utterance as the server receives it (8 kHz mu-law, decoded and
resampled to 16 kHz, 20 ms at a time) into the VAD (``SharedSileroVADAnalyzer``)
with each setting compared. A *miss* is an utterance after which the VAD never
reported speech: the caller's answer produces no turn at all, and the bot asks
"are you still there?". A *false start* is speech reported on 30 s of each
noisy line with nobody talking.

The Piper voices say each word the same way every run; eSpeak NG varies a
little, so counts may move by one or two between runs. Prints one line per
setting.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from loguru import logger
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from voicebot.audio import TELEPHONE_RATE, resample
from voicebot.config import get_settings
from voicebot.pipeline.models import get_models
from voicebot.pipeline.stt import WHISPER_RATE
from voicebot.pipeline.vad import SharedSileroVADAnalyzer
from voicebot.simulator.line import PhoneLine
from voicebot.simulator.linecheck import noisy_line, on_the_wire
from voicebot.simulator.voices import CallerVoices

WORDS = ("Yes.", "No.", "Yep.", "Nope.", "Sure.", "Yeah.", "Correct.", "Uh-huh.", "Right.",
         "Okay.", "Fine.", "Five.", "Two.")  # fmt: skip
VOICES = ("caller-low", "caller-high", "caller-espeak")
LINES: tuple[float | None, ...] = (None, 20.0, 15.0, 10.0)  # SNR in dB; None: clean
PHASES_MS = (0, 5, 10, 15)
FRAME = WHISPER_RATE // 50  # 20 ms, as the carrier sends it


@dataclass(frozen=True)
class Setting:
    start_secs: float
    confidence: float
    min_volume: float

    def __str__(self) -> str:
        return f"start {self.start_secs} s, confidence {self.confidence}, volume {self.min_volume}"


def speech_reported(session: object, setting: Setting, pcm16k: np.ndarray) -> int:
    """How many times the VAD reported the start of speech in ``pcm16k``."""
    params = VADParams(
        confidence=setting.confidence,
        start_secs=setting.start_secs,
        stop_secs=0.5,
        min_volume=setting.min_volume,
    )
    analyzer = SharedSileroVADAnalyzer(session=session, params=params)
    analyzer.set_sample_rate(WHISPER_RATE)
    starts, before = 0, VADState.QUIET
    for i in range(0, len(pcm16k) - FRAME + 1, FRAME):
        state = analyzer._run_analyzer(pcm16k[i : i + FRAME].tobytes())
        starts += state == VADState.SPEAKING and before != VADState.SPEAKING
        before = state
    return starts


def utterances(voices: CallerVoices) -> dict[tuple[float | None, str, str, int], np.ndarray]:
    """Every short answer, as the server's VAD receives it, with a second of quiet after."""
    out = {}
    for snr in LINES:
        for voice in VOICES:
            for word in WORDS:
                pcm = voices.say(word, voice)
                for phase in PHASES_MS:
                    lead = np.zeros(phase * TELEPHONE_RATE // 1000, np.int16)
                    line = noisy_line(f"bench-vad {word} {phase}", pcm, snr)
                    wire = on_the_wire(np.concatenate([lead, pcm]), line)
                    heard = resample(wire, TELEPHONE_RATE, WHISPER_RATE)
                    quiet = np.zeros(WHISPER_RATE, np.int16)
                    out[(snr, voice, word, phase)] = np.concatenate([heard, quiet])
    return out


def line_noise(voices: CallerVoices, seconds: float = 30.0) -> dict[float, np.ndarray]:
    """Each noisy line with nobody talking (its level set as for a caller-low call)."""
    level = voices.say("Yes, that was me.", "caller-low")
    out = {}
    for snr in (s for s in LINES if s is not None):
        line = PhoneLine.for_scenario(
            f"bench-vad noise {snr}",
            snr_db=snr,
            band_limited=True,
            color="pink",
            utterances=[level],
        )
        silence = np.zeros(int(seconds * TELEPHONE_RATE), np.int16)
        out[snr] = resample(on_the_wire(silence, line), TELEPHONE_RATE, WHISPER_RATE)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voicebot.bench.vad", description=__doc__)
    parser.add_argument(
        "--settings",
        default="0.2:0.7:0.3,0.15:0.5:0.3,0.1:0.5:0.3",
        help="start_secs:confidence:min_volume, separated by commas",
    )
    args = parser.parse_args(argv)
    logger.remove()
    settings = get_settings()
    models = get_models(settings)
    voices = CallerVoices(models.piper)
    clips, noise = utterances(voices), line_noise(voices)
    configured = Setting(settings.vad_start_secs, settings.vad_confidence, settings.vad_min_volume)
    print(f"{len(clips)} short answers ({len(WORDS)} words x {len(VOICES)} voices x "
          f"{len(LINES)} lines x {len(PHASES_MS)} phases); configured: {configured}")  # fmt: skip
    session = models.silero_session
    for spec in args.settings.split(","):
        start, confidence, volume = (float(x) for x in spec.split(":"))
        setting = Setting(start, confidence, volume)
        missed = [k for k, pcm in clips.items() if not speech_reported(session, setting, pcm)]
        by_line = Counter("clean" if k[0] is None else f"{k[0]:.0f} dB" for k in missed)
        false = {f"{snr:.0f} dB": speech_reported(session, setting, n) for snr, n in noise.items()}
        share = 100 * len(missed) / len(clips)
        words = Counter(k[2] for k in missed).most_common(4)
        print(
            f"{setting}: missed {len(missed)}/{len(clips)} ({share:.1f} %) by line "
            f"{dict(by_line)}, most {words}; false starts in 30 s of noise {false}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
