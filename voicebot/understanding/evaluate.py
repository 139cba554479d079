"""Fitting and measuring the intent classifier on the labelled corpus.

``voicebot train-understanding`` fits on the training split (choosing the
regularisation by cross-validation on that split alone) and saves the model;
``voicebot eval-understanding`` reports every split. The held-back split is
never fitted or tuned on: only reported.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voicebot.understanding.classifier import FeatureSpec, IntentClassifier, fit, predict
from voicebot.understanding.corpus import INTENTS, Example, fingerprint, load_examples, split_files
from voicebot.understanding.decision import (
    NONE,
    Decision,
    Thresholds,
    Understanding,
    clauses,
    combine,
)
from voicebot.understanding.encoder import SentenceEncoder

LABELS = (*INTENTS, NONE)


@dataclass
class Scores:
    """How a split went: per-intent precision/recall/F1 and the two errors that matter."""

    name: str
    total: int
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (gold, predicted)
    false_confirmations: list[tuple[Example, Decision]] = field(default_factory=list)
    missed_opt_outs: list[tuple[Example, Decision]] = field(default_factory=list)
    wrong_scopes: list[tuple[Example, Decision]] = field(default_factory=list)
    narrowed_opt_outs: list[tuple[Example, Decision]] = field(default_factory=list)
    ms_per_utterance: list[float] = field(default_factory=list)

    def per_intent(self) -> dict[str, tuple[float, float, float, int]]:
        """intent -> (precision, recall, F1, support)."""
        result = {}
        for intent in INTENTS:
            tp = self.confusion[(intent, intent)]
            predicted = sum(n for (_, p), n in self.confusion.items() if p == intent)
            support = sum(n for (g, _), n in self.confusion.items() if g == intent)
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            result[intent] = (precision, recall, f1, support)
        return result

    @property
    def macro_f1(self) -> float:
        rows = [f1 for _, _, f1, support in self.per_intent().values() if support]
        return sum(rows) / len(rows) if rows else 0.0

    @property
    def abstained(self) -> int:
        return sum(n for (_, p), n in self.confusion.items() if p == NONE)

    @property
    def opt_out_recall(self) -> float:
        return self.per_intent()["opt_out"][1]

    @property
    def safe(self) -> bool:
        return not (self.false_confirmations or self.missed_opt_outs or self.narrowed_opt_outs)


def score(name: str, examples: Sequence[Example], decisions: Sequence[Decision]) -> Scores:
    scores = Scores(name, len(examples))
    for example, decision in zip(examples, decisions, strict=True):
        scores.confusion[(example.intent, decision.intent)] += 1
        if decision.intent == "affirm" and example.intent != "affirm":
            scores.false_confirmations.append((example, decision))
        if example.intent == "opt_out" and decision.intent != "opt_out":
            scores.missed_opt_outs.append((example, decision))
        if example.intent == "opt_out" and decision.intent == "opt_out":
            if decision.scope != example.scope:
                scores.wrong_scopes.append((example, decision))
            if decision.scope is not None and decision.scope != example.scope:
                # Read as one purpose where the caller meant another, or every one:
                # the other purposes would go on calling them. A missed opt-out, in part.
                scores.narrowed_opt_outs.append((example, decision))
    return scores


# -- fitting ----------------------------------------------------------------------


@dataclass
class Embedded:
    """A split's turns and their clauses, embedded once."""

    examples: list[Example]
    parts: list[str]
    owners: list[int]
    embeddings: np.ndarray

    @classmethod
    def of(cls, encoder: SentenceEncoder, examples: list[Example]) -> Embedded:
        parts: list[str] = []
        owners: list[int] = []
        for i, example in enumerate(examples):
            pieces = clauses(example.text)
            for piece in [example.text, *(pieces if len(pieces) > 1 else [])]:
                parts.append(piece)
                owners.append(i)
        return cls(examples, parts, owners, encoder.encode(parts))

    def features(self, spec: FeatureSpec) -> np.ndarray:
        expects = [self.examples[i].expect for i in self.owners]
        return spec.features(self.embeddings, self.parts, expects)

    def whole_rows(self) -> np.ndarray:
        """Index of each turn's whole-text row."""
        first: dict[int, int] = {}
        for row, owner in enumerate(self.owners):
            first.setdefault(owner, row)
        return np.array([first[i] for i in range(len(self.examples))])

    def decisions(self, probs: np.ndarray, thresholds: Thresholds) -> list[Decision]:
        rows: dict[int, list[np.ndarray]] = {}
        for row, owner in zip(probs, self.owners, strict=True):
            rows.setdefault(owner, []).append(row)
        return [combine(e.text, e.expect, rows[i], thresholds) for i, e in enumerate(self.examples)]


