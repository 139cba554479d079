"""The process's shared services, built once at start-up and handed to routes."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from redis.asyncio import Redis

from voicebot import redis_client
from voicebot.calls.state import CallStore
from voicebot.config import Settings
from voicebot.dialer.queue import DialQueue
from voicebot.dialog.flows import Flow, load_flow
from voicebot.dialog.llm import IntentAssistant
from voicebot.dialog.phrasing import business_values
from voicebot.dialog.prompts import Prompts, load_prompts
from voicebot.health import Health
from voicebot.outcomes.dispatcher import OutcomeDispatcher
from voicebot.pipeline.models import SpeechModels, get_models
from voicebot.pipeline.tts import fixed_pieces
from voicebot.records.db import Database

PURPOSES = ("transaction_confirmation", "feedback")


@dataclass
class Services:
    """Settings, state, records, models and the dialog data, for one process."""

    settings: Settings
    redis: Redis
    store: CallStore
    db: Database
    dial_queue: DialQueue  # jobs for the dialer workers (new callbacks, ended calls)
    prompts: dict[str, Prompts] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    outcomes: OutcomeDispatcher | None = None  # only when an outcome webhook URL is set
    # Optional LLM help for free speech; None unless VOICEBOT_LLM_BASE_URL is set.
    assistant: IntentAssistant | None = None
    health: Health = field(default_factory=Health)  # models loaded? draining? (/readyz)
    _closing: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def create(cls, settings: Settings) -> Services:
        redis = redis_client.connect(settings.redis_url)
        services = cls(
            settings=settings,
            redis=redis,
            store=CallStore(redis, settings.redis_prefix),
            db=Database(settings.database_url),
            dial_queue=DialQueue.from_settings(settings),
            assistant=IntentAssistant.from_settings(settings, settings.prompts_dir),
        )
        if settings.outcome_webhook_url:
            services.outcomes = OutcomeDispatcher(services.db, settings)
        services.load_dialogs()
        return services

    def load_dialogs(self) -> None:
        """Load every locale's prompts and every flow; a broken file fails start-up."""
        for path in sorted(self.settings.prompts_dir.glob("*.yaml")):
            self.prompts[path.stem] = load_prompts(self.settings.prompts_dir, path.stem)
        keys = self.prompts["en-US"].keys()
        for purpose in PURPOSES:
            self.flows[purpose] = load_flow(self.settings.dialogs_dir, purpose, keys)

    @property
    def models(self) -> SpeechModels:
        return get_models(self.settings)

    def warm_phrases(self) -> int:
        """Synthesise every fixed phrase of every locale (blocking); how many were new.

        So that no caller waits for Piper on a phrase every call says; see
        ``PhraseCache``. Stops early if the process is closing.
        """
        values = business_values(
            business_name=self.settings.business_name,
            callback_number=self.settings.callback_number,
        )
        texts = [t for prompts in self.prompts.values() for t in fixed_pieces(prompts, values)]
        models = self.models
        return models.phrases.warm(models.piper, texts, models.pace, stop=self._closing)

    async def close(self) -> None:
        self._closing.set()
        await self.redis.aclose()
        await self.dial_queue.close()
        self.db.engine.dispose()
        if self.assistant is not None:
            await self.assistant.aclose()
