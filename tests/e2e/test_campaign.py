"""Whole campaigns: callbacks API -> consent gate -> arq workers -> Twilio REST -> real calls.

The real server with the models, PostgreSQL (a schema of its own), Redis, two
workers, and the simulator's Twilio REST side ringing each callback's person.
The second test runs on a Redis server of its own and kills it midway.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.outcomes.helpers import isolated_schema
from voicebot.config import Settings
from voicebot.simulator.campaign import (
    Campaign,
    CampaignEntry,
    CampaignRun,
    default_campaign_path,
    load_campaign,
)
from voicebot.simulator.runner import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def database_url(settings: Settings) -> Iterator[str]:
    with isolated_schema(settings.database_url) as url:
        yield url


def print_progress(line: str) -> None:
    print(line, flush=True)


async def test_the_demo_campaign_ends_as_every_entry_expects(
    settings: Settings, database_url: str
) -> None:
    campaign = load_campaign(default_campaign_path())
    run = CampaignRun(
        settings.model_copy(update={"database_url": database_url}),
        campaign,
        on_progress=print_progress,
    )
    report = await run.run()
    print(report.table())
    assert report.passed, report.table()
    # Exactly one call per attempt: busy-then-answered twice, four others once, refusals never.
    assert report.calls_placed == sum(e.expect.attempts or 0 for e in campaign.callbacks) - 1
    labels = {e.label for e in report.entries}
    assert labels == {e.label for e in campaign.callbacks}


class RedisServer:
    """A Redis of our own on a free port, keeping nothing on disk (like the one CI runs)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (README: Services)"
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                subprocess.run(
                    ["redis-cli", "-p", str(self.port), "ping"],
                    check=True,
                    capture_output=True,
                    timeout=2,
                )
                return
            except subprocess.CalledProcessError:
                continue
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def restart_campaign() -> Campaign:
    """On the line, waiting for a retry, waiting for its time, refused: when Redis dies."""
    base = load_campaign(default_campaign_path())
    by_label = {e.label: e for e in base.callbacks}
    delayed = 12.0  # due after the restart: their jobs die with Redis

    def entry(label: str, **changes: object) -> CampaignEntry:
        return by_label[label].model_copy(update=changes)

    return Campaign(
        callbacks=[
            entry("confirms"),
            entry("busy, then answers"),
            entry("feedback, consented", earliest_in_s=delayed),
            entry("opted out by SMS", earliest_in_s=delayed),
            entry("outside calling hours"),
        ]
    )


async def test_redis_restarted_mid_campaign_loses_no_callback_and_no_consent(
    settings: Settings, database_url: str, own_redis: RedisServer
) -> None:
    killed_at: list[str] = []

    async def restart_redis(run: CampaignRun) -> None:
        """Once a call is on the line and the busy one waits for its retry: kill, restart."""
        busy = "busy, then answers"

        def ready() -> bool:
            confirms = run.results["confirms"]
            return run.results[busy].attempts == ["busy"] and confirms.state == "dialing"

        while not ready():  # noqa: ASYNC110 (the run refreshes its results from SQL)
            await asyncio.sleep(0.1)
        own_redis.kill()
        killed_at.append(str({k: r.state for k, r in run.results.items()}))
        print_progress(f"redis killed: {killed_at[0]}")
        await asyncio.sleep(1.0)
        own_redis.start()
        print_progress("redis restarted, empty")

    run = CampaignRun(
        settings.model_copy(update={"database_url": database_url, "redis_url": own_redis.url}),
        restart_campaign(),
        on_progress=print_progress,
    )
    report = await run.run(hook=restart_redis)
    print(report.table())
    assert killed_at, "the restart never happened"
    assert report.passed, report.table()
