"""Silero VAD on a session shared by all calls, telling how long the caller has been quiet.

pipecat's ``SileroVADAnalyzer`` opens its own ONNX session per instance; a call
only needs its own recurrent state, so this one borrows the process's session.
It also exposes the pause in progress (``silence_s``, ``pause_id``), so speech
recognition can start while the VAD is still making sure the turn has ended.
"""

from __future__ import annotations

from typing import Any

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState


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

    def _run_analyzer(self, buffer: bytes) -> VADState:
        before = self._vad_state
        state = super()._run_analyzer(buffer)
        if state == VADState.STOPPING and before != VADState.STOPPING:
            self.pause_id += 1
        return state

    def silence_s(self) -> float:
        """How long the caller has been quiet in the middle of a turn (0 while speaking)."""
        if self._vad_state != VADState.STOPPING:
            return 0.0
        return self._vad_stopping_count * self.num_frames_required() / self.sample_rate
