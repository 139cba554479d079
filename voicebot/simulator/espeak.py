"""eSpeak NG as a second synthesiser for simulated callers, through ctypes.

Why: every other caller voice is Piper's, like the bot's, so the recogniser
could be tuned to one synthesiser without anyone noticing. eSpeak NG is a
formant synthesiser, nothing like Piper's neural voice. The ``espeakng-loader``
package ships the shared library and its data; synthesis goes to a buffer
(no audio device). The library keeps global state, so one process-wide
instance serialises every call behind a lock.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

from voicebot.audio import PCM
from voicebot.errors import SpeechError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3  # espeak_PARAMETER values
_OK = 0

_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """The eSpeak NG library, initialised once; ``synthesize`` is thread-safe."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as e:
            raise SpeechError(
                "eSpeak NG is not installed: pip install -e '.[piper]' (espeakng-loader)"
            ) from e
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise SpeechError(f"eSpeak NG did not initialise (returned {rate})")
        self.sample_rate = int(rate)
        self._lib: Any = lib
        self._chunks: list[PCM] = []
        self._callback = _Callback(self._on_audio)  # kept: the library holds a raw pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()

    def _on_audio(self, wav: Any, samples: int, _events: Any) -> int:
        if samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(samples,)).copy())
        return 0  # 0: go on synthesising

    def synthesize(self, text: str, voice: str, words_per_minute: int, pitch: int) -> PCM:
        """``text`` spoken by ``voice`` (e.g. ``en-us+f2``), as PCM at ``sample_rate``."""
        encoded = text.encode()
        with self._lock:
            self._chunks = []
            if self._lib.espeak_SetVoiceByName(voice.encode()) != _OK:
                raise SpeechError(f"eSpeak NG has no voice {voice!r}")
            self._lib.espeak_SetParameter(_RATE, words_per_minute, 0)
            self._lib.espeak_SetParameter(_PITCH, pitch, 0)
            status = self._lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if status != _OK or not chunks:
            raise SpeechError(f"eSpeak NG could not say {text!r} (status {status})")
        return np.concatenate(chunks).astype(np.int16)


_instance: Espeak | None = None
_instance_lock = threading.Lock()


def espeak() -> Espeak:
    """The process's eSpeak NG, initialised on first use."""
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = Espeak()
        return _instance
