"""The optional LLM intent helper against a real OpenAI-compatible HTTP server.

A small FastAPI app on a loopback port plays the endpoint, so the real openai
client (HTTP, JSON, timeouts, error statuses) is exercised, not a fake of it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from voicebot.config import REPO_ROOT, Settings
from voicebot.dialog.llm import IntentAssistant, load_intent_prompt, parse_label

QUESTION = "Did you make this payment?"
ALLOWED = ("affirm", "deny", "unsure", "agent", "repeat")
SECRET_WORDS = "hmm let me think about the one at the pharmacy"


@dataclass
class FakeEndpoint:
    """What the server answers next, and every request it received."""

    reply: str = "none"
    status: int = 200
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def _app(endpoint: FakeEndpoint) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> JSONResponse:
        body = await request.json()
        endpoint.requests.append(body)
        endpoint.headers.append(dict(request.headers))
        if endpoint.delay_s:
            await asyncio.sleep(endpoint.delay_s)
        if endpoint.status != 200:
            return JSONResponse({"error": {"message": "boom"}}, status_code=endpoint.status)
        return JSONResponse(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": endpoint.reply},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, FakeEndpoint]]:
    """The endpoint served by uvicorn in a thread on a free loopback port."""
    endpoint = FakeEndpoint()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        _app(endpoint), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "the test LLM server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1", endpoint
    uv.should_exit = True
    thread.join(timeout=5)
    sock.close()


@pytest.fixture
async def assistant(server: tuple[str, FakeEndpoint]) -> AsyncIterator[IntentAssistant]:
    url, endpoint = server
    endpoint.reply, endpoint.status, endpoint.delay_s = "none", 200, 0.0
    endpoint.requests.clear()
    endpoint.headers.clear()
    settings = Settings(llm_base_url=url, llm_api_key="test-key", llm_timeout_s=0.5)
    made = IntentAssistant.from_settings(settings, settings.prompts_dir)
    assert made is not None
    yield made
    await made.aclose()


async def _classify(assistant: IntentAssistant, answer: str = SECRET_WORDS) -> str | None:
    return await assistant.classify(question=QUESTION, answer=answer, allowed=ALLOWED)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("unsure", "unsure"),
        ('"Unsure".', "unsure"),
        ("  AGENT\n", "agent"),
        ('{"intent": "repeat"}', "repeat"),
        ('```json\n{"intent": "Deny"}\n```', "deny"),
    ],
)
async def test_allowed_answer_is_returned(
    server: tuple[str, FakeEndpoint], assistant: IntentAssistant, reply: str, expected: str
) -> None:
    server[1].reply = reply
    assert await _classify(assistant) == expected


@pytest.mark.parametrize(
    "reply",
    [
        "opt_out",  # a real intent, but not one this question allows
        "none",
        "maybe",
        "The caller means affirm.",
        '{"intent": "callback"}',
        '{"label": "affirm"}',
        "{not json",
        "",
    ],
)
async def test_answer_outside_allowed_is_ignored(
    server: tuple[str, FakeEndpoint], assistant: IntentAssistant, reply: str
) -> None:
    server[1].reply = reply
    assert await _classify(assistant) is None


async def test_request_carries_question_allowed_labels_and_temperature_zero(
    server: tuple[str, FakeEndpoint], assistant: IntentAssistant
) -> None:
    server[1].reply = "affirm"
    assert await _classify(assistant, "it was me at the pharmacy") == "affirm"
    (body,) = server[1].requests
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0
    assert 0 < body["max_tokens"] <= 32
    system, user = body["messages"]
    assert system["role"] == "system" and "unsure" in system["content"]
    assert user["role"] == "user"
    assert QUESTION in user["content"] and "it was me at the pharmacy" in user["content"]
    for label in ALLOWED:
        assert label in user["content"]
    assert server[1].headers[0]["authorization"] == "Bearer test-key"


async def test_slow_server_gives_no_answer_quickly(
    server: tuple[str, FakeEndpoint], assistant: IntentAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    server[1].reply, server[1].delay_s = "affirm", 2.0
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="voicebot.dialog.llm"):
        assert await _classify(assistant) is None
    assert time.monotonic() - started < 1.5
    assert "timed out" in caplog.text
    assert "pharmacy" not in caplog.text


async def test_server_error_gives_no_answer(
    server: tuple[str, FakeEndpoint], assistant: IntentAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    server[1].status = 500
    with caplog.at_level(logging.WARNING, logger="voicebot.dialog.llm"):
        assert await _classify(assistant) is None
    assert len(server[1].requests) == 1  # no retries: the caller is waiting
    assert "500" in caplog.text and "pharmacy" not in caplog.text


async def test_unreachable_server_gives_no_answer() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = Settings(llm_base_url=f"http://127.0.0.1:{port}/v1", llm_timeout_s=0.5)
    made = IntentAssistant.from_settings(settings, settings.prompts_dir)
    assert made is not None
    try:
        assert await _classify(made) is None
    finally:
        await made.aclose()


async def test_nothing_to_ask_sends_nothing(
    server: tuple[str, FakeEndpoint], assistant: IntentAssistant
) -> None:
    assert await assistant.classify(question=QUESTION, answer="  ", allowed=ALLOWED) is None
    assert await assistant.classify(question=QUESTION, answer="hm", allowed=()) is None
    assert server[1].requests == []


def test_no_base_url_means_no_assistant() -> None:
    settings = Settings(llm_base_url="")
    assert IntentAssistant.from_settings(settings, settings.prompts_dir) is None


def test_api_key_may_come_as_openai_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICEBOT_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    assert Settings().llm_api_key.get_secret_value() == "sk-from-env"


def test_prompt_file_names_every_intent_and_the_placeholders() -> None:
    prompt = load_intent_prompt(REPO_ROOT / "prompts")
    for intent in ("affirm", "deny", "unsure", "rating", "decline", "comment", "time"):
        assert f"- {intent}:" in prompt.system
    for intent in ("opt_out", "callback", "repeat", "agent", "none"):
        assert f"- {intent}:" in prompt.system
    assert 'never "affirm"' in prompt.system


def test_parse_label_joins_words_so_sentences_never_match() -> None:
    assert parse_label("opt-out") == "opt_out"
    assert parse_label("yes, affirm") == "yes_affirm"
