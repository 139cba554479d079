"""API keys: configured as hashes, checked in constant time, made by ``voicebot api-key``."""

from __future__ import annotations

import json

import pytest

from voicebot.api.auth import client_for_key, hash_key, new_api_key
from voicebot.cli import main
from voicebot.config import Settings
from voicebot.errors import ConfigError


def test_keys_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    digest = hash_key("vbk_secret")
    monkeypatch.setenv("VOICEBOT_API_KEYS", json.dumps({"wallet": digest.upper()}))
    settings = Settings()
    assert settings.api_keys == {"wallet": digest}  # normalised to lower case
    assert client_for_key(settings.api_keys, "vbk_secret") == "wallet"
    assert client_for_key(settings.api_keys, "vbk_other") is None


def test_no_keys_is_allowed_and_the_default() -> None:
    assert Settings().api_keys == {}
    assert client_for_key({}, "") is None


@pytest.mark.parametrize("keys", [{"wallet": "not-a-hash"}, {"wallet": "ab" * 31}, {"": "ab" * 32}])
def test_a_malformed_key_hash_fails_at_start_up(keys: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="API_KEYS"):
        Settings(api_keys=keys)


def test_keys_are_fresh_and_hash_to_the_configured_form() -> None:
    a, b = new_api_key(), new_api_key()
    assert a != b and a.startswith("vbk_") and len(a) > 40
    assert len(hash_key(a)) == 64 and hash_key(a) != a


def test_the_cli_prints_a_key_and_the_line_to_configure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-key", "wallet"]) == 0
    key_line, config_line = capsys.readouterr().out.strip().splitlines()
    key = key_line.rsplit(" ", 1)[1]
    configured = json.loads(config_line.split(": ", 1)[1])
    assert configured == {"wallet": hash_key(key)}
    assert Settings(api_keys=configured).api_keys == configured


def test_roles_come_from_the_environment_and_default_to_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = {"wallet": hash_key("a"), "ops": hash_key("b"), "pm": hash_key("c")}
    monkeypatch.setenv("VOICEBOT_API_KEYS", json.dumps(keys))
    monkeypatch.setenv("VOICEBOT_API_ROLES", json.dumps({"ops": ["supervisor"], "pm": ["product"]}))
    settings = Settings()
    assert settings.roles_of("wallet") == {"backend"}
    assert settings.roles_of("ops") == {"supervisor"}
    assert settings.roles_of("pm") == {"product"}


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ({"nobody": ["product"]}, "no such client"),
        ({"wallet": []}, "at least one role"),
        ({"wallet": ["admin"]}, "backend"),  # pydantic names the roles there are
    ],
)
def test_a_wrong_role_fails_at_start_up(roles: dict[str, list[str]], message: str) -> None:
    with pytest.raises((ConfigError, ValueError), match=message):
        Settings(api_keys={"wallet": hash_key("a")}, api_roles=roles)


def test_the_cli_prints_the_roles_to_configure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["api-key", "ops", "--role", "supervisor", "--role", "product"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    configured = json.loads(lines[1].split(": ", 1)[1])
    roles = json.loads(lines[2].split(": ", 1)[1])
    assert roles == {"ops": ["product", "supervisor"]}
    settings = Settings(api_keys=configured, api_roles=roles)
    assert settings.roles_of("ops") == {"supervisor", "product"}
