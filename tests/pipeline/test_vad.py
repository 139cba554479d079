"""The shared-session Silero VAD's view of a pause, on a real clip."""

import numpy as np
import soundfile as sf
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from voicebot.config import REPO_ROOT, Settings
from voicebot.pipeline.models import bundled_onnx
from voicebot.pipeline.vad import SharedSileroVADAnalyzer, vad_params

CLIP = REPO_ROOT / "tests" / "scenarios" / "clips" / "yes_this_is_alice_16k.wav"
RATE = 16000
FRAME = RATE // 50  # 20 ms, as the carrier sends it


def _analyzer() -> SharedSileroVADAnalyzer:
    analyzer = SharedSileroVADAnalyzer(
        session=bundled_onnx("pipecat.audio.vad.data", "silero_vad.onnx"),
        params=VADParams(start_secs=0.2, stop_secs=0.5),
    )
    analyzer.set_sample_rate(RATE)
    return analyzer


def _feed(analyzer: SharedSileroVADAnalyzer, pcm: np.ndarray) -> list[tuple[VADState, float, int]]:
    """(state, silence_s, pause_id) after each 20 ms frame."""
    seen = []
    for i in range(0, len(pcm) - FRAME + 1, FRAME):
        state = analyzer._run_analyzer(pcm[i : i + FRAME].tobytes())
        seen.append((state, analyzer.silence_s(), analyzer.pause_id))
    return seen


def test_a_pause_grows_until_the_turn_ends_and_keeps_its_length_after() -> None:
    speech, rate = sf.read(CLIP, dtype="int16")
    assert rate == RATE
    analyzer = _analyzer()
    seen = _feed(analyzer, np.concatenate([speech, np.zeros(RATE, dtype=np.int16)]))
    states = [state for state, _, _ in seen]
    assert VADState.SPEAKING in states and states[-1] == VADState.QUIET
    ended = states.index(VADState.QUIET, states.index(VADState.SPEAKING))
    # Quiet only grows through the pause that ends the turn...
    pause = [silence for _, silence, _ in seen[ended - 10 : ended]]
    assert pause == sorted(pause) and pause[-1] > 0.4
    # ...and once the VAD is sure, the pause is still a pause, with the same id.
    after = seen[ended:]
    assert all(silence >= 0.5 for _, silence, _ in after)
    assert {pause_id for _, _, pause_id in after} == {seen[ended - 1][2]}


def test_speaking_again_ends_the_pause() -> None:
    speech, _rate = sf.read(CLIP, dtype="int16")
    analyzer = _analyzer()
    gap = np.zeros(RATE // 4, dtype=np.int16)  # 0.25 s: shorter than the VAD's 0.5 s
    seen = _feed(analyzer, np.concatenate([speech, gap, speech]))
    assert seen[-1][0] == VADState.SPEAKING and seen[-1][1] == 0.0
    assert max(silence for _, silence, _ in seen) > 0.1  # the gap was seen as a pause
    assert seen[-1][2] >= 1


SHORT_ANSWERS = REPO_ROOT / "tests" / "pipeline" / "fixtures" / "short_answers"


def test_short_answers_on_noisy_lines_start_a_turn_with_the_configured_vad() -> None:
    """One-word answers the VAD once never heard (no turn, then "are you still there?").

    Each clip is what the server's VAD received (16 kHz, after 8 kHz mu-law on
    a 10-20 dB band-limited line) for an answer that pipecat's 0.2 s at
    confidence 0.7 never reported as speech (``python -m voicebot.bench.vad``
    finds them; their names say the word, voice and line).
    """
    settings = Settings()
    clips = sorted(SHORT_ANSWERS.glob("*.wav"))
    assert len(clips) >= 4
    missed = []
    for clip in clips:
        pcm, rate = sf.read(clip, dtype="int16")
        assert rate == RATE
        analyzer = SharedSileroVADAnalyzer(
            session=bundled_onnx("pipecat.audio.vad.data", "silero_vad.onnx"),
            params=vad_params(settings),
        )
        analyzer.set_sample_rate(RATE)
        states = [state for state, _, _ in _feed(analyzer, pcm)]
        if VADState.SPEAKING not in states:
            missed.append(clip.name)
    assert not missed, f"no turn for {missed}"


def test_a_pause_remembers_how_much_it_sounded_like_speech() -> None:
    """A word's quiet end inside the pause scores well above silence (``pause_peak``)."""
    speech, _rate = sf.read(CLIP, dtype="int16")
    quiet_end = (speech[-RATE // 4 :].astype(np.float32) * 0.05).astype(np.int16)  # -26 dB
    gap = np.zeros(RATE // 10, dtype=np.int16)
    after = np.zeros(RATE, dtype=np.int16)
    silent = _analyzer()
    _feed(silent, np.concatenate([speech, gap, after]))
    fading = _analyzer()
    _feed(fading, np.concatenate([speech, gap, quiet_end, after]))
    assert fading.pause_peak >= 0.15 > 0.03  # line noise scores under 0.03
    assert fading.pause_peak > silent.pause_peak
