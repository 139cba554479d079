from __future__ import annotations

import pytest

from voicebot.config import Settings
from voicebot.errors import ConfigError


def test_production_refuses_to_start_without_auth_token() -> None:
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        Settings(env="production", twilio_auth_token="", public_base_url="https://v.example")


def test_production_needs_https_public_url() -> None:
    with pytest.raises(ConfigError, match="https"):
        Settings(env="production", twilio_auth_token="t", public_base_url="http://v.example")


def test_development_without_token_still_checks_signatures() -> None:
    a, b = Settings(twilio_auth_token=""), Settings(twilio_auth_token="")
    token_a, token_b = (
        a.twilio_auth_token.get_secret_value(),
        b.twilio_auth_token.get_secret_value(),
    )
    assert token_a and token_a != token_b


def test_media_stream_url_follows_public_scheme() -> None:
    s = Settings(public_base_url="https://voice.example/")
    assert s.media_stream_url == "wss://voice.example/twilio/media-stream"
