"""Frames our own pipeline stages exchange, on top of pipecat's."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, SystemFrame

from voicebot.dialog.engine import Line


@dataclass(frozen=True)
class TurnTiming:
    """Where the time of one answer went, in monotonic seconds (``time.monotonic``).

    From the caller's last speech to the bot's first audio: end-of-turn
    detection, recognition, policy, then synthesis (``TurnTimingFrame``).
    """

    speech_stopped_at: float  # the caller's last speech, as the VAD places it
    turn_taken_at: float  # the VAD confirmed the end of the turn
    stt_seconds: float
    heard_at: float  # the policy had the words
    replied_at: float = 0.0  # the policy handed its reply to synthesis


@dataclass
class SpeakFrame(DataFrame):
    """One bot turn: the lines to say, back to back, without a gap.

    A whole turn travels in one frame so the synthesiser can plan it (see
    ``tts``). A line with ``interruptible=False`` is a disclosure that must be
    heard whole: the caller's barge-in is ignored while it plays.
    """

    lines: tuple[Line, ...] = ()
    answers: TurnTiming | None = None  # set when the turn answers something the caller said
    # Lines the caller's answer may lead to: made in advance once this turn is queued.
    likely_next: tuple[str, ...] = ()


@dataclass
class TurnTimingFrame(SystemFrame):
    """Sent upstream by the synthesiser once a turn that answered the caller is queued."""

    timing: TurnTiming | None = None
    first_audio_at: float = 0.0
    gaps: int = 0  # pieces that were synthesised after the previous one had finished playing
    gap_seconds: float = 0.0


@dataclass
class HeardFrame(SystemFrame):
    """What the caller said in one turn, after recognition.

    A system frame so that an interruption in flight never drops it.
    ``text`` may be empty: the VAD heard something that held no words. A
    ``partial`` frame comes mid-turn, only when a secret is being said, so the
    bot can cut in at once; the turn's final frame still follows.
    """

    text: str = ""  # already redacted: secrets never leave the recogniser
    confidence: float = 0.0
    speech_ended_at: float = 0.0  # monotonic time the VAD confirmed the end of speech
    speech_stopped_at: float = 0.0  # ...minus the VAD's stop_secs: when the caller went quiet
    stt_seconds: float = 0.0
    secrets: tuple[str, ...] = ()  # kinds of secret that were redacted from ``text``
    partial: bool = False  # heard while the caller is still talking (only sent for secrets)
    # Heard in a pause before the VAD was sure the turn ended; the policy may
    # answer it at once if it fully answers the question (``complete_answer``).
    speculative: bool = False
    # On a speculative frame, with the turn model on: P(the caller has finished),
    # from how the turn sounded (``voicebot.pipeline.turn``); None: not asked.
    finished_probability: float | None = None
    turn: int = 0  # which caller turn (VAD segment) of the call this is
    same_as_speculative: bool = False  # the final words are the speculative ones, unchanged


@dataclass
class CallerResumedFrame(SystemFrame):
    """The caller spoke again after a pause whose words were already sent as speculative."""

    turn: int = 0


@dataclass
class RecognitionHintsFrame(SystemFrame):
    """Sent upstream by the policy: what answers the current question expects."""

    expected_speech: str = ""  # Whisper's initial prompt (``DialogEngine`` says why)


@dataclass
class RecognitionFailedFrame(SystemFrame):
    """Sent downstream by the recogniser: a turn's words could not be recognised in time.

    Whisper raised, or did not answer within ``recognition_timeout_s``; the
    policy apologises and hands the call to a person rather than leave the
    caller in silence.
    """

    error: str = ""


@dataclass
class BeepFrame(SystemFrame):
    """An answering machine's beep was heard: the message can be left now."""

    frequency_hz: float = 0.0


@dataclass
class SpeechFailedFrame(SystemFrame):
    """Sent upstream by the synthesiser: a turn could not be synthesised.

    The synthesiser has already played its prepared apology; the policy ends
    the call as an escalation.
    """

    error: str = ""
