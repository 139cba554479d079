"""A whole call with outbound network access blocked and model hubs disabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SCENARIOS, TEST_DATABASE_URL, TEST_REDIS_URL

pytestmark = pytest.mark.e2e
GUARD = Path(__file__).parent / "netguard"


def offline_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HTTP", "HTTPS", "ALL_PROXY"))}
    env |= {
        "PYTHONPATH": str(GUARD),
        "NETGUARD_LOG": str(tmp_path / "netguard.log"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "empty-hf-home"),  # no cached hub files to fall back on
        "XDG_CACHE_HOME": str(tmp_path / "empty-cache"),
        "DATABASE_URL": TEST_DATABASE_URL,
        "REDIS_URL": TEST_REDIS_URL,
        "VOICEBOT_REDIS_PREFIX": "voicebot-test-offline",
    }
    return env


def test_the_guard_really_blocks(tmp_path: Path) -> None:
    """Without this, the offline test below could pass with the network wide open."""
    code = "import socket; socket.create_connection(('93.184.216.34', 80), timeout=2)"
    run = subprocess.run(
        [sys.executable, "-c", code],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0 and "netguard" in run.stderr


def test_a_whole_call_runs_offline(tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicebot",
            "simulate",
            str(SCENARIOS / "confirm-yes.yaml"),
            "--json",
            "--out",
            str(tmp_path),
        ],
        env=offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["passed"] and result["outcome"] == "confirmed"
    log = tmp_path / "netguard.log"
    assert not log.exists(), f"network access attempted: {log.read_text()}"
