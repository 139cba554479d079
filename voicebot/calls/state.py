"""Live call state in Redis: call contexts, one-time stream tokens, status, outcome.

Redis holds what a running call needs fast and what other processes watch live
(supervisors, the simulator). Durable records go to SQL (``voicebot.records``).

Keys (prefix ``voicebot:`` by default):
    call:{id}            hash: context, call_sid, status, status_rank, outcome,
                         stream_claimed_at (set once: the voice webhook that got the stream), ...
    callsid:{sid}        the call id of a Twilio CallSid
    streamtoken:{sha256} the CallSid a one-time media-stream token was issued for
    events:{id}          pub/sub channel of the call's live events
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Awaitable
from typing import Any, Literal, cast

from redis.asyncio import Redis

from voicebot.calls.context import CallContext
from voicebot.errors import CallNotFoundError

CALL_TTL_S = 7 * 24 * 3600

# Twilio call statuses in the order a call moves through them. All the final
# ones share the top rank: once a call has ended, nothing moves it again.
STATUS_RANK = {
    "queued": 0,
    "initiated": 1,
    "ringing": 2,
    "in-progress": 3,
    "answered": 3,
    "completed": 4,
    "busy": 4,
    "no-answer": 4,
    "failed": 4,
    "canceled": 4,
}

# Applies a status only if it moves the call forward; callbacks arrive out of
# order and more than once. Returns 1 when applied.
_FORWARD_ONLY = """
local current = tonumber(redis.call('HGET', KEYS[1], 'status_rank') or '-1')
if tonumber(ARGV[2]) > current then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'status_rank', ARGV[2],
             'status_seq', ARGV[3], 'status_at', ARGV[4])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""

FINAL_RANK = max(STATUS_RANK.values())  # completed, busy, no-answer, ...: the call is over

# The voice webhook's one stream per call. Twilio signatures carry no timestamp,
# so a captured voice webhook stays valid forever: only the first one for a call
# that has not ended gets a stream. Atomic, so racing webhooks get one between them.
_CLAIM_STREAM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unknown' end
if redis.call('HEXISTS', KEYS[1], 'outcome') == 1 then return 'ended' end
local rank = tonumber(redis.call('HGET', KEYS[1], 'status_rank') or '-1')
if rank >= tonumber(ARGV[1]) then return 'ended' end
if redis.call('HSETNX', KEYS[1], 'stream_claimed_at', ARGV[2]) == 0 then return 'streamed' end
return 'claimed'
"""

# The first outcome of a call is its outcome: a later one (a second session on
# the same call) never replaces it. Returns 1 when stored.
_SET_OUTCOME_ONCE = """
if redis.call('HSETNX', KEYS[1], 'outcome', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'outcome_record', ARGV[2])
  return 1
end
return 0
"""

StreamClaim = Literal["claimed", "streamed", "ended", "unknown"]


def _token_key_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CallStore:
    """Typed access to the call keys in Redis.

    redis-py 5 (arq needs it below 6) types hash commands as "awaitable or not";
    on the asyncio client they are always awaitables, hence the casts.
    """

    def __init__(self, redis: Redis, prefix: str = "voicebot") -> None:
        self.redis = redis
        self._p = prefix
        self._forward_only = redis.register_script(_FORWARD_ONLY)
        self._claim_stream = redis.register_script(_CLAIM_STREAM)
        self._set_outcome_once = redis.register_script(_SET_OUTCOME_ONCE)

    def _k(self, *parts: str) -> str:
        return ":".join((self._p, *parts))

    async def register(self, context: CallContext, call_id: str | None = None) -> str:
        """Record a call about to be dialed; returns its id."""
        call_id = call_id or f"call_{uuid.uuid4().hex[:16]}"
        key = self._k("call", call_id)
        await cast(
            Awaitable[int],
            self.redis.hset(
                key, mapping={"context": context.model_dump_json(), "created_at": time.time()}
            ),
        )
        await self.redis.expire(key, CALL_TTL_S)
        return call_id

    async def context(self, call_id: str) -> CallContext:
        raw = await cast(
            Awaitable[str | None], self.redis.hget(self._k("call", call_id), "context")
        )
        if raw is None:
            raise CallNotFoundError(call_id)
        return CallContext.model_validate_json(raw)

    async def bind_call_sid(self, call_id: str, call_sid: str) -> None:
        """Tie Twilio's CallSid to our call id (at the voice webhook)."""
        await self.redis.set(self._k("callsid", call_sid), call_id, ex=CALL_TTL_S)
        await cast(Awaitable[int], self.redis.hset(self._k("call", call_id), "call_sid", call_sid))

    async def call_id_for(self, call_sid: str) -> str:
        call_id = await self.redis.get(self._k("callsid", call_sid))
        if call_id is None:
            raise CallNotFoundError(call_sid)
        return str(call_id)

    async def claim_stream(self, call_id: str) -> StreamClaim:
        """Whether the voice webhook may connect a stream: ``claimed`` once per call.

        ``streamed``: a webhook already got the call's stream; ``ended``: the
        call has an outcome or a final carrier status; ``unknown``: no such call.
        """
        result = await self._claim_stream(
            keys=[self._k("call", call_id)], args=[FINAL_RANK, time.time()]
        )
        claim = result.decode() if isinstance(result, bytes) else str(result)
        if claim not in ("claimed", "streamed", "ended", "unknown"):
            raise RuntimeError(f"unexpected stream claim {claim!r}")
        return cast(StreamClaim, claim)

    async def issue_stream_token(self, call_sid: str, ttl_s: int) -> str:
        """A one-time token the media stream must present; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        await self.redis.set(
            self._k("streamtoken", _token_key_hash(token)), call_sid, ex=ttl_s, nx=True
        )
        return token

    async def redeem_stream_token(self, token: str, call_sid: str) -> bool:
        """True once for a token issued for ``call_sid``; false ever after."""
        if not token:
            return False
        bound = await self.redis.getdel(self._k("streamtoken", _token_key_hash(token)))
        return bound is not None and secrets.compare_digest(str(bound), call_sid)

    async def apply_status(self, call_id: str, status: str, sequence: int) -> bool:
        """Move the call's carrier status forward; ignore stale or repeated callbacks."""
        rank = STATUS_RANK.get(status)
        if rank is None:
            return False
        applied = await self._forward_only(
            keys=[self._k("call", call_id)],
            args=[status, rank, sequence, time.time(), CALL_TTL_S],
        )
        return bool(applied)

    async def set_outcome(self, call_id: str, record: dict[str, Any]) -> bool:
        """Record the outcome the moment the dialog decides it; the first one stays.

        False (and nothing changed) when the call already has an outcome.
        """
        stored = await self._set_outcome_once(
            keys=[self._k("call", call_id)], args=[record["outcome"], json.dumps(record)]
        )
        return bool(stored)

    async def get(self, call_id: str) -> dict[str, str]:
        data = await cast(Awaitable[dict[str, str]], self.redis.hgetall(self._k("call", call_id)))
        if not data:
            raise CallNotFoundError(call_id)
        return {str(k): str(v) for k, v in data.items()}

    async def publish(self, call_id: str, event: dict[str, Any]) -> None:
        """A live event (turn, state change) for anyone watching the call."""
        await self.redis.publish(self._k("events", call_id), json.dumps(event))
