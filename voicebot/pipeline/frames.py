"""Frames our own pipeline stages exchange, on top of pipecat's."""

from __future__ import annotations

from dataclasses import dataclass

from pipecat.frames.frames import DataFrame, SystemFrame

from voicebot.dialog.engine import Line


@dataclass
class SpeakFrame(DataFrame):
    """One bot turn: the lines to say, back to back, without a gap.

    A whole turn travels in one frame so the synthesiser can plan it (see
    ``tts``). A line with ``interruptible=False`` is a disclosure that must be
    heard whole: the caller's barge-in is ignored while it plays.
    """

    lines: tuple[Line, ...] = ()


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
    stt_seconds: float = 0.0
    secrets: tuple[str, ...] = ()  # kinds of secret that were redacted from ``text``
    partial: bool = False  # heard while the caller is still talking (only sent for secrets)


@dataclass
class RecognitionHintsFrame(SystemFrame):
    """Sent upstream by the policy: what answers the current question expects."""

    hotwords: str = ""
    initial_prompt: str = ""


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
