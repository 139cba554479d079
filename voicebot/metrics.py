"""Prometheus metrics of the server process, served at ``GET /metrics``.

What an operator of a phone bot watches: how long callers wait for the bot
(response latency, and its parts: recognition, synthesis to first audio),
gaps in the bot's speech, calls by state and outcome, and the dialer's queue.
Everything here is in-process; the workers' own decisions are in SQL
(``GET /v1/callbacks/{id}``). Buckets are cut around the one-second mark a
caller notices.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 5.0)

RESPONSE_SECONDS = Histogram(
    "voicebot_response_latency_seconds",
    "End of the caller's speech (as the VAD places it) to the bot's first audio sent",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
END_OF_TURN_SECONDS = Histogram(
    "voicebot_end_of_turn_seconds",
    "End of the caller's speech to the moment the turn was taken as ended",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
RECOGNITION_SECONDS = Histogram(
    "voicebot_recognition_seconds",
    "Speech recognition of one caller turn (Whisper)",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
TURN_MODEL_SECONDS = Histogram(
    "voicebot_turn_model_seconds",
    "One end-of-turn prediction (smart-turn) on a caller's pause",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
EARLY_TURNS = Counter(
    "voicebot_early_turns_total",
    "Caller turns answered in a pause, before the VAD's silence was up, by what decided it",
    ["reason"],
    registry=REGISTRY,
)
SYNTHESIS_FIRST_AUDIO_SECONDS = Histogram(
    "voicebot_synthesis_first_audio_seconds",
    "A bot turn handed to synthesis to its first audio sent",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SPEECH_GAPS = Counter(
    "voicebot_speech_gaps_total",
    "Audible gaps inside a bot turn: a piece of speech synthesised after it was due",
    registry=REGISTRY,
)
SPEECH_GAP_SECONDS = Counter(
    "voicebot_speech_gap_seconds_total",
    "Total length of those gaps",
    registry=REGISTRY,
)
CALLS_ACTIVE = Gauge(
    "voicebot_calls_active", "Calls with a media stream open now", registry=REGISTRY
)
CALLS_ENDED = Counter(
    "voicebot_calls_ended_total",
    "Calls ended, by outcome and whether they were escalated",
    ["outcome", "escalated"],
    registry=REGISTRY,
)
CALL_STATUS = Counter(
    "voicebot_call_status_total",
    "Carrier status callbacks received, by status",
    ["status"],
    registry=REGISTRY,
)
MEDIA_MESSAGES_DROPPED = Counter(
    "voicebot_media_messages_dropped_total",
    "Media-stream messages from the carrier dropped as malformed (the call goes on), by reason",
    ["reason"],
    registry=REGISTRY,
)
DIAL_QUEUE_DEPTH = Gauge(
    "voicebot_dial_queue_depth",
    "Dialer jobs waiting or running (read from Redis at scrape time)",
    registry=REGISTRY,
)


def observe_turn(parts: dict[str, float], gaps: int, gap_seconds: float) -> None:
    """One answer's timing (``voicebot.pipeline.policy.turn_parts``)."""
    RESPONSE_SECONDS.observe(parts["response"])
    END_OF_TURN_SECONDS.observe(parts["end_of_turn"])
    SYNTHESIS_FIRST_AUDIO_SECONDS.observe(parts["synthesis"])
    if gaps:
        SPEECH_GAPS.inc(gaps)
        SPEECH_GAP_SECONDS.inc(gap_seconds)


def generate() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return _generate(REGISTRY), CONTENT_TYPE_LATEST
