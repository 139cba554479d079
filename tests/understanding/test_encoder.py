"""The numpy MiniLM against embeddings PyTorch computed from the same files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from voicebot.understanding.encoder import load_encoder

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "minilm_reference.json").read_text())


@pytest.mark.parametrize("item", REFERENCE["items"], ids=lambda i: i["text"][:30] or "empty")
def test_each_sentence_matches_pytorch(item: dict) -> None:
    encoder = load_encoder()
    assert encoder.token_ids(item["text"]) == item["input_ids"]
    (vector,) = encoder.encode([item["text"]])
    assert np.abs(vector - np.array(item["embedding"], dtype=np.float32)).max() < 1e-4


def test_a_batch_of_different_lengths_gives_each_sentence_its_own_vector() -> None:
    encoder = load_encoder()
    texts = [item["text"] for item in REFERENCE["items"]]
    batch = encoder.encode(texts)
    for vector, item in zip(batch, REFERENCE["items"], strict=True):
        assert np.abs(vector - np.array(item["embedding"], dtype=np.float32)).max() < 1e-4


def test_the_model_loads_once_per_process() -> None:
    assert load_encoder() is load_encoder()
