"""The arq worker that ``voicebot worker`` runs; start as many processes as needed.

Jobs are taken from one Redis queue, so several processes share the load; arq
starts each job in one process only, and the SQL ledger makes even a job run
twice harmless. The sweep is an arq cron job: every process schedules it, arq
runs each tick once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from arq.cron import cron
from arq.worker import Worker, func

from voicebot import redis_client
from voicebot.config import Settings
from voicebot.dialer import jobs
from voicebot.dialer.carrier import Dialer
from voicebot.dialer.queue import CALL_ENDED, DIAL, DialQueue, queue_name

JOB_TIMEOUT_S = 120  # longer than any carrier request


async def _dial(ctx: dict[str, Any], callback_id: str) -> str:
    return await jobs.dial(ctx["runtime"], callback_id)


async def _call_ended(ctx: dict[str, Any], call_id: str, status: str, check: int = 0) -> str:
    return await jobs.call_ended(ctx["runtime"], call_id, status, check)


async def _sweep(ctx: dict[str, Any]) -> dict[str, int]:
    return await jobs.sweep(ctx["runtime"])


def redis_settings(settings: Settings) -> RedisSettings:
    """arq's connection, with the retries every other client has (``voicebot.redis_client``)."""
    base = RedisSettings.from_dsn(settings.redis_url.get_secret_value())
    base.retry = redis_client.retry_policy()
    base.retry_on_error = list(redis_client.RETRY_ON)
    base.conn_retries = 30  # at start-up: wait for a Redis that is still starting
    return base


def build_worker(
    settings: Settings,
    *,
    dialer: Dialer | None = None,
    burst: bool = False,
    handle_signals: bool | None = None,
) -> Worker:
    """An arq worker for this deployment's queue; ``burst`` stops it once the queue is empty.

    ``handle_signals`` (default: unless ``burst``) lets SIGINT/SIGTERM stop it
    gracefully; a worker inside another program leaves the signals to it.
    """

    async def startup(ctx: dict[str, Any]) -> None:
        redis: ArqRedis = ctx["redis"]
        queue = DialQueue(redis, settings.redis_prefix, queue_name(settings))
        runtime = jobs.Runtime.create(settings, dialer=dialer, queue=queue)
        await asyncio.to_thread(runtime.db.create_tables)  # as the server does: idempotent
        ctx["runtime"] = runtime

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "runtime" in ctx:
            await ctx["runtime"].close()

    every = settings.dial_sweep_every_s
    return Worker(
        functions=[func(_dial, name=DIAL), func(_call_ended, name=CALL_ENDED)],
        cron_jobs=[
            cron(
                _sweep,
                name=f"{settings.redis_prefix}:sweep",  # arq's cron job ids derive from it
                second=set(range(0, 60, every)),
                run_at_startup=True,
                timeout=JOB_TIMEOUT_S,
            )
        ],
        redis_settings=redis_settings(settings),
        queue_name=queue_name(settings),
        on_startup=startup,
        on_shutdown=shutdown,
        keep_result=0,  # a finished job's id must be free for the next look at its callback
        job_timeout=JOB_TIMEOUT_S,
        burst=burst,
        handle_signals=not burst if handle_signals is None else handle_signals,
        poll_delay=0.2,
    )


def run_worker(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; a job cut off is simply run again (the ledger makes it safe)."""
    build_worker(settings).run()
