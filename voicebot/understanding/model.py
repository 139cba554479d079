"""The understanding a running process uses: encoder and classifier, loaded once."""

from __future__ import annotations

import threading
from pathlib import Path

from voicebot.understanding.classifier import MODEL_PATH, IntentClassifier
from voicebot.understanding.decision import Understanding
from voicebot.understanding.encoder import load_encoder

_lock = threading.Lock()
_loaded: dict[tuple[Path | None, Path], Understanding] = {}


def load_understanding(model_dir: Path | None = None, weights: Path = MODEL_PATH) -> Understanding:
    """The sentence model (``model_dir``, default the bundled one) and the fitted weights."""
    key = (model_dir, weights)
    with _lock:
        if key not in _loaded:
            classifier = IntentClassifier.load(load_encoder(model_dir), weights)
            _loaded[key] = Understanding(classifier)
        return _loaded[key]
