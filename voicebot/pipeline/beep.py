"""Answering-machine beep detection on the caller's audio.

A voicemail beep is a steady pure tone (typically 400-2500 Hz, a few hundred
ms). Speech never looks like that for long: its energy is spread over many
harmonics and its pitch drifts, and noise has no peak at all. So a short FFT per
window is enough, with no model: a window is *tonal* when one spectral peak in
the band holds most of its energy above a level floor, and a beep is a run of
tonal windows at the same frequency lasting at least ``min_duration_s``.

The beep is reported when it *ends* (the first window after the run that is no
longer that tone), because the machine starts recording only then: a message
started during the beep would lose its first words. A tone that goes on longer
than ``max_duration_s`` is reported anyway.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.pipeline.frames import BeepFrame

WINDOW_S = 0.032  # 512 samples at 16 kHz: 31 Hz bins, short enough to see a beep end
MIN_HZ = 400.0
MAX_HZ = 2500.0
MIN_DURATION_S = 0.18
MAX_DURATION_S = 1.5
MIN_PURITY = 0.7  # share of the window's energy in the peak's main lobe
MIN_LEVEL_DBFS = -45.0  # window RMS; quieter is line hiss, not a machine's beep
MAX_DRIFT_HZ = 15.0  # or MAX_DRIFT_REL of the frequency, whichever is larger
MAX_DRIFT_REL = 0.02
_LOBE_BINS = 2  # a Hann window's main lobe is +-2 bins wide


class ToneDetector:
    """Finds the end of a steady pure tone in a stream of 16-bit mono PCM.

    Plain numpy, no pipecat, so it can be tested on audio directly. Windows of
    ``WINDOW_S`` overlap by half; ``feed`` accepts chunks of any length.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        min_hz: float = MIN_HZ,
        max_hz: float = MAX_HZ,
        min_duration_s: float = MIN_DURATION_S,
        max_duration_s: float = MAX_DURATION_S,
    ) -> None:
        self.sample_rate = sample_rate
        self.window = round(sample_rate * WINDOW_S)
        self.hop = self.window // 2
        self._hann = np.hanning(self.window)
        self._bin_hz = sample_rate / self.window
        self._min_bin = max(1, math.floor(min_hz / self._bin_hz))
        self._max_bin = min(self.window // 2 - 1, math.ceil(max_hz / self._bin_hz))
        self._min_hz, self._max_hz = min_hz, max_hz
        # Windows needed so that the run spans min_duration_s of audio.
        self._min_windows = max(
            1, math.ceil((min_duration_s * sample_rate - self.window) / self.hop) + 1
        )
        self._max_windows = max(
            self._min_windows, math.ceil((max_duration_s * sample_rate - self.window) / self.hop)
        )
        self._min_energy = (32768.0 * 10 ** (MIN_LEVEL_DBFS / 20)) ** 2 * self.window
        self._pending: npt.NDArray[np.float64] = np.zeros(0)
        self._run: list[float] = []
        self._reported = False  # the current run already reported (it ran too long)

    def feed(self, pcm: npt.NDArray[np.int16]) -> float | None:
        """Add samples; the beep's frequency in Hz when one has just ended, else None."""
        self._pending = np.concatenate([self._pending, pcm.astype(np.float64)])
        found: float | None = None
        while len(self._pending) >= self.window and found is None:
            frequency = self.tone_in(self._pending[: self.window])
            self._pending = self._pending[self.hop :]
            found = self._track(frequency)
        return found

    def tone_in(self, samples: npt.NDArray[np.float64]) -> float | None:
        """The frequency of the pure tone that fills this window, or None."""
        x = samples - samples.mean()
        if float(np.dot(x, x)) < self._min_energy:
            return None
        power = np.abs(np.fft.rfft(x * self._hann)) ** 2
        total = float(power[1:].sum())
        k = int(np.argmax(power[1:])) + 1  # the strongest component anywhere, not just in band
        if not self._min_bin <= k <= self._max_bin:
            return None
        lobe = float(power[k - _LOBE_BINS : k + _LOBE_BINS + 1].sum())
        if total <= 0.0 or lobe / total < MIN_PURITY:
            return None
        # Parabolic interpolation on the log spectrum: sub-bin frequency.
        a, b, c = (math.log(float(p) + 1e-12) for p in power[k - 1 : k + 2])
        denominator = a - 2 * b + c
        offset = 0.5 * (a - c) / denominator if denominator != 0 else 0.0
        frequency = (k + offset) * self._bin_hz
        return frequency if self._min_hz <= frequency <= self._max_hz else None

    def _track(self, frequency: float | None) -> float | None:
        run = self._run
        mean = sum(run) / len(run) if run else 0.0
        same = (
            frequency is not None
            and bool(run)
            and abs(frequency - mean) <= max(MAX_DRIFT_HZ, MAX_DRIFT_REL * mean)
        )
        if same:
            assert frequency is not None
            run.append(frequency)
            if len(run) >= self._max_windows and not self._reported:
                self._reported = True  # a tone that does not stop: report it once anyway
                return mean
            return None
        ended = mean if len(run) >= self._min_windows and not self._reported else None
        self._run = [frequency] if frequency is not None else []
        self._reported = False
        return ended


class BeepDetector(FrameProcessor):
    """Passes every frame on; pushes one ``BeepFrame`` downstream when a beep has ended.

    Place it right after the transport's input, before any stage that consumes
    the caller's audio. It fires at most once per call: after the beep the
    machine records, and nothing else in a voicemail should look like one.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._detector: ToneDetector | None = None
        self.fired = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if self.fired or not isinstance(frame, InputAudioRawFrame):
            return
        frequency = self._detect(frame)
        if frequency is not None:
            self.fired = True
            await self.push_frame(BeepFrame(frequency_hz=round(frequency, 1)))

    def _detect(self, frame: InputAudioRawFrame) -> float | None:
        if self._detector is None or self._detector.sample_rate != frame.sample_rate:
            self._detector = ToneDetector(frame.sample_rate)
        pcm = np.frombuffer(frame.audio, dtype=np.int16)
        if frame.num_channels > 1:
            pcm = pcm[:: frame.num_channels]
        return self._detector.feed(pcm)
