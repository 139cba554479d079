"""The Whisper comparison's arithmetic and printout, on made-up figures (no models)."""

from __future__ import annotations

import math
from typing import Any

from voicebot.bench import asr


def test_word_errors_count_substitutions_deletions_and_insertions() -> None:
    assert asr.word_errors([], []) == 0
    assert asr.word_errors(["yes"], []) == 1
    assert asr.word_errors([], ["yes", "yes"]) == 2
    said = ["yes", "that", "was", "me"]
    assert asr.word_errors(said, said) == 0
    # "Yes, that was me." heard as "Yeah, what me?": two substituted, one dropped.
    assert asr.word_errors(said, ["yeah", "what", "me"]) == 3
    assert asr.word_errors(["a", "b", "c"], ["b", "c", "d"]) == 2


def test_normalising_ignores_case_punctuation_and_digits() -> None:
    assert asr.normalise("Yes, that's RIGHT!") == ["yes", "that's", "right"]
    assert asr.normalise("5 out of 5.") == ["five", "out", "of", "five"]
    assert asr.normalise("Okay \u2019cause it's 'fine'") == ["ok", "cause", "it's", "fine"]
    assert asr.normalise("...") == []


def test_wer_is_errors_over_all_reference_words() -> None:
    pairs = [("Yes, that was me.", "Yeah, what me?"), ("No.", "no")]
    assert asr.wer(pairs) == 3 / 5
    assert asr.wer([("Four stars.", "4 stars")]) == 0.0
    assert math.isnan(asr.wer([]))


def test_the_sample_takes_question_kinds_in_turn() -> None:
    rows = [
        {"text": f"{k} {i}", "expect": k, "intent": "other"} for k in asr.KINDS for i in range(5)
    ]
    picked = asr.sample_lines(rows, 7, seed=1)
    assert [r["expect"] for r in picked[:5]] == list(asr.KINDS)
    assert len(picked) == 7
    assert picked == asr.sample_lines(rows, 7, seed=1)
    assert len(asr.sample_lines(rows, 100)) == len(rows)


def test_the_identity_prompt_names_whom_the_line_names() -> None:
    assert asr.first_name("Yes ma'am, this is Earl.") == "Earl"
    assert asr.first_name("No, there's no Gary here.") == "Gary"
    assert asr.first_name("Speaking.") == asr.DEFAULT_NAME
    assert asr.first_name("Yes. Yes it is.") == asr.DEFAULT_NAME
    assert asr.prompt_for("identity", "yes I am Dmitri") == (
        "Yes, this is Dmitri. No. Please stop calling me."
    )
    assert asr.prompt_for("comment", "nothing") == "Please stop calling me."


def test_a_third_of_each_voice_is_on_the_line() -> None:
    for voice in range(len(asr.VOICES)):
        assert sum(asr.on_line(i, voice) for i in range(30)) == 10
    for i in range(30):  # each line on the line in exactly one voice
        assert sum(asr.on_line(i, v) for v in range(len(asr.VOICES))) == 1


def summary(model: str, wer: float) -> dict[str, Any]:
    part = {"n": 3, "wer": wer, "intent_accuracy": 0.5}
    return {
        "model": model,
        "n": 363,
        "wer": wer,
        "intent_accuracy": 0.875,
        "as_from_text": 0.9,
        "false_confirmations": 0,
        "missed_opt_outs": 1,
        "mean_confidence": 0.81,
        "wall_p50_ms": 180.4,
        "wall_p95_ms": 320.0,
        "cpu_p50_ms": 175.0,
        "cpu_p95_ms": 300.0,
        "load_s": 0.42,
        "rss_mb": 95.0,
        "by_voice": {v: part for v in (*asr.VOICES, asr.CLIP_VOICE)},
        "by_line": {
            "clean": part,
            "line": {"n": 0, "wer": float("nan"), "intent_accuracy": float("nan")},
        },
    }


def test_the_table_has_a_line_per_model_and_per_voice() -> None:
    text = asr.table([summary("tiny.en", 0.2345), summary("base", 0.1)])
    lines = text.splitlines()
    first = next(line for line in lines if line.startswith("tiny.en"))
    assert first.split() == [
        "tiny.en", "363", "23.4", "87.5", "90.0", "0", "1", "0.81",
        "180", "320", "175", "300", "0.42", "95",
    ]  # fmt: skip
    assert sum(line.startswith("base ") for line in lines) == 2  # both tables
    per_voice = [line for line in lines if line.startswith("tiny.en")][1]
    assert per_voice.split()[1:4] == ["23.4", "/", "50.0"]
    assert per_voice.rstrip().endswith("- / -")  # no line utterances: no figures
    header = next(line for line in lines if line.startswith("WER% / intent%"))
    for group in (*asr.VOICES, asr.CLIP_VOICE, "clean", "line"):
        assert group in header
