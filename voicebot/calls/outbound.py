"""Preparing a call before it is dialed: its context in Redis, its record in SQL."""

from __future__ import annotations

import asyncio

from voicebot.calls.context import CallContext
from voicebot.calls.state import CallStore
from voicebot.records import calls as call_records
from voicebot.records.db import Database


async def prepare_call(store: CallStore, db: Database, context: CallContext) -> str:
    """Register a call about to be dialed; returns the id the webhooks will carry."""
    call_id = await store.register(context)
    await asyncio.to_thread(call_records.create_call, db, call_id, context)
    return call_id
