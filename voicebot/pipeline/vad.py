"""Silero VAD on a session shared by all calls, telling how long the caller has been quiet.

pipecat's ``SileroVADAnalyzer`` opens its own ONNX session per instance; a call
only needs its own recurrent state, so this one borrows the process's session.
It also exposes the pause in progress (``silence_s``, ``pause_id``), so speech
recognition can start while the VAD is still making sure the turn has ended.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from voicebot.config import Settings


class _SharedSessionModel(SileroOnnxModel):
    """Silero's per-stream state around an existing inference session."""

    def __init__(self, session: Any) -> None:  # no super(): it would open a new session
        self.session = session
        self.reset_states()
        self.sample_rates = [8000, 16000]


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    """A Silero VAD analyzer whose ONNX session is shared between calls."""

    def __init__(self, *, session: Any, params: VADParams) -> None:
        VADAnalyzer.__init__(self, sample_rate=None, params=params)
        self._model = _SharedSessionModel(session)
        self._windows_since_reset = 0
        self._low_confidence_windows = 0

    pause_id: int = 0  # +1 each time the caller goes quiet while speaking
    # The highest speech confidence of a window inside this pause, after its first:
    # the end of a word the VAD scored under its threshold ("num-ber" fading out)
    # scores 0.2-0.5, line noise under 0.03. Measured, not acted on yet: recognising
    # such a turn whole (pause included) heard worse on noisy lines (docs/status.md).
    pause_peak: float = 0.0
    _quiet_windows: int = 0  # since the caller last spoke, in this turn's pause

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = super().voice_confidence(buffer)
        if self._vad_state == VADState.STOPPING:  # a window after the pause's first
            score = float(np.asarray(confidence).reshape(-1)[0])
            self.pause_peak = max(self.pause_peak, score)
        return confidence

    def _run_analyzer(self, buffer: bytes) -> VADState:
        before = self._vad_state
        state = super()._run_analyzer(buffer)
        if state == VADState.STOPPING:
            if before != VADState.STOPPING:
                self.pause_id += 1
                self.pause_peak = 0.0
            self._quiet_windows = self._vad_stopping_count
        elif state == VADState.QUIET and before in (VADState.SPEAKING, VADState.STOPPING):
            # The pause ended the turn: it is still a pause, not the caller resuming.
            if before == VADState.SPEAKING:
                self.pause_id += 1
                self.pause_peak = 0.0
            self._quiet_windows = max(self._quiet_windows, self._vad_stop_frames)
        elif state != VADState.QUIET:
            self._quiet_windows = 0
        return state

    def silence_s(self) -> float:
        """How long the caller has been quiet since they last spoke (0 while speaking).

        The pause that ends a turn keeps its length once the VAD is sure: the
        recognition begun in it reads the state a moment before the VAD's
        "stopped" reaches it, and must not take that moment for the caller
        speaking again.
        """
        return self._quiet_windows * self.num_frames_required() / self.sample_rate


def vad_params(settings: Settings) -> VADParams:
    """The VAD as configured (``VOICEBOT_VAD_*``): calls, ``check-line`` and tests alike."""
    return VADParams(
        confidence=settings.vad_confidence,
        start_secs=settings.vad_start_secs,
        stop_secs=settings.vad_stop_secs,
        min_volume=settings.vad_min_volume,
    )
