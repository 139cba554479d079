"""Recognition helpers that do not need the model."""

from voicebot.pipeline.stt import collapse_repeats


def test_a_repetition_loop_is_collapsed_for_the_record() -> None:
    assert collapse_repeats("yes " * 300) == "yes yes yes"
    assert collapse_repeats("no no, I said no no no no") == "no no, I said no no no"
