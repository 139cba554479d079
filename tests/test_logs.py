"""Logs as JSON lines (VOICEBOT_LOG_FORMAT=json): loguru and the standard library alike,
with the call's ids bound by the telephony routes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loguru import logger

from tests.telephony.helpers import new_call_sid, register_call, signed_post
from voicebot import cli
from voicebot.config import Settings, get_settings
from voicebot.logs import configure_logging


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """JSON logging into a buffer for one test; loguru's default and no interception after."""
    stream = io.StringIO()
    configure_logging(level="DEBUG", log_format="json", stream=stream)
    yield stream
    logger.remove()
    logger.add(sys.stderr)
    logging.basicConfig(handlers=[], level=logging.WARNING, force=True)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written, each parsed as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().log_format == "text"
    monkeypatch.setenv("VOICEBOT_LOG_FORMAT", "json")
    assert Settings().log_format == "json"


async def test_loguru_and_stdlib_lines_are_json_with_the_bound_ids_in_tasks_and_threads(
    json_logs: io.StringIO,
) -> None:
    library = logging.getLogger("some.library")

    async def in_a_task() -> None:
        logger.info("from a task the call started")

    with logger.contextualize(call_id="call_1", call_sid="CA1"):
        logger.warning("from loguru")
        library.warning("from the standard library: %s", "formatted")
        await asyncio.create_task(in_a_task())
        await asyncio.to_thread(library.error, "from a thread")
    logger.info("after the call")

    got = [g for g in lines(json_logs) if g["message"].startswith(("from ", "after "))]
    assert [g["message"] for g in got] == [
        "from loguru",
        "from the standard library: formatted",
        "from a task the call started",
        "from a thread",
        "after the call",
    ]
    for line in got[:4]:
        assert (line["call_id"], line["call_sid"]) == ("call_1", "CA1"), line
    assert "call_id" not in got[4]
    assert (got[0]["logger"], got[1]["logger"]) == (__name__, "some.library")
    assert (
        got[1]["function"]
        == "test_loguru_and_stdlib_lines_are_json_with_the_bound_ids_in_tasks_and_threads"
    )
    assert {"time", "level", "function", "line"} <= set(got[0])
    assert got[0]["level"] == "WARNING" and got[0]["time"].endswith("+00:00")


def test_an_exception_is_one_line_with_its_type_and_traceback(json_logs: io.StringIO) -> None:
    try:
        raise ValueError("no\nnewline escapes the line")
    except ValueError:
        logger.exception("it failed")
    [line] = json_logs.getvalue().splitlines()
    error = json.loads(line)["exception"]
    assert error["type"] == "ValueError" and "raise ValueError" in error["traceback"]


def test_a_bound_field_never_replaces_the_records_own(json_logs: io.StringIO) -> None:
    logger.bind(message="spoofed", level="DEBUG").warning("real")
    [line] = lines(json_logs)
    assert (line["message"], line["level"], line["extra_message"]) == ("real", "WARNING", "spoofed")


def test_the_voice_webhook_logs_with_the_call_id_and_call_sid_bound(
    client: TestClient, json_logs: io.StringIO
) -> None:
    call_id, call_sid = register_call(client), new_call_sid()
    params = {"CallSid": call_sid, "CallStatus": "in-progress"}
    for _ in range(2):  # the replay is refused, with a warning
        signed_post(client, f"/twilio/voice?call_id={call_id}", params)
    [warning] = [g for g in lines(json_logs) if "voice webhook again" in g["message"]]
    assert (warning["call_id"], warning["call_sid"]) == (call_id, call_sid)
    assert warning["level"] == "WARNING"


def test_the_cli_switches_to_json_from_the_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VOICEBOT_LOG_FORMAT", "json")
    get_settings.cache_clear()
    try:
        assert cli.main(["--log-level", "INFO", "api-key", "wallet"]) == 0
        capsys.readouterr()
        logging.getLogger("some.library").info("a library's line")
        logger.info("ours")
        got = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert [g["message"] for g in got] == ["a library's line", "ours"]
    finally:
        get_settings.cache_clear()
        logger.remove()
        logger.add(sys.stderr)
        logging.basicConfig(handlers=[], level=logging.WARNING, force=True)


def test_a_worker_keeps_arqs_job_log_at_info_below_a_warning_level(json_logs: io.StringIO) -> None:
    stream = io.StringIO()
    configure_logging(level="WARNING", log_format="json", levels={"arq": "INFO"}, stream=stream)
    logging.getLogger("arq.worker").info("job done")
    logging.getLogger("httpx").info("a request")
    logger.info("ours, below WARNING")
    assert [(g["logger"], g["message"]) for g in lines(stream)] == [("arq.worker", "job done")]
