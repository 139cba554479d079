"""The dialer's job queue: arq on the Redis we already run.

Jobs only say *when to look again*; SQL says what is true. Losing every job
(a Redis restart or flush) loses nothing: the sweep finds queued callbacks with
no pending job and enqueues them again.

Job ids (arq refuses a second job under an id that is pending or running):
    <prefix>:dial:<callback_id>:<due unix ms>   look at a callback at that moment;
        two chains that compute the same moment (a gate's retry_at, a backoff)
        merge into one job
    <prefix>:ended:<call_id>:<check>           a call ended; repeated status callbacks merge
arq's own keys (``arq:job:<id>`` ...) carry the id, so the prefix keeps
deployments (and test runs) sharing one Redis apart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from arq.connections import ArqRedis
from loguru import logger
from redis.exceptions import RedisError

from voicebot import redis_client
from voicebot.calls.state import STATUS_RANK, CallStore
from voicebot.config import Settings
from voicebot.errors import CallNotFoundError

FINAL_RANK = STATUS_RANK["completed"]
DIAL = "dial"
CALL_ENDED = "call_ended"


def queue_name(settings: Settings) -> str:
    return settings.dial_queue_name or f"{settings.redis_prefix}:dialer"


class DialQueue:
    """Enqueues the dialer's jobs; one per process, sharing a connection pool."""

    def __init__(self, redis: ArqRedis, prefix: str, name: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.name = name

    @classmethod
    def from_settings(cls, settings: Settings) -> DialQueue:
        """Connects lazily, so building it never fails and never waits."""
        pool = redis_client.pool(settings.redis_url)
        return cls(ArqRedis(pool), settings.redis_prefix, queue_name(settings))

    async def close(self) -> None:
        await self.redis.aclose(close_connection_pool=True)

    def dial_prefix(self, callback_id: str = "") -> str:
        return f"{self.prefix}:dial:{callback_id}"

    async def enqueue_dial(self, callback_id: str, at: datetime | None = None) -> bool:
        """Look at this callback at ``at`` (now if None or past); False: that job exists."""
        now = datetime.now(UTC)
        due = max(at, now) if at is not None else now
        due_ms = int(due.timestamp() * 1000)
        job = await self.redis.enqueue_job(
            DIAL,
            callback_id,
            _job_id=f"{self.dial_prefix(callback_id)}:{due_ms}",
            _queue_name=self.name,
            _defer_until=due if due > now else None,
            _expires=None,
        )
        return job is not None

    async def enqueue_call_ended(
        self, call_id: str, status: str, *, check: int = 0, defer_s: float = 0
    ) -> bool:
        """A call reached a final carrier status; ``check`` counts waits for its outcome."""
        job = await self.redis.enqueue_job(
            CALL_ENDED,
            call_id,
            status,
            check,
            _job_id=f"{self.prefix}:ended:{call_id}:{check}",
            _queue_name=self.name,
            _defer_by=defer_s or None,
        )
        return job is not None

    async def new_callback(self, callback_id: str, earliest_at: datetime | None) -> None:
        """Best effort: SQL already holds the callback, and the sweep finds it if this fails."""
        try:
            await self.enqueue_dial(callback_id, at=earliest_at)
        except RedisError as e:
            logger.warning(f"{callback_id}: not enqueued ({e}); the sweep will pick it up")

    async def call_status(self, store: CallStore, call_id: str, status: str) -> None:
        """A status callback: a final status of a dialer's call moves its callback on.

        Best effort like ``new_callback``: the sweep reads the same status from SQL.
        """
        if STATUS_RANK.get(status) != FINAL_RANK:
            return
        try:
            if "callback_id" not in (await store.context(call_id)).metadata:
                return  # not a callback's call (the simulator's, a test's)
            await self.enqueue_call_ended(call_id, status)
        except CallNotFoundError:
            return
        except RedisError as e:
            logger.warning(f"{call_id}: call end not enqueued ({e}); the sweep will settle it")

    async def pending_dials(self) -> set[str]:
        """Callback ids with a dial job waiting or running (a job stays queued while it runs)."""
        head = self.dial_prefix()
        found: set[str] = set()
        for raw in await self.redis.zrange(self.name, 0, -1):
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if job_id.startswith(head):
                found.add(job_id[len(head) :].rsplit(":", 1)[0])
        return found
