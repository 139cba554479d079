"""The intent classifier: softmax regression over sentence embeddings and word n-grams.

Features of one utterance, for one question kind:
    the MiniLM embedding (meaning, robust to wording nobody wrote down),
    the question kind, one-hot and as a second copy of the embedding in a slot
    of its own per kind of question ("no" means one thing to "did you make
    it?" and another to "anything to add?"; the slot lets the model learn
    that per kind while sharing the rest),
    hashed word unigrams and bigrams (negation and short function words, which
    mean-pooled embeddings blur: "that was me" and "that wasn't me" are 0.7
    apart in cosine, far closer than their meanings).

Fitted with class-balanced cross-entropy and L2 (full-batch Adam, numpy), so the
rare intents (repeat, decline) weigh as much as the common ones. The fitted
weights are a small ``.npz`` shipped in the package (``intent_model.npz``),
made by ``voicebot train-understanding`` from the corpus.
"""

from __future__ import annotations

import itertools
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from voicebot.errors import ConfigError
from voicebot.understanding.corpus import EXPECTS, INTENTS
from voicebot.understanding.encoder import SentenceEncoder

MODEL_PATH = Path(__file__).with_name("intent_model.npz")
# Kinds of question that share an embedding slot: identity and yes/no are both yes/no.
KIND_SLOTS = {"identity": 0, "yes_no": 0, "rating": 1, "comment": 2, "time": 3}
Matrix = NDArray[np.float32]


def words_of(text: str) -> list[str]:
    """Lower-case words, apostrophes kept ("wasn't"), everything else a separator."""
    text = text.lower().replace("\u2019", "'")
    return re.sub(r"[^a-z0-9' ]+", " ", text).split()


@dataclass(frozen=True)
class FeatureSpec:
    """How text becomes a feature vector; saved with the weights it was fitted with."""

    hash_dim: int = 4096
    embedding_scale: float = 4.0
    ngram_scale: float = 3.0
    expect_scale: float = 1.0
    kind_scale: float = 3.0

    @property
    def size(self) -> int:
        return 384 * (1 + len(KIND_SLOTS)) + len(EXPECTS) + self.hash_dim

    def to_array(self) -> NDArray[np.float64]:
        return np.array(
            [
                self.hash_dim,
                self.embedding_scale,
                self.ngram_scale,
                self.expect_scale,
                self.kind_scale,
            ],
            dtype=np.float64,
        )

    @classmethod
    def from_array(cls, values: NDArray[np.float64]) -> FeatureSpec:
        hash_dim, emb, ngram, expect, kind = values.tolist()
        return cls(int(hash_dim), float(emb), float(ngram), float(expect), float(kind))

    def ngrams(self, text: str) -> Matrix:
        vector = np.zeros(self.hash_dim, dtype=np.float32)
        words = ["<s>", *words_of(text), "</s>"]
        grams = words[1:-1] + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        for gram in grams:
            vector[zlib.crc32(gram.encode()) % self.hash_dim] = 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def features(self, embeddings: Matrix, texts: Sequence[str], expects: Sequence[str]) -> Matrix:
        rows = np.zeros((len(texts), self.size), dtype=np.float32)
        rows[:, :384] = embeddings * self.embedding_scale
        kinds = 384 + len(EXPECTS)
        grams = kinds + 384 * len(KIND_SLOTS)
        for i, (text, expect) in enumerate(zip(texts, expects, strict=True)):
            rows[i, 384 + EXPECTS.index(expect)] = self.expect_scale
            slot = kinds + 384 * KIND_SLOTS[expect]
            rows[i, slot : slot + 384] = embeddings[i] * self.kind_scale
            rows[i, grams:] = self.ngrams(text) * self.ngram_scale
        return rows


@dataclass
class IntentClassifier:
    """P(intent | utterance, question kind) for every intent in ``INTENTS``."""

    encoder: SentenceEncoder
    weights: Matrix
    bias: Matrix
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    corpus: str = ""  # fingerprint of the corpus it was fitted on

    def probabilities(self, texts: Sequence[str], expects: Sequence[str]) -> Matrix:
        """Rows of probabilities over ``INTENTS``, one per text."""
        embeddings = self.encoder.encode(texts)
        return predict(self.spec.features(embeddings, texts, expects), self.weights, self.bias)

    def save(self, path: Path = MODEL_PATH) -> None:
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float32),
            bias=self.bias.astype(np.float32),
            intents=np.array(INTENTS),
            expects=np.array(EXPECTS),
            spec=self.spec.to_array(),
            corpus=np.array(self.corpus),
        )

    @classmethod
    def load(cls, encoder: SentenceEncoder, path: Path = MODEL_PATH) -> IntentClassifier:
        try:
            data = np.load(path)
        except OSError as e:
            raise ConfigError(
                f"no intent model at {path}: run `voicebot train-understanding`"
            ) from e
        if tuple(data["intents"]) != INTENTS or tuple(data["expects"]) != EXPECTS:
            raise ConfigError(f"{path} was fitted for other intents: retrain it")
        spec = FeatureSpec.from_array(data["spec"])
        return cls(encoder, data["weights"], data["bias"], spec, str(data["corpus"]))


def predict(features: Matrix, weights: Matrix, bias: Matrix) -> Matrix:
    logits = features @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)  # type: ignore[no-any-return]


def fit(
    features: Matrix,
    labels: NDArray[np.int64],
    *,
    l2: float = 1e-3,
    steps: int = 400,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> tuple[Matrix, Matrix]:
    """Class-balanced softmax regression: (weights, bias)."""
    rng = np.random.default_rng(seed)
    n, d = features.shape
    k = len(INTENTS)
    counts = np.bincount(labels, minlength=k).astype(np.float32)
    class_weight = np.where(counts > 0, n / (k * np.maximum(counts, 1)), 0.0)
    sample_weight = (class_weight[labels] / n).astype(np.float32)[:, None]
    onehot = np.eye(k, dtype=np.float32)[labels]
    weights = (rng.standard_normal((d, k)) * 0.01).astype(np.float32)
    bias = np.zeros(k, dtype=np.float32)
    moments = [np.zeros_like(p) for p in (weights, weights, bias, bias)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, steps + 1):
        probs = predict(features, weights, bias)
        error = (probs - onehot) * sample_weight
        grad_w = features.T @ error + l2 * weights
        grad_b = error.sum(axis=0)
        for i, (param, grad) in enumerate(((weights, grad_w), (bias, grad_b))):
            m, v = moments[2 * i], moments[2 * i + 1]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad * grad
            m_hat = m / (1 - beta1**step)
            v_hat = v / (1 - beta2**step)
            param -= learning_rate * m_hat / (np.sqrt(v_hat) + eps)
    return weights, bias
