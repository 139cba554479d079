"""``GET /metrics``: Prometheus text, with the figures an operator of a phone bot watches."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PUBLIC_URL
from voicebot import metrics
from voicebot.app import create_app
from voicebot.config import Settings


def test_metrics_are_served_in_prometheus_text(settings: Settings) -> None:
    metrics.observe_turn(
        {"response": 0.61, "end_of_turn": 0.5, "synthesis": 0.05, "recognition": 0.03},
        gaps=1,
        gap_seconds=0.2,
    )
    with TestClient(create_app(settings, preload_models=False), base_url=PUBLIC_URL) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "voicebot_response_latency_seconds_bucket",
        "voicebot_recognition_seconds_count",
        "voicebot_synthesis_first_audio_seconds_count",
        "voicebot_turn_model_seconds_count",
        "voicebot_early_turns_total",
        "voicebot_speech_gaps_total",
        "voicebot_calls_active",
        "voicebot_calls_ended_total",
        "voicebot_call_status_total",
        "voicebot_dial_queue_depth",
    ):
        assert name in text, name
    assert 'voicebot_response_latency_seconds_bucket{le="0.7"}' in text


def test_a_metrics_token_is_required_when_configured(settings: Settings) -> None:
    guarded = settings.model_copy(update={"metrics_token": "s3cret"})
    with TestClient(create_app(guarded, preload_models=False), base_url=PUBLIC_URL) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
