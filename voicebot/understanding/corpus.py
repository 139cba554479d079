"""The labelled corpus: caller utterances, the question they answered, the intent.

Format and labelling rules: ``tests/understanding/corpus/README.md``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from voicebot.errors import ConfigError

# The question kinds of ``dialogs/*.yaml`` (``expect:``), in a fixed order (features).
EXPECTS = ("identity", "yes_no", "rating", "comment", "time")
# What a turn can mean, in priority order: when a turn says several, the first wins.
INTENTS = (
    "opt_out",
    "deny",
    "agent",
    "callback",
    "repeat",
    "unsure",
    "question",
    "decline",
    "affirm",
    "other",
)
SCOPES = ("feedback", "transaction_confirmation")


@dataclass(frozen=True)
class Example:
    text: str
    expect: str
    intent: str
    scope: str | None = None
    source: str = ""  # file:line, for reports


def load_examples(paths: list[Path]) -> list[Example]:
    """Every example in ``paths`` (JSONL); a malformed line stops with where it is."""
    examples: list[Example] = []
    for path in paths:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
                example = Example(
                    text=str(row["text"]),
                    expect=str(row["expect"]),
                    intent=str(row["intent"]),
                    scope=row.get("scope"),
                    source=where,
                )
            except (ValueError, KeyError, TypeError) as e:
                raise ConfigError(f"{where}: not a corpus line: {e}") from e
            if example.expect not in EXPECTS or example.intent not in INTENTS:
                raise ConfigError(f"{where}: unknown expect or intent in {line!r}")
            if example.scope is not None and example.scope not in SCOPES:
                raise ConfigError(f"{where}: unknown scope {example.scope!r}")
            examples.append(example)
    return examples


def split_files(corpus_dir: Path) -> dict[str, list[Path]]:
    """The corpus's splits: ``train`` (train*.jsonl) and ``heldout`` (heldout*.jsonl)."""
    splits = {
        "train": sorted(corpus_dir.glob("train*.jsonl")),
        "heldout": sorted(corpus_dir.glob("heldout*.jsonl")),
    }
    if not splits["train"]:
        raise ConfigError(f"no train*.jsonl in {corpus_dir}")
    return splits


def fingerprint(paths: list[Path]) -> str:
    """A digest of the files' contents: which corpus a saved model was fitted on."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
