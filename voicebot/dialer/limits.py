"""Dialing limits shared by every worker process, kept in Redis.

Calls per second: a fixed-window counter (INCR + EXPIRE) on Redis's own clock,
so workers on machines with skewed clocks still share one window. Concurrent
calls: a sorted set of the attempts on the line, added by a Lua script only while
there is room, removed when the call ends. An entry a lost status callback never
removed is dropped after ``ACTIVE_MAX_S``, so a leak cannot stop dialing forever.
A job over a limit is deferred by the caller, never dropped.
"""

from __future__ import annotations

import math
import time
from typing import Any

from redis.asyncio import Redis

ACTIVE_MAX_S = 4 * 3600  # longer than any call

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


class DialLimits:
    """Calls-per-second and concurrent-call limits for one deployment (one key prefix)."""

    def __init__(
        self, redis: Redis, prefix: str, *, calls_per_second: float, max_concurrent: int
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.max_concurrent = max_concurrent
        # A rate below 1/s becomes one call per ceil(1/rate) seconds.
        self.window_s = 1 if calls_per_second >= 1 else math.ceil(1 / calls_per_second)
        self.per_window = max(1, math.floor(calls_per_second * self.window_s))
        self._acquire = redis.register_script(_ACQUIRE)

    @property
    def active_key(self) -> str:
        return f"{self.prefix}:dialer:active"

    async def take_call_slot(self, member: str) -> bool:
        """Count one more call on the line if there is room (again for one member: free)."""
        now = time.time()
        got: Any = await self._acquire(
            keys=[self.active_key], args=[member, self.max_concurrent, now, now - ACTIVE_MAX_S]
        )
        return bool(got)

    async def release_call_slot(self, member: str) -> None:
        await self.redis.zrem(self.active_key, member)

    async def active_calls(self) -> int:
        return int(await self.redis.zcard(self.active_key))

    async def take_rate_token(self) -> float:
        """0 if a call may start now, else the seconds until the next window opens."""
        seconds, micros = await self.redis.time()
        now = seconds + micros / 1e6
        window = int(now // self.window_s)
        key = f"{self.prefix}:dialer:cps:{window}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.window_s + 1)
            count, _ = await pipe.execute()
        if int(count) <= self.per_window:
            return 0.0
        return max(0.01, float((window + 1) * self.window_s - now))
