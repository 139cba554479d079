"""Twilio webhooks and the media stream. Thin: the work lives in the modules they call."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query, Response, WebSocket
from loguru import logger
from twilio.twiml.messaging_response import MessagingResponse

from voicebot import metrics
from voicebot.calls.state import STATUS_RANK
from voicebot.consent.sms import handle_inbound_sms
from voicebot.deps import ServicesDep, TwilioForm
from voicebot.errors import CallNotFoundError, TelephonyError
from voicebot.pipeline.call import run_call
from voicebot.pipeline.session import CallSession
from voicebot.records import calls as call_records
from voicebot.services import Services
from voicebot.telephony import twiml
from voicebot.telephony.media_stream import CLOSE_POLICY_VIOLATION, read_start, require_token

router = APIRouter(prefix="/twilio", tags=["twilio"])

XML = "application/xml"


@router.post("/voice", response_class=Response)
async def voice(form: TwilioForm, services: ServicesDep, call_id: str = Query("")) -> Response:
    """The callee answered: connect the call's audio to our media stream, once per call.

    Twilio signatures carry no timestamp, so a captured webhook stays valid: a
    second one for a call that already got its stream, or that has ended, is
    answered like an unknown call, 200 with ``<Hangup/>`` (Twilio reads any
    other status as an application error), and changes nothing.
    """
    call_sid = form.get("CallSid", "")
    with logger.contextualize(call_id=call_id, call_sid=call_sid):
        return await _connect_stream(form, services, call_id, call_sid)


async def _connect_stream(
    form: dict[str, str], services: Services, call_id: str, call_sid: str
) -> Response:
    """Claim the call's one stream and answer the TwiML that connects it (see ``voice``)."""
    try:
        await services.store.context(call_id)
    except CallNotFoundError:
        # Redis may have restarted empty since the call was dialed: SQL has its record.
        context = await asyncio.to_thread(call_records.open_call_context, services.db, call_id)
        if context is None:
            logger.warning(f"voice webhook for unknown call {call_id!r} ({call_sid}): hanging up")
            return Response(twiml.hang_up(), media_type=XML)
        logger.warning(f"{call_id}: live state lost (Redis restarted?); restored from SQL")
        await services.store.register(context, call_id)
    claim = await services.store.claim_stream(call_id)
    if claim != "claimed":
        why = {"streamed": "already has its stream", "ended": "has ended"}.get(claim, "is gone")
        logger.warning(f"voice webhook again for {call_id} ({call_sid}), which {why}: no stream")
        return Response(twiml.hang_up(), media_type=XML)
    await services.store.bind_call_sid(call_id, call_sid)
    await services.store.apply_status(call_id, "in-progress", -1)
    await asyncio.to_thread(call_records.attach_call_sid, services.db, call_id, call_sid)
    token = await services.store.issue_stream_token(call_sid, services.settings.stream_token_ttl_s)
    params = {"token": token, "call_id": call_id}
    if form.get("AnsweredBy"):
        params["answered_by"] = form["AnsweredBy"]
    return Response(
        twiml.connect_stream(services.settings.media_stream_url, params), media_type=XML
    )


@router.post("/status", status_code=204)
async def status(form: TwilioForm, services: ServicesDep, call_id: str = Query("")) -> Response:
    """Call progress. Callbacks come out of order and twice: state only moves forward."""
    call_status = form.get("CallStatus", "")
    sequence = int(form.get("SequenceNumber") or 0)
    call_sid = form.get("CallSid", "")
    if not call_id:
        try:
            call_id = await services.store.call_id_for(call_sid)
        except CallNotFoundError:
            return Response(status_code=204)  # not ours; acknowledging stops retries
    with logger.contextualize(call_id=call_id, call_sid=call_sid):
        await _apply_status(services, call_id, call_status, sequence)
    return Response(status_code=204)


async def _apply_status(services: Services, call_id: str, call_status: str, sequence: int) -> None:
    """Move the call forward in Redis and SQL, and tell the dialer when it has ended."""
    metrics.CALL_STATUS.labels(status=call_status if call_status in STATUS_RANK else "other").inc()
    applied = await services.store.apply_status(call_id, call_status, sequence)
    rank = STATUS_RANK.get(call_status)
    if rank is not None:
        await asyncio.to_thread(call_records.apply_status, services.db, call_id, call_status, rank)
    await services.dial_queue.call_status(services.store, call_id, call_status)
    logger.debug(f"{call_id}: status {call_status} #{sequence} {'applied' if applied else 'stale'}")


@router.post("/sms", response_class=Response)
async def sms(form: TwilioForm, services: ServicesDep) -> Response:
    """An inbound text: STOP and its synonyms opt the sender out. We never reply by SMS."""
    sender = form.get("From", "")
    if await asyncio.to_thread(
        handle_inbound_sms, services.db, sender=sender, body=form.get("Body", "")
    ):
        logger.info(f"SMS opt-out stored ({form.get('MessageSid', '')})")
    return Response(str(MessagingResponse()), media_type=XML)


@router.websocket("/media-stream")
async def media_stream(websocket: WebSocket, services: ServicesDep) -> None:
    """Twilio Media Streams: authenticate the stream, then run the call's pipeline."""
    await websocket.accept()
    try:
        start = await read_start(websocket)
        token = require_token(start)
        if not await services.store.redeem_stream_token(token, start.call_sid):
            raise TelephonyError("stream token is wrong, used, or for another call")
        call_id = await services.store.call_id_for(start.call_sid)
        context = await services.store.context(call_id)
    except (TelephonyError, CallNotFoundError) as e:
        logger.warning(f"media stream refused: {e}")
        await websocket.close(code=CLOSE_POLICY_VIOLATION, reason="stream refused")
        return
    session = CallSession(
        call_id=call_id,
        call_sid=start.call_sid,
        stream_sid=start.stream_sid,
        context=context,
        answered_by=start.parameters.get("answered_by", ""),
    )
    # Everything the call logs, the pipeline's tasks and threads included (they copy
    # the context they start in), carries its ids.
    with logger.contextualize(call_id=call_id, call_sid=start.call_sid):
        logger.info(f"{call_id}: media stream {start.stream_sid} started for {start.call_sid}")
        await run_call(websocket, session, services)
