"""Silero VAD on a session shared by all calls.

pipecat's ``SileroVADAnalyzer`` opens its own ONNX session per instance; a call
only needs its own recurrent state, so this one borrows the process's session.
"""

from __future__ import annotations

from typing import Any

from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams


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
