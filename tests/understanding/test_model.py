"""The shipped intent model against the corpus in the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.understanding.corpus import fingerprint, load_examples, split_files
from voicebot.understanding.evaluate import score
from voicebot.understanding.model import load_understanding

CORPUS = Path(__file__).parent / "corpus"
SPLITS = split_files(CORPUS)


def test_the_saved_model_was_fitted_on_this_corpus() -> None:
    """A corpus edit without `voicebot train-understanding` would ship a stale model."""
    assert load_understanding().classifier.corpus == fingerprint(SPLITS["train"])


def test_most_of_the_held_back_split_is_not_in_the_training_split() -> None:
    """Independent writers say "Speaking." too: the report also scores the novel lines alone."""
    train = {e.text.lower().strip() for e in load_examples(SPLITS["train"])}
    held = load_examples(SPLITS["heldout"])
    repeated = [e for e in held if e.text.lower().strip() in train]
    assert len(repeated) < 0.2 * len(held)


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_no_split_has_a_false_confirmation_or_a_missed_opt_out(split: str) -> None:
    examples = load_examples(SPLITS[split])
    understanding = load_understanding()
    decisions = []
    for start in range(0, len(examples), 64):
        batch = examples[start : start + 64]
        decisions += understanding.decide_many([e.text for e in batch], [e.expect for e in batch])
    scores = score(split, examples, decisions)
    assert [e.text for e, _ in scores.false_confirmations] == []
    assert [e.text for e, _ in scores.missed_opt_outs] == []
    assert [e.text for e, _ in scores.narrowed_opt_outs] == []
    if split == "heldout":
        assert scores.macro_f1 >= 0.95