def labels_of(examples: Sequence[Example]) -> np.ndarray:
    return np.array([INTENTS.index(e.intent) for e in examples], dtype=np.int64)


def cross_validate(
    data: Embedded, spec: FeatureSpec, l2: float, thresholds: Thresholds, folds: int = 5
) -> Scores:
    """Out-of-fold decisions on the training split (folds by turn, fixed seed)."""
    features = data.features(spec)
    whole = data.whole_rows()
    labels = labels_of(data.examples)
    fold_of = np.random.default_rng(0).permutation(len(data.examples)) % folds
    owners = np.array(data.owners)
    probs = np.zeros((len(data.parts), len(INTENTS)), dtype=np.float32)
    for k in range(folds):
        train = fold_of != k
        weights, bias = fit(features[whole[train]], labels[train], l2=l2)
        held = fold_of[owners] == k
        probs[held] = predict(features[held], weights, bias)
    return score(f"train (5-fold CV, l2={l2})", data.examples, data.decisions(probs, thresholds))


def train(
    encoder: SentenceEncoder,
    corpus_dir: Path,
    *,
    spec: FeatureSpec | None = None,
    l2_grid: Sequence[float] = (3e-4, 1e-3, 3e-3),
    thresholds: Thresholds | None = None,
) -> tuple[IntentClassifier, list[Scores]]:
    """Fit on the training split; l2 chosen by cross-validated macro F1 on that split."""
    spec = spec or FeatureSpec()
    thresholds = thresholds or Thresholds()
    files = split_files(corpus_dir)["train"]
    data = Embedded.of(encoder, load_examples(files))
    runs = [cross_validate(data, spec, l2, thresholds) for l2 in l2_grid]
    best = max(range(len(runs)), key=lambda i: (runs[i].safe, runs[i].macro_f1))
    features = data.features(spec)
    weights, bias = fit(features[data.whole_rows()], labels_of(data.examples), l2=l2_grid[best])
    model = IntentClassifier(encoder, weights, bias, spec, fingerprint(files))
    return model, runs


# -- measuring --------------------------------------------------------------------


def evaluate(understanding: Understanding, name: str, examples: list[Example]) -> Scores:
    """Decide every example one at a time, as a call would, timing each."""
    decisions = []
    times = []
    for example in examples:
        start = time.perf_counter()
        # Not ``decide``: its memory of recent turns would time a lookup, not the model.
        decisions.append(understanding.decide_many([example.text], [example.expect])[0])
        times.append((time.perf_counter() - start) * 1000)
    scores = score(name, examples, decisions)
    scores.ms_per_utterance = times
    return scores


def report(scores: Scores, *, show_errors: int = 10) -> str:
    """The table ``voicebot eval-understanding`` prints for one split."""
    out = [f"== {scores.name}: {scores.total} utterances =="]
    out.append(f"{'intent':<10} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}")
    for intent, (p, r, f1, support) in scores.per_intent().items():
        out.append(f"{intent:<10} {p:>9.3f} {r:>7.3f} {f1:>6.3f} {support:>8}")
    out.append(f"macro F1 {scores.macro_f1:.3f}; abstained (asked again) {scores.abstained}")
    out.append(
        f"false confirmations {len(scores.false_confirmations)}; missed opt-outs "
        f"{len(scores.missed_opt_outs)} (opt-out recall {scores.opt_out_recall:.3f}); "
        f"opt-out scope wrong {len(scores.wrong_scopes)}, of which narrowed "
        f"{len(scores.narrowed_opt_outs)} (the rest read as every purpose: the safe side)"
    )
    if scores.ms_per_utterance:
        ms = sorted(scores.ms_per_utterance)
        p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
        out.append(f"time per utterance: p50 {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms")
    out.append("confusion (rows gold, columns predicted):")
    out.append(" " * 10 + "".join(f"{label[:7]:>8}" for label in LABELS))
    for gold in INTENTS:
        cells = "".join(f"{scores.confusion[(gold, p)]:>8}" for p in LABELS)
        out.append(f"{gold:<10}{cells}")
    for title, errors in (
        ("false confirmations", scores.false_confirmations),
        ("missed opt-outs", scores.missed_opt_outs),
        ("narrowed opt-outs", scores.narrowed_opt_outs),
        ("wrong opt-out scopes", scores.wrong_scopes),
    ):
        for example, decision in errors[:show_errors]:
            out.append(
                f"  {title}: [{example.source}] {example.expect}: {example.text!r} -> "
                f"{decision.intent} {decision.scope or ''} {decision.reason}"
            )
    return "\n".join(out)
