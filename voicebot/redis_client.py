"""Redis connections that ride out a Redis restart.

Redis holds only what can be rebuilt (call state of live calls, job ids, rate
counters; SQL holds the truth), but a restart must not crash a worker or fail
a webhook either: every command is retried on a lost connection with an
exponential backoff, about 11 s in all, long enough for a restart or a
failover and short enough that a webhook still answers before Twilio gives up.
"""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from voicebot.config import reveal

RETRIES = 10
RETRY_ON = [ConnectionError, TimeoutError, ConnectionResetError, OSError]


def retry_policy() -> Retry:
    return Retry(ExponentialBackoff(cap=2.0, base=0.05), RETRIES)


def retry_options() -> dict[str, Any]:
    """The keyword arguments that give a client or pool the retries above."""
    return {"retry": retry_policy(), "retry_on_error": list(RETRY_ON), "health_check_interval": 15}


def connect(url: SecretStr | str, *, decode_responses: bool = True) -> Redis:
    """A client for ``url`` (it may hold a password); connects lazily, on its first command."""
    client: Redis = Redis.from_url(
        reveal(url), decode_responses=decode_responses, **retry_options()
    )
    return client


def pool(url: SecretStr | str) -> ConnectionPool:
    """A connection pool for clients built on it (arq's ``ArqRedis``)."""
    return ConnectionPool.from_url(reveal(url), **retry_options())
