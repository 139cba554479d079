"""All configuration, read from the environment in one place.

Only this module reads environment variables. Outside development mode the
settings refuse insecure defaults (no Twilio auth token, no public URL), so a
misconfigured production server fails at start-up instead of accepting forged
webhooks.

Secrets are ``SecretStr``: the Twilio auth token, the webhook signing secret,
the LLM key, the metrics token, and the Redis and database URLs, which carry a
password when the server needs one (``postgresql://user:password@host/db``).
Their repr, ``str`` and JSON dump are ``**********``, so no repr of the
settings, log line or error page prints them; the code that uses one calls
``get_secret_value()`` (or ``reveal``) at that point and nowhere earlier, and
validation errors never echo the input (``hide_input_in_errors``). Not secret:
the API key hashes (SHA-256 of 256-bit random keys: a hash cannot be turned back
into a key, and reading which client has which hash helps an operator) and the
webhook URLs (they are stored with each outbox row; put no credential in them,
the signing secret is what proves a request is ours).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voicebot.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


Role = Literal["backend", "supervisor", "product"]
"""Who an API client is: the wallet's backend, a supervisor, the product team."""

LogFormat = Literal["text", "json"]
"""``text`` for people; ``json``: one JSON object per line, for a log shipper."""


def reveal(value: SecretStr | str) -> str:
    """A secret's text, where it is used (a plain string passes through, for callers' URLs)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _alias(name: str) -> AliasChoices:
    """Accept both the well-known name (``REDIS_URL``) and the prefixed one."""
    return AliasChoices(name, f"VOICEBOT_{name}")


class Settings(BaseSettings):
    """Process-wide settings; see README "Configuration" for each variable."""

    model_config = SettingsConfigDict(
        env_prefix="VOICEBOT_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a refused value may be a secret: never echo it
    )

    env: Literal["development", "production"] = "development"

    # Telephony (Twilio). The auth token signs every webhook; the public base URL
    # is what Twilio used to reach us, so signatures are checked against it and
    # never against the Host header.
    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000", validation_alias=_alias("TWILIO_ACCOUNT_SID")
    )
    twilio_auth_token: SecretStr = Field(
        default=SecretStr(""), validation_alias=_alias("TWILIO_AUTH_TOKEN")
    )
    # Where the REST client places calls: empty is the real Twilio; the phone
    # simulator's REST API (voicebot/simulator/rest.py) in tests and campaigns.
    twilio_api_base_url: str = Field(default="", validation_alias=_alias("TWILIO_API_BASE_URL"))
    public_base_url: str = Field(
        default="http://127.0.0.1:8000", validation_alias=_alias("PUBLIC_BASE_URL")
    )
    stream_token_ttl_s: int = 120
    ws_max_message_bytes: int = 64 * 1024

    # State and records.
    redis_url: SecretStr = Field(
        default=SecretStr("redis://127.0.0.1:6379/0"), validation_alias=_alias("REDIS_URL")
    )
    redis_prefix: str = "voicebot"
    database_url: SecretStr = Field(
        default=SecretStr(f"sqlite:///{REPO_ROOT / 'voicebot.db'}"),
        validation_alias=_alias("DATABASE_URL"),
    )

    # The business the bot speaks for.
    business_name: str = "Nova Wallet"
    callback_number: str = "+18005550199"

    # Data folders (flows and what the bot says).
    dialogs_dir: Path = REPO_ROOT / "dialogs"
    prompts_dir: Path = REPO_ROOT / "prompts"

    # Speech models: bundled packages, loaded by path. Empty means "the packaged one".
    whisper_model_dir: str = ""
    # Two one-thread workers: on 2 cores greedy decoding is ~2x faster on one
    # thread than on two, and two recognitions can run side by side
    # (``voicebot.pipeline.stt.WhisperSlots``).
    whisper_threads: int = 1
    whisper_workers: int = 2
    piper_voice_path: str = ""

    # Turn-taking.
    # "stock": pipecat's own VAD/Whisper/Piper services, the benchmark's baseline.
    pipeline: Literal["voicebot", "stock"] = "voicebot"
    vad_stop_secs: float = 0.5
    # Recognition starts after this much quiet, before the VAD is sure (0: off);
    # 0.03 is the VAD's first quiet window.
    speculate_after_s: float = Field(default=0.03, ge=0)
    # A turn's words not recognised this long after the VAD ended it (Whisper raised
    # or hung): the caller hears an apology and the call goes to a person. With the
    # VAD's 0.5 s, the apology starts within ~1.8 s of the caller's last word, under
    # the 2 s of silence allowed; a recognition takes ~0.15 s (p95 under 0.5 s with
    # 8 calls at once), so only a broken one gets here.
    recognition_timeout_s: float = Field(default=1.2, gt=0)
    # Words heard in that pause may end the turn at once, before the VAD is sure:
    # when they fully answer the question, or when the turn model (smart-turn)
    # gives P(finished) >= turn_finished_threshold...
    early_turns: bool = True
    turn_model: bool = True
    turn_finished_threshold: float = Field(default=0.5, ge=0, le=1)
    # ...as long as Whisper is this sure of them, if they mean anything: a less
    # sure guess can differ from the final words ("Banana pancakes." was once
    # "But never pancakes.", 0.51: a "no" to a payment).
    early_turn_min_confidence: float = Field(default=0.75, ge=0, le=1)
    # ...and not before the pause is this long: the suite's callers pause up to
    # 0.3 s after a phrase ("Stop calling me. Take me..."); one-word turns ("Yes,")
    # always wait for the VAD.
    early_turn_after_s: float = Field(default=0.35, ge=0)
    # Speech this long, each 32 ms window scored at least ``vad_confidence`` by Silero,
    # starts a caller turn. pipecat's 0.2 s at 0.7 never hears 7 % of one-word answers
    # ("No.", "Right.") on 10-20 dB lines; 0.1 s at 0.5 (Silero's own threshold)
    # misses about 1 %, with no false start on the lines' noise
    # (``python -m voicebot.bench.vad``, docs/status.md).
    vad_start_secs: float = Field(default=0.1, gt=0)
    vad_confidence: float = Field(default=0.5, gt=0, lt=1)
    # pipecat's default 0.6 misses a short "Yes." on telephone audio; 0.3 does not.
    vad_min_volume: float = 0.3
    silence_timeout_s: float = 7.0
    # A machine that never beeps: leave the message this long after it answered.
    voicemail_wait_s: float = 20.0

    # Optional LLM that helps classify free speech (voicebot/dialog/llm.py); an empty
    # base URL keeps the bot fully offline. The key may come as OPENAI_API_KEY.
    llm_base_url: str = ""
    llm_api_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices("VOICEBOT_LLM_API_KEY", "OPENAI_API_KEY"),
    )
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = 1.5

    # Outcome webhooks to the wallet backend (empty URL: off). Each POST is signed
    # with the secret (HMAC-SHA256) and retried with capped exponential backoff.
    outcome_webhook_url: str = ""
    outcome_webhook_secret: SecretStr = SecretStr("")
    outcome_webhook_timeout_s: float = 5.0
    outcome_retry_max_s: float = 300.0
    outcome_poll_s: float = 2.0

    # Dialing gate (voicebot/consent/gate.py). Calling hours are local [start, end)
    # hours in the callee's zone, per purpose (others get default_calling_hours).
    # Caps count calls to one number in any 24 h / 7 days; one event (a payment)
    # gets at most event_max_attempts calls, all within event_window_days.
    calling_hours: dict[str, tuple[int, int]] = Field(
        default_factory=lambda: {"transaction_confirmation": (8, 21), "feedback": (8, 21)}
    )
    default_calling_hours: tuple[int, int] = (8, 21)
    max_calls_per_day: int = Field(default=3, ge=1)
    max_calls_per_week: int = Field(default=7, ge=1)
    event_max_attempts: int = Field(default=3, ge=1)
    event_window_days: int = Field(default=3, ge=1)
    caller_ids: list[str] = Field(default_factory=lambda: ["+18005550199"])
    dnc_max_age_days: int = Field(default=31, ge=1)

    @field_validator("calling_hours")
    @classmethod
    def _check_calling_hours(cls, value: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """An empty or inverted window would stop all calls silently; fail at start-up."""
        for purpose, (start, end) in value.items():
            if not 0 <= start < end <= 24:
                raise ConfigError(f"CALLING_HOURS[{purpose!r}]: need 0 <= start < end <= 24")
        return value

    @field_validator("default_calling_hours")
    @classmethod
    def _check_default_calling_hours(cls, value: tuple[int, int]) -> tuple[int, int]:
        start, end = value
        if not 0 <= start < end <= 24:
            raise ConfigError("DEFAULT_CALLING_HOURS: need 0 <= start < end <= 24")
        return value

    # API (/v1): client name -> SHA-256 hex of its API key (VOICEBOT_API_KEYS, JSON).
    # Only hashes are configured; none at all means every /v1 request is 401.
    api_keys: dict[str, str] = Field(default_factory=dict)
    # What each client may do (VOICEBOT_API_ROLES, JSON: name -> list of roles).
    # A client not listed is "backend" (the wallet's backend: callbacks, consent).
    api_roles: dict[str, list[Role]] = Field(default_factory=dict)
    # GET /metrics asks for "Authorization: Bearer <this>" when set (Prometheus'
    # bearer_token); empty: open, for a monitoring network of its own.
    metrics_token: SecretStr = SecretStr("")

    @field_validator("api_keys")
    @classmethod
    def _check_api_key_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        """A typo in a hash would lock a client out silently; fail at start-up instead."""
        checked: dict[str, str] = {}
        for name, digest in value.items():
            if not name or len(name) > 64:
                raise ConfigError(f"API_KEYS: client name {name!r} must be 1-64 characters")
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ConfigError(
                    f"API_KEYS[{name!r}] must be a SHA-256 hex digest (64 hex digits)"
                )
            checked[name] = digest.lower()
        return checked

    @model_validator(mode="after")
    def _check_api_roles(self) -> Settings:
        """Roles for a client with no key are a typo that would grant nothing; say so."""
        for name, roles in self.api_roles.items():
            if name not in self.api_keys:
                raise ConfigError(f"API_ROLES[{name!r}]: no such client in API_KEYS")
            if not roles:
                raise ConfigError(f"API_ROLES[{name!r}]: give at least one role")
        return self

    def roles_of(self, client: str) -> frozenset[Role]:
        """A client's roles; "backend" unless VOICEBOT_API_ROLES says otherwise."""
        return frozenset(self.api_roles.get(client, ["backend"]))

    # Callbacks API intake: at most this many callbacks queued or being dialed for
    # one number, whichever client asked; one more is answered 429. Without it a
    # flood of requests for one number (new event ids each time) all wait in the
    # queue and ring that person again and again, day after day.
    max_open_callbacks_per_number: int = Field(default=3, ge=1)

    # Dialer workers (voicebot/dialer/). A callback gets at most dial_max_attempts
    # placed calls; after a busy/no-answer/failed one the next waits
    # dial_retry_backoff_s[k-1] seconds (the last value repeats), and after the last
    # one the fallback goes out: a POST to fallback_webhook_url if set, else an SMS.
    # Limits are shared by every worker through Redis.
    dial_max_attempts: int = Field(default=3, ge=1)
    dial_retry_backoff_s: list[float] = Field(default_factory=lambda: [120.0, 600.0, 1800.0])
    dial_calls_per_second: float = Field(default=1.0, gt=0)
    dial_max_concurrent: int = Field(default=4, ge=1)
    fallback_sms_text: str = (
        "{business} tried to call you about recent account activity. "
        "Please open the app or call us back at {callback_number}."
    )
    fallback_webhook_url: str = ""
    # A reserved attempt older than this belongs to a dead worker (longer than any
    # Twilio request); one whose call left no trace this long after is taken as lost.
    dial_reserve_timeout_s: float = Field(default=60.0, gt=0)
    dial_unknown_timeout_s: float = Field(default=600.0, gt=0)
    # The sweep (every dial_sweep_every_s, a divisor of 60) re-enqueues queued
    # callbacks untouched for dial_sweep_grace_s that have no pending job.
    dial_sweep_every_s: int = 30
    dial_sweep_grace_s: float = Field(default=30.0, ge=0)
    dial_limit_defer_s: float = Field(default=1.0, gt=0)  # wait when a limit is reached
    # A customer who says "call me back" without a time is called this much later.
    callback_default_delay_s: float = Field(default=3 * 3600.0, gt=0)
    dial_queue_name: str = ""  # empty: "<redis_prefix>:dialer"

    @field_validator("dial_retry_backoff_s")
    @classmethod
    def _check_backoff(cls, value: list[float]) -> list[float]:
        if not value or min(value) < 0:
            raise ConfigError("DIAL_RETRY_BACKOFF_S: need at least one delay, none negative")
        return value

    @field_validator("dial_sweep_every_s")
    @classmethod
    def _check_sweep_every(cls, value: int) -> int:
        if value < 1 or 60 % value:
            raise ConfigError("DIAL_SWEEP_EVERY_S must divide 60 (1, 2, 5, 10, 15, 20, 30, 60)")
        return value

    # Logs (voicebot/logs.py): "text", or "json" lines with the call's ids as fields.
    log_format: LogFormat = "text"

    # Where recordings and reports go.
    output_dir: Path = REPO_ROOT / "out"

    @model_validator(mode="after")
    def _enforce_secure_defaults(self) -> Settings:
        """Refuse to run production without the secrets that make it safe."""
        if self.env == "production":
            missing = [
                name
                for name, value in (
                    ("TWILIO_AUTH_TOKEN", self.twilio_auth_token.get_secret_value()),
                    ("PUBLIC_BASE_URL", self.public_base_url),
                )
                if not value
            ]
            if missing:
                raise ConfigError(f"production mode needs {', '.join(missing)} to be set")
            if not self.public_base_url.startswith("https://"):
                raise ConfigError("PUBLIC_BASE_URL must be https:// in production")
            if self.outcome_webhook_url and not self.outcome_webhook_secret.get_secret_value():
                raise ConfigError("production mode needs OUTCOME_WEBHOOK_SECRET with the URL")
            if self.outcome_webhook_url and not self.outcome_webhook_url.startswith("https://"):
                raise ConfigError("OUTCOME_WEBHOOK_URL must be https:// in production")
        elif not self.twilio_auth_token.get_secret_value():
            # Development without a token: a random one per process keeps signature
            # checks on (fail closed) while the in-process simulator signs with it.
            self.twilio_auth_token = SecretStr(secrets.token_hex(16))
        self.public_base_url = self.public_base_url.rstrip("/")
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """pydantic's copy, with a plain string given for a secret wrapped as one.

        ``model_copy`` does not validate, and tests and tools derive settings
        with it (``update={"database_url": url}``): a secret field must still
        hold a ``SecretStr``, or its first ``get_secret_value()`` would fail.
        """
        if update:
            update = {
                name: SecretStr(value) if name in SECRETS and isinstance(value, str) else value
                for name, value in update.items()
            }
        return super().model_copy(update=update, deep=deep)

    @property
    def media_stream_url(self) -> str:
        """The WebSocket URL Twilio should stream the call audio to."""
        base = self.public_base_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return f"{base}/twilio/media-stream"


SECRETS = frozenset(
    name for name, field in Settings.model_fields.items() if field.annotation is SecretStr
)
"""The settings that are secrets (``SecretStr``)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    try:
        return Settings()
    except ValueError as e:
        raise ConfigError(str(e)) from e
