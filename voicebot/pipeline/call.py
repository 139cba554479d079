"""One call's pipeline: Twilio audio in -> VAD -> Whisper -> policy -> Piper -> Twilio.

Built per call from the process's shared models; runs until the bot hangs up or
the caller does; then the call's record is written, whatever happened.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket
from loguru import logger
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.workers.runner import WorkerRunner

from voicebot import metrics
from voicebot.audio import TELEPHONE_RATE
from voicebot.consent.registry import revoke_consent
from voicebot.dialog.engine import DialogEngine
from voicebot.dialog.phrasing import prompt_values
from voicebot.pipeline.beep import BeepDetector
from voicebot.pipeline.policy import DialogPolicy
from voicebot.pipeline.session import CallSession
from voicebot.pipeline.stt import WHISPER_RATE, WhisperTranscriber
from voicebot.pipeline.tts import PiperSpeaker, PlaybackTimeline
from voicebot.pipeline.vad import SharedSileroVADAnalyzer, vad_params
from voicebot.records import calls as call_records
from voicebot.records import opt_outs
from voicebot.services import PURPOSES, Services
from voicebot.telephony.serializer import TwilioSerializer


async def run_call(websocket: WebSocket, session: CallSession, services: Services) -> None:
    """Run the call to its end and store how it ended."""
    settings, models = services.settings, services.models
    prompts = services.prompts.get(session.context.locale) or services.prompts["en-US"]
    engine = DialogEngine(
        flow=services.flows[session.context.purpose],
        prompts=prompts,
        values=prompt_values(
            session.context,
            business_name=settings.business_name,
            callback_number=settings.callback_number,
        ),
        timezone=session.context.customer.timezone,
        reader=models.understanding,
    )
    timeline = PlaybackTimeline()

    async def publish_outcome(s: CallSession) -> None:
        await services.store.set_outcome(s.call_id, s.outcome_record())
        await services.store.publish(s.call_id, {"type": "outcome", **s.outcome_record()})

    async def record_opt_out(s: CallSession) -> None:
        await _store_opt_out(s, services)

    async def publish_event(event: dict[str, Any]) -> None:
        await services.store.publish(session.call_id, event)

    async def on_stream_stop() -> None:
        # Twilio's `stop`: the call is over even if the socket stays open a while;
        # it ends as when the socket closes (_on_hangup below). Only called once
        # the pipeline runs, so `worker` exists by then.
        await worker.cancel(reason="caller hung up")

    transport = FastAPIWebsocketTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=TwilioSerializer(
                session.stream_sid,
                session.call_sid,
                on_stop=on_stream_stop,
                # The benchmark's baseline keeps pipecat's own input resampler.
                streaming_input=settings.pipeline != "stock",
                params=TwilioSerializer.InputParams(auto_hang_up=False),
            ),
        ),
    )
    analyzer = SharedSileroVADAnalyzer(session=models.silero_session, params=vad_params(settings))
    vad = VADProcessor(vad_analyzer=analyzer)
    fallback_text = prompts.render("technical_apology", {})
    apology = await asyncio.to_thread(models.prepared_audio, fallback_text)
    policy = DialogPolicy(
        engine=engine,
        session=session,
        timeline=timeline,
        on_outcome=publish_outcome,
        on_opt_out=record_opt_out,
        on_event=publish_event,
        silence_timeout_s=settings.silence_timeout_s,
        voicemail_wait_s=settings.voicemail_wait_s,
        assistant=services.assistant,
        fallback_text=fallback_text,
        finished_threshold=settings.turn_finished_threshold,
        early_min_confidence=settings.early_turn_min_confidence,
    )
    # Only a machine that is still playing its greeting needs its beep found.
    beep = [BeepDetector()] if session.machine == "start" else []
    transcriber = WhisperTranscriber(
        models.whisper,
        pauses=analyzer if settings.speculate_after_s > 0 else None,
        speculate_after_s=settings.speculate_after_s,
        early_turns=settings.early_turns,
        turn_model=models.turn_session if settings.turn_model else None,
        early_after_s=settings.early_turn_after_s,
        recognition_timeout_s=settings.recognition_timeout_s,
    )
    hearing: list[Any] = [vad, transcriber]
    speaking: list[Any] = [
        PiperSpeaker(models.piper, timeline, models.pace, apology=apology, phrases=models.phrases)
    ]
    if settings.pipeline == "stock":  # the benchmark's baseline (voicebot/bench/stock.py)
        from voicebot.bench.stock import stock_speech_stages

        hearing, speaking = await asyncio.to_thread(stock_speech_stages, settings)
    pipeline = Pipeline([transport.input(), *beep, *hearing, policy, *speaking, transport.output()])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(
            audio_in_sample_rate=WHISPER_RATE, audio_out_sample_rate=TELEPHONE_RATE
        ),
        enable_rtvi=False,
        idle_timeout_secs=None,
    )

    @transport.event_handler("on_client_disconnected")
    async def _on_hangup(_transport: object, _ws: object) -> None:
        logger.info(f"{session.call_sid}: media stream closed by the carrier")
        await worker.cancel(reason="caller hung up")

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    metrics.CALLS_ACTIVE.inc()
    try:
        await runner.run()
    finally:
        metrics.CALLS_ACTIVE.dec()
        if session.outcome is None:
            engine.end_with("hung_up", escalate=False)
            session.conclude(engine)
            await asyncio.shield(publish_outcome(session))
        await asyncio.shield(_store_record(session, services))


async def _store_opt_out(session: CallSession, services: Services, attempts: int = 3) -> None:
    """Store "stop calling me" durably, retrying briefly: an opt-out heard is never dropped.

    If every attempt fails the error reaches the policy, which escalates; the
    call record still ends with outcome ``opted_out``, and so does its webhook.
    """
    scope = session.fields.get("opt_out_scope")
    phone = session.context.customer.phone
    for attempt in range(1, attempts + 1):
        try:
            if scope in PURPOSES:  # "no more surveys": that purpose's consent withdrawn
                await asyncio.to_thread(
                    revoke_consent, services.db, phone, scope, "call", datetime.now(UTC)
                )
            else:
                await asyncio.to_thread(
                    opt_outs.record_opt_out,
                    services.db,
                    phone=phone,
                    call_id=session.call_id,
                    source="call",
                )
            break
        except Exception:
            logger.exception(f"{session.call_id}: storing the opt-out failed ({attempt})")
            if attempt == attempts:
                raise
            await asyncio.sleep(0.2 * attempt)
    await services.store.publish(session.call_id, {"type": "opted_out"})


async def _store_record(session: CallSession, services: Services) -> None:
    outcome = session.outcome or "hung_up"
    try:
        await asyncio.to_thread(
            call_records.finish_call,
            services.db,
            session.call_id,
            outcome=outcome,
            escalated=session.escalated,
            fields=session.fields,
            evidence=session.evidence,
            turns=session.turns,
            failure=session.failure,
            deliver_to=services.settings.outcome_webhook_url or None,
        )
        metrics.CALLS_ENDED.labels(outcome=outcome, escalated=str(session.escalated).lower()).inc()
        if services.outcomes is not None:
            services.outcomes.nudge()
        ended = {"type": "ended", **session.outcome_record(), "outcome": outcome}
        await services.store.publish(session.call_id, ended)
    except Exception:
        logger.exception(f"{session.call_id}: could not store the call record")
        raise
